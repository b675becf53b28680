"""Make ``pyNN.nmcluster.<backend>`` importable without touching PyNN's files.

PyNN scripts select their backend with ``import_module("pyNN." + sys.argv[1])`` and the platform
substitutes ``{system}`` with a backend name, so our emulators must be reachable as
``pyNN.nmcluster.spikey`` etc.  PyNN is a regular package, so we cannot add a subpackage to it by
installing files elsewhere.  Instead a ``.pth`` file (run by ``site`` at interpreter start) installs this
tiny meta-path finder which maps ``pyNN.nmcluster[.X]`` onto ``nmcluster.emulators[.X]``.  It imports
nothing heavy: the cost at interpreter start is one ``sys.meta_path`` insertion.
"""

from __future__ import annotations

import sys

_PREFIX = "pyNN.nmcluster"
_TARGET = "nmcluster.emulators"


class _AliasLoader:
    """Loader protocol by duck typing: subclassing importlib.abc would import importlib.resources at
    every interpreter start (~20 ms), since this module is loaded from a .pth file."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec):  # type: ignore[override]
        return None  # a throw-away module object; exec_module swaps in the real one

    def exec_module(self, module) -> None:
        # The import system re-reads sys.modules after exec_module, so the alias name ends up
        # bound to the very same module object as the real name (one copy, real __name__).
        import importlib

        sys.modules[module.__name__] = importlib.import_module(self.target)


class PyNNAliasFinder:
    """Resolve ``pyNN.nmcluster.*`` to the matching ``nmcluster.emulators.*`` module."""

    def find_spec(self, fullname, path=None, target=None):  # type: ignore[override]
        if fullname != _PREFIX and not fullname.startswith(_PREFIX + "."):
            return None
        import importlib.util

        real = _TARGET + fullname[len(_PREFIX):]
        if importlib.util.find_spec(real) is None:
            return None
        return importlib.util.spec_from_loader(fullname, _AliasLoader(real), is_package=True)


def install() -> None:
    """Register the finder once (idempotent)."""
    if not any(isinstance(f, PyNNAliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, PyNNAliasFinder())  # before PathFinder, or it loads a 2nd copy
    install_compat_names()


def install_compat_names() -> None:
    """The hardware stacks' import names (``pyhmf``, ``pyNN.hardware.spikey`` ...), only where
    ``$NMCLUSTER_COMPAT_NAMES`` opts in (see :mod:`nmcluster._compat_names`; kept apart from the
    ``pyNN.nmcluster`` finder above)."""
    import os

    if os.environ.get("NMCLUSTER_COMPAT_NAMES"):
        from nmcluster import _compat_names

        _compat_names.install()


# --------------------------------------------------------------------------------------------------
# Routes that do not process the .pth file (issue 26).  ``site`` runs .pth files only in site-packages
# directories: not for PYTHONPATH entries (spack load, Spack's Tcl/Lmod modules, site module trees)
# and not at all under ``python -S``.  What covers which set-up:
#   * ``import nmcluster`` installs the finder (nmcluster/__init__.py), so any script or tool that
#     imports nmcluster first gets the names, with or without site;
#   * the wheel installs a real ``pyNN/nmcluster/__init__.py`` (nmcluster/_pynn_portion.py) into the
#     site-packages that holds PyNN: found through PyNN's own ``__path__``, so it works without the
#     .pth, under ``python -S`` with that directory on PYTHONPATH, and in Spack views (symlink
#     trees merge pyNN/ of py-pynn and py-nmcluster).  It only works in the *same* directory as PyNN:
#     pyNN/__init__.py makes PyNN a regular package, whose ``__path__`` is its one directory, so a
#     ``pyNN/nmcluster`` in another PYTHONPATH entry (a separate Spack prefix) is never searched
#     (namespace portions only combine when no entry has an __init__.py; tests/test_pynn_alias_routes.py
#     shows it);
#   * for separate prefixes on PYTHONPATH, :func:`hook_dir` holds a ``sitecustomize.py`` that installs
#     the finder and then runs the site's own sitecustomize; the job runner, the generated
#     modulefiles and the Spack recipe (setup_run_environment) put it on PYTHONPATH.


def hook_dir() -> str:
    """The directory whose ``sitecustomize.py`` installs the finder (for PYTHONPATH set-ups)."""
    import os

    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "pynn_hook")


def pythonpath_with_hook(pythonpath: str | None) -> str:
    """``$PYTHONPATH`` with :func:`hook_dir` first (once), so a child Python gets the names."""
    import os

    hook = hook_dir()
    parts = [p for p in (pythonpath or "").split(os.pathsep) if p and os.path.abspath(p) != hook]
    return os.pathsep.join([hook, *parts])
