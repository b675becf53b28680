"""Read spack recipes without spack: a stand-in for ``spack.package`` that records directives.

Spack itself is not a dependency of nmcluster and is rarely installed where the tests run, so the
offline recipe check (``tests/spack/``) and the snapshot generator (``spack/tools/builtin_versions.py``)
execute each ``package.py`` against this stand-in: ``version()``, ``variant()``, ``depends_on()``, ...
only record their arguments, ``with when(...)`` / ``with default_args(...)`` blocks apply their
arguments the way spack's directive context managers do (spack: lib/spack/spack/directives_meta.py),
and a subclass inherits its base class's directives, as spack's DirectiveMeta merges them.

A recipe of our repository that extends a builtin one (``from spack_repo.builtin.packages.nest.package
import Nest as BuiltinNest``, spack's documented way to override a builtin package in a site repository)
gets a base class built from the builtin directives recorded in ``spack/builtin-versions.json``, so the
offline check sees what spack would see.

Also here: spack's version-range semantics for the satisfiability checks (``@3.6:3`` contains 3.10.0;
``@0.13`` contains 0.13.4; spack/lib/spack/spack/version/version_types.py: an upper bound matches every
version it is a prefix of).
"""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

DIRECTIVES = ("version", "variant", "depends_on", "conflicts", "license", "maintainers", "requires",
              "provides", "extends", "patch", "resource", "build_system", "redistribute", "can_splice")
#: Names builtin recipes use at class-body or definition time besides the directives (annotations,
#: decorators); a stand-in object is enough for each.
HELPERS = ("EnvironmentModifications", "Spec", "Prefix", "Executable", "which", "join_path", "mkdirp",
           "install", "install_tree", "find", "find_headers", "find_libraries", "filter_file",
           "working_dir", "Version", "ver", "InstallError", "llnl", "os", "re", "sys", "glob",
           "copy", "copy_tree", "symlink", "HeaderList", "LibraryList", "FileFilter", "touch",
           "set_executable", "macos_version", "Builder", "register_builder", "PackageBase",
           "is_system_path", "satisfies", "any_combination_of", "disjoint_sets", "auto_or_any_combination_of",
           "MakeExecutable", "SkipTest", "test_part", "tty", "cache_extra_test_sources",
           "determine_number_of_jobs", "env", "spack_cc", "spack_cxx", "spack_fc", "spack_f77",
           "python", "make", "ninja", "cmake", "configure", "autoreconf", "dso_suffix")


@dataclass
class Recipe:
    name: str  # the class name
    base: str  # the first base class's name (the build system or the builtin package extended)
    attrs: dict[str, Any]
    versions: list[tuple[str, dict]] = field(default_factory=list)
    variants: dict[str, dict] = field(default_factory=dict)
    depends: list[tuple[str, dict]] = field(default_factory=list)
    conflicts: list[tuple[str, dict]] = field(default_factory=list)
    licenses: list[str] = field(default_factory=list)
    methods: set[str] = field(default_factory=set)
    own_versions: list[str] = field(default_factory=list)  # declared in this file, not inherited
    extends_builtin: str | None = None  # builtin package name this recipe subclasses


class _Anything:
    """A permissive stand-in for helpers only referenced, never meaningfully called, at class level."""

    def __init__(self, *a: Any, **k: Any) -> None:
        pass

    def __call__(self, *a: Any, **k: Any) -> Any:
        if len(a) == 1 and callable(a[0]) and not k:
            return a[0]  # used as a decorator
        return _Anything()

    def __getattr__(self, name: str) -> Any:
        return _Anything()

    def __or__(self, other: Any) -> Any:  # type annotations like Spec | None
        return self

    __ror__ = __or__

    def __getitem__(self, item: Any) -> Any:
        return self

    def __iter__(self) -> Iterator[Any]:
        return iter(())


def _merge_when(outer: str | None, inner: str | None) -> str | None:
    parts = [p for p in (outer, inner) if p]
    return " ".join(parts) if parts else None


class _Context:
    """The pending directives of the class body being executed, with the active when/default_args."""

    def __init__(self) -> None:
        self.pending: list[tuple[str, tuple, dict]] = []
        self.whens: list[str] = []
        self.defaults: list[dict] = []

    def directive(self, kind: str):
        def record(*args: Any, **kwargs: Any) -> None:
            for d in self.defaults:
                for k, v in d.items():
                    kwargs.setdefault(k, v)
            if self.whens and kind not in ("version", "license", "maintainers", "build_system"):
                kwargs["when"] = _merge_when(" ".join(self.whens), kwargs.get("when"))
            self.pending.append((kind, args, kwargs))
        record.__name__ = kind
        return record

    def when(self, spec: Any = None):
        ctx = self

        class _When:
            def __enter__(self_inner) -> None:
                ctx.whens.append(str(spec))

            def __exit__(self_inner, *exc: Any) -> None:
                ctx.whens.pop()

            def __call__(self_inner, fn: Any) -> Any:  # @when("@:2.10") on methods
                return fn

        return _When()

    @contextmanager
    def default_args(self, **kwargs: Any) -> Iterator[None]:
        if "when" in kwargs:
            self.whens.append(kwargs.pop("when"))
            popped = True
        else:
            popped = False
        self.defaults.append(kwargs)
        try:
            yield
        finally:
            self.defaults.pop()
            if popped:
                self.whens.pop()


def stand_in_modules(builtin: dict[str, dict] | None = None) -> dict[str, types.ModuleType]:
    """Modules that replace ``spack``, ``spack.package`` and ``spack_repo.builtin.*`` while a recipe runs.

    ``builtin``: the ``packages`` part of builtin-versions.json; each entry with ``class`` and
    ``directives`` becomes ``spack_repo.builtin.packages.<dir>.package.<class>``.
    """
    ctx = _Context()

    class _Base:
        _directives: list[tuple[str, tuple, dict]] = []

        def __init_subclass__(cls, **kw: Any) -> None:
            super().__init_subclass__(**kw)
            inherited = [d for b in cls.__mro__[1:] for d in vars(b).get("_directives", [])]
            cls._own_directives = list(ctx.pending)
            cls._directives = inherited + list(ctx.pending)
            ctx.pending.clear()

    def base_module(modname: str) -> types.ModuleType:
        mod = types.ModuleType(modname)

        def __getattr__(name: str) -> Any:  # any build-system class, e.g. CMakePackage
            if name.startswith("__"):
                raise AttributeError(name)
            cls = type(name, (_Base,), {"__module__": modname})
            setattr(mod, name, cls)
            return cls

        mod.__getattr__ = __getattr__  # type: ignore[attr-defined]
        return mod

    package = types.ModuleType("spack.package")
    names: dict[str, Any] = {name: ctx.directive(name) for name in DIRECTIVES}
    names.update({h: _Anything() for h in HELPERS})
    names.update(run_after=_Anything(), run_before=_Anything(), on_package_attributes=_Anything(),
                 when=ctx.when, default_args=ctx.default_args, conditional=lambda *a, **k: " ".join(a))
    for key, value in names.items():
        setattr(package, key, value)
    package.__all__ = list(names)
    spack = types.ModuleType("spack")
    spack.package = package  # type: ignore[attr-defined]
    mods: dict[str, types.ModuleType] = {"spack": spack, "spack.package": package}
    for parent in ("spack_repo", "spack_repo.builtin", "spack_repo.builtin.build_systems",
                   "spack_repo.builtin.packages"):
        mod = types.ModuleType(parent)
        mod.__path__ = []  # type: ignore[attr-defined]  # a package, so submodules import
        mods[parent] = mod
    for bs in ("python", "bundle", "cmake", "generic", "autotools", "makefile", "meson", "cuda",
               "rocm", "sourceforge", "gnu", "compiler", "cached_cmake", "sip", "pythonpackage"):
        mods[f"spack_repo.builtin.build_systems.{bs}"] = base_module(f"spack_repo.builtin.build_systems.{bs}")
    for pkg_name, info in (builtin or {}).items():
        if "class" not in info:
            continue
        dirname = pkg_name.replace("-", "_")
        modname = f"spack_repo.builtin.packages.{dirname}.package"
        pkg_mod = types.ModuleType(f"spack_repo.builtin.packages.{dirname}")
        pkg_mod.__path__ = []  # type: ignore[attr-defined]
        mod = types.ModuleType(modname)
        directives = [("version", (v,), {}) for v in info.get("versions", [])]
        directives += [("variant", (v,), {"description": "builtin"}) for v in info.get("variants", [])]
        directives += [("depends_on", (s,), {"when": w} if w else {}) for s, w in info.get("depends", [])]
        cls = type(info["class"], (_Base,), {"__module__": modname})
        cls._directives = directives  # type: ignore[attr-defined]
        cls._builtin_name = pkg_name  # type: ignore[attr-defined]
        setattr(mod, info["class"], cls)
        mods[pkg_mod.__name__] = pkg_mod
        mods[modname] = mod
    return mods


@contextmanager
def stand_in(builtin: dict[str, dict] | None = None) -> Iterator[None]:
    mods = stand_in_modules(builtin)
    saved = {k: sys.modules.get(k) for k in mods}
    sys.modules.update(mods)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value


def load_recipe(path: Path, builtin: dict[str, dict] | None = None) -> Recipe:
    """Execute ``path`` against the stand-in and return what its package class declared."""
    with stand_in(builtin):
        spec = importlib.util.spec_from_file_location(f"_recipe_{abs(hash(str(path)))}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    classes = [obj for obj in vars(module).values()
               if isinstance(obj, type) and hasattr(obj, "_directives") and obj.__module__ == module.__name__]
    assert len(classes) == 1, f"{path}: expected one package class, found {classes}"
    cls = classes[0]
    recipe = Recipe(name=cls.__name__, base=cls.__mro__[1].__name__,
                    attrs={k: v for k, v in vars(cls).items() if not k.startswith("_")},
                    methods={k for k, v in vars(cls).items() if callable(v)},
                    extends_builtin=getattr(cls.__mro__[1], "_builtin_name", None))
    for kind, args, kwargs in cls._directives:
        if kind == "version":
            recipe.versions.append((args[0], kwargs))
        elif kind == "variant":
            recipe.variants[args[0]] = kwargs
        elif kind == "depends_on":
            recipe.depends.append((args[0], kwargs))
        elif kind == "extends":
            recipe.depends.append((args[0], kwargs))
        elif kind == "conflicts":
            recipe.conflicts.append((args[0], kwargs))
        elif kind == "license":
            recipe.licenses.append(args[0])
    recipe.own_versions = [a[0] for k, a, _ in cls._own_directives if k == "version"]
    return recipe


# --------------------------------------------------------------------------------------------------
# spack version ranges


def _vkey(text: str) -> tuple | None:
    """A comparable key of a release number; None for branches (main, master, develop) and tags."""
    if not re.fullmatch(r"\d+(\.\d+)*", text):
        return None
    return tuple(int(p) for p in text.split("."))


def version_in(version: str, rng: str) -> bool:
    """Does ``version`` satisfy the spack range list ``rng`` (``1.2:1.4,2``; empty: any)?"""
    if not rng:
        return True
    key = _vkey(version)
    for item in rng.split(","):
        item = item.strip()
        if item.startswith("="):  # @=1.2: exactly this version
            if version == item[1:]:
                return True
            continue
        if ":" not in item:
            if version == item or (key is not None and _vkey(item) is not None
                                   and key[:len(_vkey(item))] == _vkey(item)):
                return True
            continue
        if key is None:
            continue
        lo, _, hi = item.partition(":")
        lo_key, hi_key = _vkey(lo) if lo else None, _vkey(hi) if hi else None
        if lo and (lo_key is None or key < lo_key):
            continue
        if hi and (hi_key is None or (key > hi_key and key[:len(hi_key)] != hi_key)):
            continue
        return True
    return False


def parse_spec(spec: str) -> tuple[str, str, frozenset[str]]:
    """``nest@3.6:3 +python`` -> ("nest", "3.6:3", {"+python"}); the part after ``^`` is ignored."""
    spec = spec.split("^")[0]
    m = re.fullmatch(r"\s*([a-z0-9][a-z0-9-]*)?\s*(?:@\s*([^\s+~]+))?\s*(.*?)\s*", spec)
    if not m:
        raise ValueError(f"cannot parse spack spec {spec!r}")
    name, rng, rest = m.groups()
    variants = frozenset(re.findall(r"[+~][A-Za-z0-9_-]+|[A-Za-z0-9_-]+=[^\s+~]+", rest))
    return name or "", rng or "", variants


def when_versions(when: str | None) -> str:
    """The version range of this package in a ``when=`` condition (``@0.10.0: +python`` -> ``0.10.0:``)."""
    if not when:
        return ""
    own = when.split("^")[0]
    ranges = re.findall(r"@\s*([^\s+~^]+)", own)
    return ranges[-1] if ranges else ""
