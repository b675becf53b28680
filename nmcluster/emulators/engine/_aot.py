"""Ahead-of-time (AOT) compiled kernels: found, checked and called without importing numba.

Why (issue 27, a job's fixed cost): a job whose kernels come from numba's cache still imports
numba and llvmlite (~140 ms and ~66 MB of RSS: LLVM is mapped) and loads the cached code
(~55 ms), more than half of a one-neuron job.  ``nmcluster admin build-kernels`` therefore also
compiles every kernel signature the engine is called with (those of the build's workload, read
from the dispatchers' ``signatures``, never listed by hand) into a plain CPython extension
module (``numba.pycc``: it needs only numpy at import).  A kernel call (the lazy kernels of
:mod:`._kernel_cache`) looks its argument types up here and runs the AOT function when one was
built for exactly those types; otherwise numba is imported and the JIT/cache path runs as
before.  The AOT functions are the very numba functions of the JIT path (each export calls the
kernel's dispatcher, compiled with its own options) built for the JIT's CPU name and features,
so their results are bit-identical to it (``tests/emulators/test_aot.py``).

Layout of a build (one per CPU type plus ``generic``, next to numba's shared cache):
``<root>/<cpu key>/manifest.json`` and ``<root>/<cpu key>/nmcluster_aot_kernels<ext suffix>``,
``<root>`` being ``<dir>/nmcluster.emulators.engine._aot`` for each directory of
``$NMCLUSTER_KERNEL_CACHE`` and then the install's ``engine/__pycache__/aot``.  The CPU key is a
hash of ``/proc/cpuinfo``'s identity lines (vendor, family, model, flags) and the vector-width
setting, so choosing a build needs no llvmlite; a node whose type has no build uses the generic
build (as numba's cache does, :func:`._kernel_cache.select_cpu`).  A build is used only for the
source files whose content hash it recorded and only with the Python, numpy and numba it was built
for.

Switches: ``NMCLUSTER_KERNEL_AOT=0`` never uses AOT code; ``NMCLUSTER_KERNEL_CPU=host|generic``
uses only that build; ``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES`` (an explicit numba target) use
AOT code only when they ask for the generic CPU; ``NUMBA_DISABLE_JIT=1`` never uses it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as _np

#: name of the extension module (its ``PyInit_`` symbol) and of the manifest next to it
MODULE_NAME = "nmcluster_aot_kernels"
MANIFEST = "manifest.json"
#: sub-directory of a shared cache root that holds the AOT builds
ROOT_NAME = "nmcluster.emulators.engine._aot"
FORMAT = 1
ENV_AOT = "NMCLUSTER_KERNEL_AOT"
ENV_CPU = "NMCLUSTER_KERNEL_CPU"  # same switch as _kernel_cache.ENV_CPU
ENV_SHARED = "NMCLUSTER_KERNEL_CACHE"  # same as _kernel_cache.ENV_SHARED
#: the nmcluster package directory; sources are recorded relative to it
PACKAGE_DIR = Path(__file__).resolve().parents[2]
#: /proc/cpuinfo fields that identify a CPU type (x86: vendor, family, model, flags; Arm:
#: implementer, architecture, variant, part, features)
_CPU_FIELDS = ("vendor_id", "cpu family", "model", "flags", "CPU implementer",
               "CPU architecture", "CPU variant", "CPU part", "Features")


def roots() -> list[Path]:
    """Directories holding AOT builds, searched in this order (``$NMCLUSTER_KERNEL_CACHE``'s
    directories, then the install's own ``__pycache__``, as numba's shared cache)."""
    out = [Path(r) / ROOT_NAME for r in os.environ.get(ENV_SHARED, "").split(os.pathsep)
           if r.strip()]
    out.append(Path(__file__).resolve().parent / "__pycache__" / "aot")
    return out


def cpu_key(cpuinfo: str | None = None) -> str | None:
    """Key of this node's CPU type for the host build, or None when unknown (no
    ``/proc/cpuinfo``): the identity lines of the first processor and the vector-width
    setting (``$NMCLUSTER_VECTOR_WIDTH``, which changes the JIT's target features)."""
    if cpuinfo is None:
        # the first processor's block only: the kernel makes /proc/cpuinfo as it is read, and
        # on a large node the whole file (a clock reading per core) takes milliseconds
        cpuinfo = ""
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                while "\n\n" not in cpuinfo:
                    chunk = f.read(4096)
                    if not chunk:
                        break
                    cpuinfo += chunk
        except OSError:
            return None
    fields: dict[str, str] = {}
    for line in cpuinfo.split("\n\n", 1)[0].splitlines():
        name, sep, value = line.partition(":")
        name = name.strip()
        if sep and name in _CPU_FIELDS:
            value = value.strip()
            fields[name] = " ".join(sorted(value.split())) if name in ("flags", "Features") \
                else value
    if not fields:
        return None
    width = "256" if os.environ.get("NMCLUSTER_VECTOR_WIDTH", "auto").strip() == "256" else "auto"
    text = json.dumps([sorted(fields.items()), width])
    return "cpu-" + hashlib.sha256(text.encode()).hexdigest()[:16]


def source_hash(relpath: str) -> str | None:
    """sha256 of a package source file (``relpath`` relative to the nmcluster package)."""
    try:
        return hashlib.sha256((PACKAGE_DIR / relpath).read_bytes()).hexdigest()
    except OSError:
        return None


def type_key(value: Any) -> str | None:
    """numba's type name of a call argument, as ``str(numba.typeof(value))`` spells it (numba's
    ``typeof`` for arrays: dtype, ndim, layout C/F/A by the contiguity flags, read-only when not
    writeable; Python ints are int64, floats float64), computed without numba; None for a value
    no AOT signature can take."""
    t = type(value)
    if t is _ndarray:
        f = value.flags
        return _array_key(value.dtype, value.ndim, f.c_contiguous, f.f_contiguous, f.writeable)
    if t is bool:
        return "bool"
    if t is int:
        if -(1 << 63) <= value < (1 << 63):
            return "int64"
        return "uint64" if 0 <= value < (1 << 64) else None
    if t is float:
        return "float64"
    if t in _NP_SCALARS:
        return _NP_SCALARS[t]
    return None


@lru_cache(maxsize=256)
def _array_key(dt: Any, ndim: int, c_contiguous: bool, f_contiguous: bool,
               writeable: bool) -> str | None:
    """:func:`type_key` of an array (memoised: ``dtype.name`` alone costs ~2 µs, and a run_lif
    call passes ~90 arrays)."""
    if not dt.isnative or dt.fields is not None or dt.subdtype is not None:
        return None
    layout = "C" if c_contiguous else ("F" if f_contiguous else "A")
    return f"{'' if writeable else 'readonly '}array({dt.name}, {ndim}d, {layout})"


def signature_key(args: tuple[Any, ...]) -> str | None:
    """The key of a call's argument types (joined :func:`type_key`), None if one has none."""
    keys = []
    for a in args:
        k = type_key(a)
        if k is None:
            return None
        keys.append(k)
    return "|".join(keys)


_ndarray = _np.ndarray
_NP_SCALARS = {t: _np.dtype(t).name for t in (
    _np.bool_, _np.int8, _np.int16, _np.int32, _np.int64, _np.uint8, _np.uint16, _np.uint32,
    _np.uint64, _np.float32, _np.float64)}


def _wanted() -> list[str]:
    """Build names to try, in order: this CPU type's, then the generic one."""
    if os.environ.get(ENV_AOT, "1").strip() in ("0", "no", "false", "off"):
        return []
    if os.environ.get("NUMBA_DISABLE_JIT", "0").strip() not in ("", "0"):
        return []
    name = os.environ.get("NUMBA_CPU_NAME")
    feats = os.environ.get("NUMBA_CPU_FEATURES")
    if name is not None or feats is not None:
        # an explicit numba target: the generic build is that target only when asked for
        return ["generic"] if name == "generic" and not (feats or "").strip() else []
    forced = os.environ.get(ENV_CPU, "").strip()
    if forced == "generic":
        return ["generic"]
    key = cpu_key()
    out = [key] if key else []
    if forced != "host":
        out.append("generic")
    return out


def installed_numba() -> str | None:
    """The installed numba's version without importing it (the ``numba-<version>.dist-info``
    beside the package), or None when that cannot be told.  A build made with another numba is
    not used: a JIT fallback in the same process would run the other numba's code, and kernels
    that redraw each other's random events must agree to the bit."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("numba")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    for info in Path(spec.origin).parent.parent.glob("numba-*.dist-info"):
        return info.name[len("numba-"):-len(".dist-info")]
    return None


def _load_build(directory: Path) -> tuple[Mapping[str, Mapping[str, Callable]], str] | None:
    """The exports of the build in ``directory`` whose sources are unchanged, and its CPU
    name; None when there is no usable build there."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if (manifest.get("format") != FORMAT or manifest.get("python") != sys.implementation.cache_tag
            or manifest.get("numpy") != _np.__version__):
        return None
    numba_now = installed_numba()
    if numba_now is not None and manifest.get("numba") != numba_now:
        return None
    fresh = {m for m, (rel, digest) in manifest.get("sources", {}).items()
             if source_hash(rel) == digest}
    if not fresh:
        return None
    path = directory / manifest["file"]
    try:
        import importlib.machinery
        import importlib.util

        loader = importlib.machinery.ExtensionFileLoader(MODULE_NAME, str(path))
        spec = importlib.util.spec_from_file_location(MODULE_NAME, str(path), loader=loader)
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - a broken build is a miss: the JIT path runs
        import logging

        logging.getLogger("nmcluster").info("AOT kernels in %s not loaded (%s): JIT path",
                                            directory, exc)
        return None
    table: dict[str, dict[str, Callable]] = {}
    for qualname, sigs in manifest.get("exports", {}).items():
        if qualname.rpartition(".")[0] not in fresh:
            continue
        fns = {key: getattr(module, sym) for key, sym in sigs.items() if hasattr(module, sym)}
        if fns:
            table[qualname] = fns
    return (table, manifest.get("cpu", {}).get("build", "")) if table else None


#: the first kernel calls may come from several threads at once (batched runs split over
#: threads): the build is loaded once, under this lock
_LOAD_LOCK = threading.Lock()


def _build() -> tuple[Mapping[str, Mapping[str, Callable]], str | None]:
    """This process's AOT build: (exports by kernel, ``host``/``generic``), loaded once (a
    process-wide read-only table, like numba's own dispatcher caches)."""
    with _LOAD_LOCK:
        return _load()


@lru_cache(maxsize=None)
def _load() -> tuple[Mapping[str, Mapping[str, Callable]], str | None]:
    for name in _wanted():
        for root in roots():
            got = _load_build(root / name)
            if got is not None:
                return got[0], ("generic" if name == "generic" else "host")
    return {}, None


def lookup(qualname: str, args: tuple[Any, ...]) -> Callable | None:
    """The AOT function of kernel ``qualname`` (``module.function``) compiled for exactly the
    types of ``args``, or None (then the caller takes the JIT path)."""
    table = _build()[0].get(qualname)
    if not table:
        return None
    key = signature_key(args)
    return None if key is None else table.get(key)


def chosen_cpu() -> str | None:
    """``host`` or ``generic``: the build this process's AOT kernels come from (a JIT
    fallback must target the same CPU, so kernels that redraw each other's random events agree
    to the bit); None without AOT kernels."""
    return _build()[1]
