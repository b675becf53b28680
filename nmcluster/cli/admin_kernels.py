"""``nmcluster admin build-kernels``: compile the emulators' kernels at install time.

The step the Spack recipe, a wheel's post-install smoke test or an admin runs once per CPU type
of the site's nodes (plus ``--cpu generic`` once), so that no user's first job compiles
(:mod:`nmcluster.emulators.engine.build`, issue 27): numba's cache and, from it, the
ahead-of-time module that jobs run without importing numba at all
(:mod:`nmcluster.emulators.engine._aot`)."""

from __future__ import annotations

import click


@click.command("build-kernels", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--cache-dir", default=None, metavar="DIR",
              help="Shared cache root to fill (jobs then need NMCLUSTER_KERNEL_CACHE=DIR). "
                   "Default: the installed package's own __pycache__, which jobs always read.")
@click.option("--cpu", type=click.Choice(["host", "generic"]), default="host", show_default=True,
              help="host: this node's CPU type; generic: baseline x86-64 code for node types "
                   "without a build of their own (slower).")
@click.option("--no-aot", is_flag=True,
              help="Only numba's cache: no ahead-of-time module (jobs then import numba, "
                   "~0.2 s and ~100 MB more per job).")
def build_kernels(cache_dir: str | None, cpu: str, no_aot: bool) -> int:
    """Compile every emulator kernel into a cache that all users read (takes a minute or two).

    \b
    Examples:
      nmcluster admin build-kernels                      # into the install (run as its owner)
      nmcluster admin build-kernels --cpu generic        # the fallback for other CPU types
      nmcluster admin build-kernels --cache-dir /opt/nmcluster/kernels   # on each node type
    """
    from nmcluster.emulators.engine.build import build_kernels as build
    from nmcluster.errors import NmclusterError, UserInputError

    try:
        result = build(cache_dir, cpu, aot=not no_aot)
    except ValueError as exc:
        raise UserInputError(str(exc)) from None
    except RuntimeError as exc:
        raise NmclusterError(str(exc)) from None
    where = ", ".join(result.cache_dirs) or "nothing new to write"
    click.echo(f"{result.compiled} kernel(s) compiled, {result.loaded} already built "
               f"(cpu {result.cpu}): {where}")
    if result.aot_dir:
        click.echo(f"ahead-of-time module, {result.aot_exports} signature(s): {result.aot_dir}")
    if result.aot_error:
        click.echo(f"warning: no ahead-of-time module, jobs will import numba "
                   f"({result.aot_error.splitlines()[0]})", err=True)
    return 0
