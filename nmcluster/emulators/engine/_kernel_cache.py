"""Where the engine's compiled kernels are read from and written to, and how they are loaded.

Why this exists (issue 27, whole-job speed): numba's ``cache=True`` picks *one* directory per
function: ``$NUMBA_CACHE_DIR``, else ``__pycache__`` next to the source *if it is writable*, else
``~/.cache/numba``.  On a cluster the package is installed read-only (Spack, modules), so numba
skips the install's ``__pycache__`` even when kernels were built into it at install time, and every
user compiles every kernel again (20-30 s per backend) into a private cache, once per CPU type.

:func:`njit` is numba's decorator with ``cache=True`` mapped onto :class:`KernelCache`, which

* **reads** from, in order: the read-only *shared* caches (each directory of
  ``$NMCLUSTER_KERNEL_CACHE``, ``os.pathsep``-separated, then the install's own ``__pycache__``
  next to the source, readable even when it is not writable), then numba's usual writable cache;
* **writes** only to numba's usual writable cache, or to ``$NMCLUSTER_KERNEL_BUILD_DIR`` when the
  install-time build (:mod:`nmcluster.emulators.engine.build`) fills a shared cache.

One shared cache holds every CPU type: numba keys each entry by the signature *and* the codegen's
``(triple, CPU name, features)`` (``numba/core/caching.py``, ``Cache._index_key``), so the build
run once on each node type of a site adds that type's entries to the same index; a source edit
changes the index's content hash and invalidates it (the same rule as numba's own cache).

Loading a cached kernel is also cheaper here: numba's ``Cache.load_overload`` first calls
``target_context.refresh()``, which imports and installs all of numba's typing and lowering
registries (about 140 ms of CPU per process, most of a small job's kernel cost) although
rebuilding a cached library needs only the runtime (NRT) initialised.  :meth:`KernelCache.
load_overload` initialises just the runtime; a compilation that follows (a signature not in any
cache) refreshes the context itself, in numba's compiler pipeline.

Lazy kernels (issue 27, a job's fixed cost): importing numba maps LLVM (~140 ms and ~66 MB of
RSS per process), which a job whose kernels were built ahead of time at install time
(:mod:`._aot`) never needs.  So :func:`njit` returns a :class:`LazyKernel`: calling it first asks
the AOT build for a function compiled for exactly the call's argument types, and only when there
is none imports numba, turns every lazy kernel of the module into a real numba dispatcher (module
globals replaced, so the kernels' calls to each other are the compiled calls numba sees in a
normal module) and calls that.  Nothing of numba is imported by this module at import time.
"""

from __future__ import annotations

import os
import sys
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

#: read-only caches searched before numba's own (os.pathsep-separated directories)
ENV_SHARED = "NMCLUSTER_KERNEL_CACHE"
#: where the install-time build writes (a shared cache root) instead of numba's writable cache
ENV_BUILD = "NMCLUSTER_KERNEL_BUILD_DIR"


def shared_dirs(module: str, source_file: str) -> list[Path]:
    """The read-only cache directories of the kernels of ``module`` (defined in
    ``source_file``), searched in this order.  In a shared root the sub-directory is the module
    name (``nmcluster.emulators.engine.kernels``), not a hash of the path as in numba's own
    locators, so a shared cache stays valid when an install is copied or relocated (its entries
    are still checked against the source's content hash)."""
    out = [Path(root) / module
           for root in os.environ.get(ENV_SHARED, "").split(os.pathsep) if root.strip()]
    out.append(Path(source_file).parent / "__pycache__")
    return out


@lru_cache(maxsize=None)
def _kernel_cache_class() -> type:
    """:class:`KernelCache`, defined on first use: its bases are numba's, and numba is imported
    only when a kernel is JIT-compiled or loaded from numba's cache (see the module doc)."""
    from numba.core.caching import CompileResultCacheImpl, FunctionCache, IndexDataCacheFile

    class _BuildDirLocator:
        """Numba cache locator for the install-time build: ``$NMCLUSTER_KERNEL_BUILD_DIR/<module>``
        (implements numba's ``_CacheLocator`` protocol; source stamp and disambiguator as numba's
        own locators, so the files are exactly the ones numba would write)."""

        @classmethod
        def from_function(cls, py_func, py_file):  # numba's locator protocol
            from numba.core.caching import UserProvidedCacheLocator

            root = os.environ.get(ENV_BUILD, "").strip()
            if not root:
                return None

            class _Located(UserProvidedCacheLocator):
                def __init__(self, f, file):
                    super().__init__(f, file)
                    self._cache_path = os.path.join(root, f.__module__)

                @classmethod
                def from_function(klass, f, file):
                    self = klass(f, file)
                    self.ensure_cache_path()  # a build that cannot write must fail loudly
                    return self

            return _Located.from_function(py_func, py_file)


    class _NoWriteLocator:
        """Last resort when no cache directory is writable (read-only install, read-only or absent
        home): numba would refuse to define the kernel at all ("no locator available"); here the
        kernel is still defined, reads the shared caches, and a compilation is simply not kept."""

        @classmethod
        def from_function(cls, py_func, py_file):  # numba's locator protocol
            from numba.core.caching import InTreeCacheLocator

            class _Located(InTreeCacheLocator):
                def ensure_cache_path(self):
                    raise OSError(f"no writable kernel cache for {py_file}")

            return _Located(py_func, py_file)


    class _KernelCacheImpl(CompileResultCacheImpl):
        """numba's CompileResult cache with the build directory as the first writable choice and
        a read-only last resort."""

        _locator_classes = [_BuildDirLocator, *CompileResultCacheImpl._locator_classes,
                            _NoWriteLocator]

    class KernelCache(FunctionCache):
        """A numba function cache that reads shared read-only caches first (see the module doc)."""

        _impl_class = _KernelCacheImpl

        def __init__(self, py_func: Callable[..., Any]) -> None:
            super().__init__(py_func)
            stamp = self._impl.locator.get_source_stamp()
            own = os.path.realpath(self._cache_path)
            dirs = shared_dirs(py_func.__module__, py_func.__code__.co_filename)
            base = self._impl.filename_base
            self._shared = [IndexDataCacheFile(cache_path=str(d), filename_base=base,
                                               source_stamp=stamp)
                            for d in dirs if os.path.realpath(d) != own]

        def save_overload(self, sig, data):
            """Keep a compilation in the writable cache; with none writable, keep nothing."""
            try:
                super().save_overload(sig, data)
            except OSError:
                import logging

                logging.getLogger("nmcluster").info(
                    "no writable kernel cache: %s compiled for this process only "
                    "(run 'nmcluster admin build-kernels' at install time)", self._name)

        def load_overload(self, sig, target_context):
            """The cached compile result of ``sig`` for this CPU from the first cache that has
            it, or None.  Initialises only numba's runtime, not its typing/lowering registries
            (see the module doc: ``numba/core/caching.py`` ``Cache.load_overload`` refreshes
            them all)."""
            if not self._enabled:
                return None
            from numba.core.runtime import rtsys

            rtsys.initialize(target_context)
            key = self._index_key(sig, target_context.codegen())
            for cache_file in [*self._shared, self._cache_file]:
                try:
                    data = cache_file.load(key)
                except (OSError, EOFError, ValueError, ImportError, AttributeError):
                    data = None  # an unreadable or foreign index is a miss, not an error
                if data is not None:
                    return self._impl.rebuild(target_context, data)
            return None

    return KernelCache


#: ``generic`` makes every node read the generic build (e.g. to compare it); ``host`` never does
ENV_CPU = "NMCLUSTER_KERNEL_CPU"


def _index_cpus(index: Path, stamp: bytes) -> set[tuple[str, str]]:
    """``(CPU name, features)`` of the entries of a numba cache index whose source stamp is
    ``stamp`` (the layout of ``numba/core/caching.py``: ``IndexDataCacheFile._load_index``)."""
    import pickle

    import numba

    try:
        with open(index, "rb") as f:
            if pickle.load(f) != numba.__version__:
                return set()
            got, overloads = pickle.loads(f.read())
    except (OSError, EOFError, ValueError, pickle.UnpicklingError, ImportError, AttributeError):
        return set()
    if got != stamp:
        return set()
    return {(key[1][1], key[1][2]) for key in overloads}


def select_cpu(module: str, source_file: str, entry: str, forced: str | None = None) -> str:
    """Make numba target the generic CPU when the shared caches hold a generic build of
    ``entry`` (a kernel of ``module``, defined in ``source_file``) but none for this node's
    CPU, so a node of a type the install-time build did not cover reads code instead of
    compiling it.  Must run before
    numba's CPU target is created (the first ``njit`` of the module).  Returns what it chose:
    ``host``, ``generic`` or ``configured`` (``$NUMBA_CPU_NAME`` set: left alone).
    ``forced`` (``host``/``generic``) overrides ``$NMCLUSTER_KERNEL_CPU``: the CPU of the AOT
    kernels this process already ran, which a JIT fallback must match."""
    import numba

    if numba.config.CPU_NAME is not None:
        return "configured"
    forced = forced or os.environ.get(ENV_CPU, "").strip()
    if forced == "host":
        return "host"
    generic = forced == "generic"
    if not generic:
        import llvmlite.binding as ll
        from numba.core.caching import _hash_source_file

        st = os.stat(source_file)
        stamp = _hash_source_file(source_file, st.st_mtime, st.st_size)
        host = (ll.get_host_cpu_name(), numba.config.CPU_FEATURES
                if numba.config.CPU_FEATURES is not None else host_cpu_features())
        mod = Path(source_file).stem
        pattern = f"{mod}.{entry}-*.py{sys.version_info[0]}{sys.version_info[1]}" \
                  f"{getattr(sys, 'abiflags', '')}.nbi"
        cpus: set[tuple[str, str]] = set()
        for d in shared_dirs(module, source_file):
            for index in d.glob(pattern):
                cpus |= _index_cpus(index, stamp)
        if host in cpus:
            return "host"
        generic = any(name == "generic" for name, _ in cpus)
    if generic:
        numba.config.CPU_NAME = "generic"
        numba.config.CPU_FEATURES = ""
        return "generic"
    return "host"


#: the engine's kernel module: its ``_jit_setup`` (CPU target, LLVM options) runs before any
#: kernel of any module becomes a numba dispatcher
ENGINE_KERNELS = "nmcluster.emulators.engine.kernels"


def _make_dispatcher(func: Callable[..., Any], options: Mapping[str, Any], cache: bool) -> Any:
    """numba's dispatcher of ``func`` with :class:`KernelCache` when ``cache``."""
    import numba

    dispatcher = numba.njit(**options)(func)
    if cache and hasattr(dispatcher, "py_func"):  # NUMBA_DISABLE_JIT: the plain function
        dispatcher._cache = _kernel_cache_class()(dispatcher.py_func)  # as enable_caching()
    return dispatcher


def _materialize(module_name: str) -> None:
    """Turn every :class:`LazyKernel` of ``module_name`` into its numba dispatcher and put the
    dispatchers in the module's globals, where numba resolves the kernels' calls to each other
    (and ``inline="always"`` finds its callees) when it compiles or loads one.  The engine's
    JIT setup runs first: numba's CPU target reads it when it is created."""
    for name in dict.fromkeys((ENGINE_KERNELS, module_name)):
        setup = getattr(sys.modules.get(name), "_jit_setup", None)
        if setup is not None:
            setup()
    module = sys.modules.get(module_name)
    if module is None:
        return
    for attr, value in list(vars(module).items()):
        if isinstance(value, LazyKernel) and value._nmc_func.__module__ == module_name:
            setattr(module, attr, value._nmc_dispatcher())


#: kernels become dispatchers once, even when the first calls come from several threads
_MATERIALIZE_LOCK = threading.RLock()


class LazyKernel:
    """A kernel that is not a numba dispatcher yet (see the module doc): called, it runs the
    AOT function built for exactly its argument types (:mod:`._aot`), else the module's
    kernels become numba dispatchers and this one's is called.  Any other attribute
    (``stats``, ``signatures``, ``py_func``...) is the dispatcher's, ``_numba_type_`` too: numba
    types a lazy kernel that another module imported by name as its dispatcher."""

    def __init__(self, func: Callable[..., Any], options: Mapping[str, Any], cache: bool) -> None:
        self._nmc_func = func
        self._nmc_options = dict(options)
        self._nmc_cache = cache
        self._nmc_disp: Any = None
        self._nmc_name = f"{func.__module__}.{func.__name__}"
        # AOT builds exist only for the package's own kernels
        self._nmc_aot = func.__module__.startswith("nmcluster.")
        self.__name__ = func.__name__
        self.__qualname__ = func.__qualname__
        self.__module__ = func.__module__
        self.__doc__ = func.__doc__
        self.__wrapped__ = func

    def __call__(self, *args: Any) -> Any:
        if self._nmc_aot:
            from nmcluster.emulators.engine import _aot

            fn = _aot.lookup(self._nmc_name, args)
            if fn is not None:
                return fn(*args)
        return self._nmc_jit()(*args)

    def _nmc_dispatcher(self) -> Any:
        """This kernel's numba dispatcher, made once."""
        with _MATERIALIZE_LOCK:
            if self._nmc_disp is None:
                self._nmc_disp = _make_dispatcher(self._nmc_func, self._nmc_options,
                                                  self._nmc_cache)
            return self._nmc_disp

    def _nmc_jit(self) -> Any:
        """The dispatcher, after the whole module's kernels became dispatchers."""
        if self._nmc_disp is None:
            with _MATERIALIZE_LOCK:
                if self._nmc_disp is None:
                    _materialize(self._nmc_func.__module__)
        return self._nmc_dispatcher()

    def __getattr__(self, name: str) -> Any:
        if name.startswith(("_nmc_", "__")):
            raise AttributeError(name)
        return getattr(self._nmc_jit(), name)

    def __repr__(self) -> str:
        return f"<lazy kernel {self._nmc_name}>"


def njit(*args: Any, **options: Any) -> Any:
    """``numba.njit`` with ``cache=True`` served by :class:`KernelCache` (same call forms:
    ``@njit``, ``@njit(...)``), made lazily (:class:`LazyKernel`): importing a kernel module
    imports no numba."""
    cache = bool(options.pop("cache", False))

    def wrap(func: Callable[..., Any]) -> Any:
        return LazyKernel(func, options, cache)

    if args and callable(args[0]) and not options:
        return wrap(args[0])
    if args:
        raise TypeError("njit: signatures are not supported here; let numba infer them")
    return wrap


def cache_stats(dispatchers: list[Any]) -> tuple[int, int]:
    """``(hits, misses)`` summed over dispatchers (numba's ``Dispatcher.stats``): a miss is a
    compilation, which a job on a node with a built shared cache must never do."""
    hits = sum(sum(d.stats.cache_hits.values()) for d in dispatchers)
    misses = sum(sum(d.stats.cache_misses.values()) for d in dispatchers)
    return hits, misses


def host_cpu_features() -> str:
    """Host CPU features as LLVM spells them (``+avx2,-avx512f,...``); "" when unknown.

    numba's own ``numba.core.codegen.get_host_cpu_features`` is internal (0.49-0.68) and may move in a later
    numba: then llvmlite's public probe, which numba's function wraps, stands in."""
    try:
        from numba.core.codegen import get_host_cpu_features
    except ImportError:
        import llvmlite.binding as ll

        try:
            return ll.get_host_cpu_features().flatten()
        except Exception:  # noqa: BLE001 - llvmlite raises RuntimeError on hosts it cannot probe
            return ""
    return get_host_cpu_features()
