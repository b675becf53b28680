"""``nmcluster shell-env``: opt in to the ``nmpi`` compatibility module (and optionally a remote frontend)."""

from __future__ import annotations

import shlex

import click


@click.command("shell-env", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--shell", "shell", type=click.Choice(["sh", "csh", "fish"]), default="sh", show_default=True,
              help="Syntax of the printed lines (sh also serves bash and zsh).")
@click.option("--remote", "remote", metavar="[USER@]HOST[:PORT]", default=None,
              help="Also export NMCLUSTER_HOST, so nmpi.Client() works against that frontend over SSH.")
def shell_env(shell, remote) -> int:
    """Print lines that put nmcluster's ``nmpi`` module first on PYTHONPATH; eval them to opt in.

    Afterwards an unmodified script doing ``import nmpi; c = nmpi.Client("me"); c.submit_job(...)``
    runs its jobs on nmcluster.  Without this, a real ``nmpi`` package (if installed) is untouched.
    It also sets NMCLUSTER_COMPAT_NAMES=all: the hardware software's import names (pyNN.spiNNaker,
    pyNN.hardware.spikey, pyhmf, pymarocco, pylogging) then resolve to the emulators where the real
    software is not installed (never in its place).

    \b
    Examples:
      eval "$(nmcluster shell-env)"
      eval "$(nmcluster shell-env --remote alice@frontend)"    # on a laptop
      eval `nmcluster shell-env --shell csh`
      nmcluster shell-env --shell fish | source
    """
    from nmcluster._compat_names import ENV_VAR as COMPAT_ENV
    from nmcluster.compat import COMPAT_PATH

    path = str(COMPAT_PATH)
    q = shlex.quote
    if shell == "sh":
        click.echo(f'export PYTHONPATH={q(path)}"${{PYTHONPATH:+:$PYTHONPATH}}"')
        click.echo(f"export {COMPAT_ENV}=all")
        if remote:
            click.echo(f"export NMCLUSTER_HOST={q(remote)}")
    elif shell == "csh":
        click.echo(f"if ( $?PYTHONPATH ) then; setenv PYTHONPATH {q(path)}:$PYTHONPATH; "
                   f"else; setenv PYTHONPATH {q(path)}; endif;")
        click.echo(f"setenv {COMPAT_ENV} all;")
        if remote:
            click.echo(f"setenv NMCLUSTER_HOST {q(remote)};")
    else:
        click.echo(f"set -gx PYTHONPATH {q(path)} $PYTHONPATH")
        click.echo(f"set -gx {COMPAT_ENV} all")
        if remote:
            click.echo(f"set -gx NMCLUSTER_HOST {q(remote)}")
    return 0
