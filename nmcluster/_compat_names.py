"""The import names of the hardware's own software stacks, served by the emulators where they are absent.

Scripts written for the platform import their backend by the name the real stack installed:
``import pyNN.spiNNaker as sim`` (sPyNNaker), ``import pyNN.hardware.spikey as pynn`` (the Spikey
software), ``import pyhmf as pynn`` / ``from pymarocco import PyMarocco`` / ``import pylogging`` /
``import Coordinate as C`` / ``import pysthal`` (the BrainScaleS software, "nmpm_software"), and
``import nmpi`` (the platform client).  This module makes those names resolve to nmcluster's emulators
— but only

* where the user or the job opted in: ``$NMCLUSTER_COMPAT_NAMES`` names the platforms
  (``spikey``, ``brainscales``, ``spinnaker``, ``nmpi`` or ``all``, comma separated).  The job runner
  sets it for a job that runs on an emulator (the emulator's platform, plus ``nmpi``); the platform
  modulefiles and ``nmcluster shell-env`` set it for interactive use;
* and never in place of a real installation:

  - top-level names (``pyhmf``, ``pymarocco``, ``pylogging``, ``Coordinate``, ``pysthal``, ``pyhalbe``,
    ``nmpi``) are served by a finder *appended* to ``sys.meta_path``, so it is asked only after the
    regular path finder found nothing anywhere on ``sys.path``;
  - ``pyNN.spiNNaker`` and ``pyNN.hardware`` are files of the PyNN package itself (``pyNN/spiNNaker.py``
    is one line, ``from spynnaker.pyNN import *``; ``pyNN/hardware/__init__.py`` extends its path from
    ``$SYMAP2IC_PATH``/``$PYNN_HW_PATH`` through ``pyNN/hardware/auxiliary.py``: github
    NeuralEnsemble/PyNN ``pyNN/spiNNaker.py``, ``pyNN/hardware/auxiliary.py``), so PyNN's own files
    are always found and fail without the real stack.  For these two the finder sits *before* the
    path finder and steps aside when the real stack is there: ``spynnaker`` importable
    (``importlib.util.find_spec``, which imports nothing), or ``SYMAP2IC_PATH``/``PYNN_HW_PATH`` set.

Each name served is told once on stderr (in a job: the job log), e.g. ``nmcluster: import
pyNN.hardware.spikey -> nmcluster.emulators.spikey.legacy (emulated Spikey; ...)``.

Light by design: it is installed from ``nmcluster_pynn.pth`` at interpreter start when the variable
is set, and imports nothing until a served name is imported.
"""

from __future__ import annotations

import os
import sys

ENV_VAR = "NMCLUSTER_COMPAT_NAMES"
PLATFORMS = ("spikey", "brainscales", "spinnaker", "nmpi")

#: import name -> (platform, target module, what it stands for)
TOP_LEVEL: dict[str, tuple[str, str, str]] = {
    "pyhmf": ("brainscales", "nmcluster.emulators.brainscales.legacy",
              "emulated BrainScaleS wafer, PyNN 0.7 API of pyhmf"),
    "pymarocco": ("brainscales", "nmcluster.emulators.brainscales.pymarocco",
                  "the wafer emulator's mapping configuration"),
    "pylogging": ("brainscales", "nmcluster.emulators.brainscales.pylogging",
                  "log configuration on Python's logging"),
    "Coordinate": ("brainscales", "nmcluster.emulators.brainscales.coordinate",
                   "wafer coordinates"),
    "pysthal": ("brainscales", "nmcluster.emulators.brainscales.pysthal",
                "ESS configuration"),
    "pyhalbe": ("brainscales", "nmcluster.emulators.brainscales.pyhalbe",
                "no low-level HICANN access on the emulator"),
    "nmpi": ("nmpi", "nmcluster.compat.nmpi", "nmcluster's platform client"),
}
#: names inside the PyNN package: import name -> (platform, target, what, real-stack test)
IN_PYNN: dict[str, tuple[str, str, str]] = {
    "pyNN.spiNNaker": ("spinnaker", "nmcluster.emulators.spinnaker",
                       "emulated SpiNNaker; sPyNNaker is not installed"),
    "pyNN.hardware": ("spikey", "", "hardware backends"),
    "pyNN.hardware.spikey": ("spikey", "nmcluster.emulators.spikey.legacy",
                             "emulated Spikey, PyNN 0.7 API of the Spikey software"),
    "pyNN.hardware.stage1": ("spikey", "nmcluster.emulators.spikey.legacy",
                             "emulated Spikey, PyNN 0.7 API of the Spikey software"),
    "pyNN.hardware.brainscales": ("brainscales", "nmcluster.emulators.brainscales.legacy",
                                  "emulated BrainScaleS wafer, PyNN 0.7 API"),
}


def enabled(env: dict[str, str] | os._Environ | None = None) -> frozenset[str]:
    """The platforms whose names are served (from ``$NMCLUSTER_COMPAT_NAMES``)."""
    raw = (os.environ if env is None else env).get(ENV_VAR, "")
    names = {n.strip().lower() for n in raw.replace(":", ",").split(",") if n.strip()}
    if "all" in names:
        return frozenset(PLATFORMS)
    return frozenset(n for n in names if n in PLATFORMS)


def real_stack_present(fullname: str) -> bool:
    """Whether the real software behind a name inside PyNN is installed (then PyNN's file serves)."""
    import importlib.util

    if fullname == "pyNN.spiNNaker":
        try:
            return importlib.util.find_spec("spynnaker") is not None
        except (ImportError, ValueError):
            return False
    # pyNN/hardware/auxiliary.py: the real backends live where these variables point
    return bool(os.environ.get("SYMAP2IC_PATH") or os.environ.get("PYNN_HW_PATH"))


def _tell(name: str, target: str, what: str) -> None:
    print(f"nmcluster: import {name} -> {target or '(package)'} ({what}; "
          f"{ENV_VAR}={os.environ.get(ENV_VAR, '')})", file=sys.stderr, flush=True)


class _Alias:
    """Loader binding an import name to an existing module of nmcluster (one module object)."""

    def __init__(self, target: str, what: str) -> None:
        self.target, self.what = target, what

    def create_module(self, spec):  # type: ignore[no-untyped-def]
        return None

    def exec_module(self, module) -> None:  # type: ignore[no-untyped-def]
        import importlib

        name = module.__name__
        if not self.target:  # pyNN.hardware: an empty package holding the aliases below it
            module.__path__ = []
            return
        real = importlib.import_module(self.target)
        sys.modules[name] = real
        for sub in [k for k in sys.modules if k.startswith(self.target + ".")]:
            sys.modules.setdefault(name + sub[len(self.target):], sys.modules[sub])
        if "." in name:  # bind the attribute on the parent too (import machinery uses the spec's)
            parent, _, child = name.rpartition(".")
            if parent in sys.modules:
                setattr(sys.modules[parent], child, real)
        _tell(name, self.target, self.what)


class _Finder:
    def __init__(self, platforms: frozenset[str], table: dict[str, tuple[str, str, str]],
                 check_real: bool) -> None:
        self.platforms, self.table, self.check_real = platforms, table, check_real

    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        entry = self.table.get(fullname)
        if entry is None or entry[0] not in self.platforms and not (
                fullname == "pyNN.hardware" and self.platforms & {"spikey", "brainscales"}):
            return None
        if self.check_real and real_stack_present(fullname):
            return None
        import importlib.util

        return importlib.util.spec_from_loader(fullname, _Alias(entry[1], entry[2]),
                                               is_package=fullname == "pyNN.hardware")


class EarlyFinder(_Finder):
    """Names inside PyNN (before the path finder, stepping aside for the real stack)."""


class LateFinder(_Finder):
    """Top-level names (after the path finder: a real installation always wins)."""


def install(env: dict[str, str] | os._Environ | None = None) -> frozenset[str]:
    """Register both finders for the platforms the environment opts in to (idempotent)."""
    platforms = enabled(env)
    if not platforms:
        return platforms
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Finder)]
    sys.meta_path.insert(0, EarlyFinder(platforms, IN_PYNN, True))
    sys.meta_path.append(LateFinder(platforms, TOP_LEVEL, False))
    if not getattr(sys.excepthook, "_nmcluster_py2_hint", False):
        sys.excepthook = _py2_hint(sys.excepthook)
    return platforms


def python2_hint(exc: BaseException) -> str | None:
    """What to change in a Python 2 script (the guidebook prints its BrainScaleS examples in
    Python 2; the job runs Python 3), or None when ``exc`` is not such a syntax error."""
    if not isinstance(exc, SyntaxError):
        return None
    text = (exc.text or "").strip()
    msg = str(exc.msg or "")
    if "Missing parentheses in call to 'print'" in msg:
        return "print is a function in Python 3: print(...)"
    if ".None" in text:
        return ("PyMarocco.None / Defects.Backend.None are PyMarocco.Without / "
                "Defects.Backend.Without in Python 3")
    if "xrange" in text or "except " in text and "," in text:
        return "Python 2 syntax; this platform runs Python 3"
    return None


def _py2_hint(hook):  # type: ignore[no-untyped-def]
    def excepthook(etype, value, tb):  # type: ignore[no-untyped-def]
        hook(etype, value, tb)
        hint = python2_hint(value)
        if hint:
            print(f"nmcluster: this looks like a Python 2 script (as the guidebook prints it): "
                  f"{hint}", file=sys.stderr, flush=True)

    excepthook._nmcluster_py2_hint = True  # type: ignore[attr-defined]
    return excepthook


def job_names(backend: str | None, emulated: bool) -> str:
    """The value of ``$NMCLUSTER_COMPAT_NAMES`` for a job whose ``{system}`` is ``backend``: the
    emulator's platform (``nmcluster.spikey`` -> ``spikey``) and ``nmpi``; only ``nmpi`` on hardware."""
    names = ["nmpi"]
    if emulated and backend and backend.startswith("nmcluster."):
        plat = backend.split(".", 1)[1]
        if plat in PLATFORMS:
            names.insert(0, plat)
    return ",".join(names)
