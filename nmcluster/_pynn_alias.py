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
