"""The spack recipes under spack/, checked offline against pyproject.toml.

Spack cannot be installed here, so each package.py is executed with a minimal stand-in for the parts of
``spack.package`` and ``spack_repo.builtin.build_systems`` it imports: the directives (version, variant,
depends_on, ...) only record their arguments.  The recorded recipe is then compared with
pyproject.toml: every runtime dependency with the same version range (PEP 440 -> spack), each optional
dependency group as a variant, the Python and build-backend requirements, the release version.  A drift
in either file fails, and a deliberately drifted copy is shown to fail.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
import types
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SPACK_REPO = REPO / "spack" / "spack_repo" / "nmcluster"
PACKAGES = SPACK_REPO / "packages"
PYPROJECT = REPO / "pyproject.toml"
ENVIRONMENT = REPO / "spack" / "environments" / "frontend" / "spack.yaml"

#: PyPI names whose spack package is not ``py-<name>``: spack name and the variants it needs.
SPACK_NAMES = {"nest-simulator": ("nest", "+python")}
#: Optional-dependency groups that are not runtime features (no variant for them).
NON_RUNTIME_EXTRAS = {"test"}


# --------------------------------------------------------------------------------------------------
# A stand-in for spack's package API


@dataclass
class Recipe:
    name: str  # the class name
    base: str
    attrs: dict[str, Any]
    versions: list[tuple[str, dict]] = field(default_factory=list)
    variants: dict[str, dict] = field(default_factory=dict)
    depends: list[tuple[str, dict]] = field(default_factory=list)
    conflicts: list[tuple[str, dict]] = field(default_factory=list)
    licenses: list[str] = field(default_factory=list)
    methods: set[str] = field(default_factory=set)


def _stand_in_modules() -> dict[str, types.ModuleType]:
    pending: list[tuple[str, tuple, dict]] = []

    def directive(kind):
        def record(*args, **kwargs):
            pending.append((kind, args, kwargs))
        record.__name__ = kind
        return record

    class _Base:
        def __init_subclass__(cls, **kw):
            super().__init_subclass__(**kw)
            cls._directives = list(pending)
            pending.clear()

    class PythonPackage(_Base):
        pass

    class BundlePackage(_Base):
        pass

    def passthrough_decorator(*_a, **_k):
        return lambda fn: fn

    class Executable:  # only referenced inside methods
        def __init__(self, *a, **k):
            raise AssertionError("the stand-in cannot run executables")

    package = types.ModuleType("spack.package")
    names = {name: directive(name) for name in (
        "version", "variant", "depends_on", "conflicts", "license", "maintainers", "requires",
        "provides", "extends", "patch", "resource", "build_system", "redistribute")}
    names.update(run_after=passthrough_decorator, run_before=passthrough_decorator,
                 on_package_attributes=passthrough_decorator, when=passthrough_decorator,
                 Executable=Executable, which=lambda *a, **k: None)
    for key, value in names.items():
        setattr(package, key, value)
    package.__all__ = list(names)
    spack = types.ModuleType("spack")
    spack.package = package
    python_mod = types.ModuleType("spack_repo.builtin.build_systems.python")
    python_mod.PythonPackage = PythonPackage
    bundle_mod = types.ModuleType("spack_repo.builtin.build_systems.bundle")
    bundle_mod.BundlePackage = BundlePackage
    mods = {"spack": spack, "spack.package": package,
            "spack_repo.builtin.build_systems.python": python_mod,
            "spack_repo.builtin.build_systems.bundle": bundle_mod}
    for parent in ("spack_repo", "spack_repo.builtin", "spack_repo.builtin.build_systems"):
        mod = types.ModuleType(parent)
        mod.__path__ = []  # a package, so the submodules above import
        mods[parent] = mod
    return mods


@contextmanager
def _stand_in():
    saved = {k: sys.modules.get(k) for k in _stand_in_modules()}
    sys.modules.update(_stand_in_modules())
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value


def load_recipe(path: Path) -> Recipe:
    """Execute ``path`` against the stand-in and return what its package class declared."""
    with _stand_in():
        spec = importlib.util.spec_from_file_location(f"_recipe_{abs(hash(str(path)))}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    classes = [obj for obj in vars(module).values()
               if isinstance(obj, type) and hasattr(obj, "_directives") and obj.__module__ == module.__name__]
    assert len(classes) == 1, f"{path}: expected one package class, found {classes}"
    cls = classes[0]
    recipe = Recipe(name=cls.__name__, base=cls.__mro__[1].__name__,
                    attrs={k: v for k, v in vars(cls).items() if not k.startswith("_")},
                    methods={k for k, v in vars(cls).items() if callable(v)})
    for kind, args, kwargs in cls._directives:
        if kind == "version":
            recipe.versions.append((args[0], kwargs))
        elif kind == "variant":
            recipe.variants[args[0]] = kwargs
        elif kind == "depends_on":
            recipe.depends.append((args[0], kwargs))
        elif kind == "conflicts":
            recipe.conflicts.append((args[0], kwargs))
        elif kind == "license":
            recipe.licenses.append(args[0])
    return recipe


# --------------------------------------------------------------------------------------------------
# PEP 440 -> spack


def _release(text: str) -> tuple[int, ...]:
    if not re.fullmatch(r"\d+(\.\d+)*", text):
        raise ValueError(f"version {text!r}: only plain release numbers are converted")
    return tuple(int(p) for p in text.split("."))


def _fmt(parts: tuple[int, ...]) -> str:
    return ".".join(str(p) for p in parts)


def pep440_to_spack(specifier: str) -> str:
    """``>=1.26,<3`` -> ``1.26:2``: spack ranges are inclusive and ``:2`` covers every 2.x."""
    lower = upper = None
    for clause in filter(None, (c.strip() for c in specifier.split(","))):
        m = re.fullmatch(r"(>=|<=|<|==|~=)\s*([0-9][0-9.]*)", clause)
        if not m:
            raise ValueError(f"specifier {clause!r}: extend pep440_to_spack for it")
        op, ver = m.groups()
        parts = _release(ver)
        if op == ">=":
            lower = parts
        elif op == "<=":
            upper = parts
        elif op == "==":
            lower = upper = parts
        elif op == "~=":
            if len(parts) < 2:
                raise ValueError(f"{clause!r}: ~= needs two components")
            lower, upper = parts, parts[:-1]
        else:  # "<": the last release before ver
            trimmed = list(parts)
            while len(trimmed) > 1 and trimmed[-1] == 0:
                trimmed.pop()
            if trimmed[-1] == 0:
                raise ValueError(f"{clause!r}: nothing is below it")
            trimmed[-1] -= 1
            upper = tuple(trimmed)
    lo = _fmt(lower) if lower else ""
    hi = _fmt(upper) if upper else ""
    if lo and lo == hi:
        return lo
    return f"{lo}:{hi}" if (lo or hi) else ""


def parse_requirement(req: str) -> tuple[str, str, str]:
    """PEP 508 ``name[extra]>=1,<2; marker`` -> (normalized name, specifier, marker)."""
    req, _, marker = req.partition(";")
    m = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*?)\s*", req)
    if not m:
        raise ValueError(f"cannot parse requirement {req!r}")
    return re.sub(r"[-_.]+", "-", m.group(1)).lower(), m.group(3), marker.strip()


def spack_dependency(req: str) -> str:
    """The depends_on() spec a PyPI requirement maps to: ``numpy>=1.26,<3`` -> ``py-numpy@1.26:2``."""
    name, specifier, marker = parse_requirement(req)
    if marker:
        raise ValueError(f"{req!r}: environment markers need a when= by hand; extend the test")
    spack_name, extra = SPACK_NAMES.get(name, (f"py-{name}", ""))
    rng = pep440_to_spack(specifier)
    return f"{spack_name}{'@' + rng if rng else ''}{' ' + extra if extra else ''}"


def normalize_spec(spec: str) -> tuple[str, str, frozenset[str]]:
    """``nest@3.6:3 +python`` -> ("nest", "3.6:3", {"+python"}); ``@0.13:0.13`` -> "0.13"."""
    m = re.fullmatch(r"\s*([a-z0-9][a-z0-9-]*)\s*(?:@\s*([^\s+~]+))?\s*(.*?)\s*", spec)
    if not m:
        raise ValueError(f"cannot parse spack spec {spec!r}")
    name, rng, rest = m.groups()
    rng = rng or ""
    if ":" in rng:
        lo, _, hi = rng.partition(":")
        if lo and lo == hi:
            rng = lo
    variants = frozenset(re.findall(r"[+~][A-Za-z0-9_-]+|[A-Za-z0-9_-]+=[^\s+~]+", rest))
    return name, rng, variants


def variants_in(when: str) -> set[str]:
    """Variant names a when= condition refers to (``+spikey``, ``~ssh``, ``foo=bar``)."""
    own = when.split("^")[0]  # what follows ^ constrains a dependency, not this package
    names = set(re.findall(r"[+~]([A-Za-z_][A-Za-z0-9_-]*)", own))
    names |= set(re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_-]*)=", own))
    return names


# --------------------------------------------------------------------------------------------------
# The checks


RUN_TYPE = ("build", "run")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_RELEASE = re.compile(r"\d+(\.\d+)*")
_BRANCHES = {"main", "master", "develop"}


def check_versions(recipe: Recipe) -> list[str]:
    errors = []
    for name, kwargs in recipe.versions:
        if name in _BRANCHES:
            if recipe.base == "PythonPackage" and kwargs.get("branch") != name:
                errors.append(f"version {name!r} must build branch={name!r}")
        elif not _RELEASE.fullmatch(name):
            errors.append(f"version {name!r} is not a release number")
        elif recipe.base == "PythonPackage" and not _SHA256.fullmatch(kwargs.get("sha256", "")):
            errors.append(f"version {name!r} needs a sha256 (64 lower-case hex digits)")
    names = [n for n, _ in recipe.versions]
    if len(names) != len(set(names)):
        errors.append("a version is declared twice")
    return errors


def check_when_variants(recipe: Recipe, other_variants: dict[str, set[str]] | None = None) -> list[str]:
    """Every variant a when=/conflicts() names is declared; dependency variants exist downstream."""
    errors = []
    declared = set(recipe.variants)
    conditions = [kw.get("when", "") for _, kw in recipe.depends] + [kw.get("when", "") for _, kw in
                                                                     recipe.conflicts]
    conditions += [c for c, _ in recipe.conflicts]
    for cond in conditions:
        for name in variants_in(cond or ""):
            if name not in declared:
                errors.append(f"when/conflicts {cond!r} uses variant {name!r}, which is not declared")
    for spec, _ in recipe.depends:
        dep, _, variants = normalize_spec(spec)
        if other_variants and dep in other_variants:
            for v in variants:
                name = v.lstrip("+~").split("=")[0]
                if name not in other_variants[dep]:
                    errors.append(f"depends_on({spec!r}): {dep} has no variant {name!r}")
    for name, kwargs in recipe.variants.items():
        if not kwargs.get("description"):
            errors.append(f"variant {name!r} has no description")
    return errors


def check_against_pyproject(recipe: Recipe, pyproject: dict) -> list[str]:
    """The py-nmcluster recipe says what pyproject.toml says, no more and no less."""
    errors: list[str] = []
    project = pyproject["project"]
    expected: dict[str, tuple[str, frozenset[str], str | None]] = {}  # name -> (range, variants, when)

    def expect(req: str, when: str | None):
        name, rng, variants = normalize_spec(spack_dependency(req))
        if name in expected and expected[name][2] != when:
            when = None if None in (when, expected[name][2]) else when
        expected[name] = (rng, variants, when)

    for req in project.get("dependencies", []):
        expect(req, None)
    extras = {k: v for k, v in project.get("optional-dependencies", {}).items() if k not in NON_RUNTIME_EXTRAS}
    for extra, reqs in extras.items():
        if extra not in recipe.variants:
            errors.append(f"pyproject extra {extra!r} has no variant({extra!r}) in the recipe")
        elif recipe.variants[extra].get("default") is not False:
            errors.append(f"variant {extra!r} must default to False (pip installs no extra by default)")
        for req in reqs:
            expect(req, f"+{extra}")

    declared: dict[str, list[tuple[str, frozenset[str], str | None, Any]]] = {}
    for spec, kwargs in recipe.depends:
        name, rng, variants = normalize_spec(spec)
        declared.setdefault(name, []).append((rng, variants, kwargs.get("when"), kwargs.get("type")))

    for name, (rng, variants, when) in expected.items():
        found = declared.get(name)
        if not found:
            errors.append(f"{name}@{rng} (from pyproject) is missing from the recipe")
            continue
        match = [d for d in found if d[2] == when]
        if not match:
            errors.append(f"{name}: pyproject puts it under {when or 'the base dependencies'}, the recipe "
                          f"under when={[d[2] for d in found]}")
            continue
        d_rng, d_variants, _, d_type = match[0]
        if d_rng != rng:
            errors.append(f"{name}: pyproject range @{rng or '(any)'}, recipe @{d_rng or '(any)'}")
        if not variants <= d_variants:
            errors.append(f"{name}: needs {' '.join(sorted(variants))}")
        if tuple(d_type or ()) != RUN_TYPE:
            errors.append(f"{name}: type must be {RUN_TYPE}, not {d_type}")

    # requires-python and the build backend
    py_range = pep440_to_spack(project.get("requires-python", ""))
    py = [d for d in declared.get("python", []) if d[2] is None]
    if not py or py[0][0] != py_range or tuple(py[0][3] or ()) != RUN_TYPE:
        errors.append(f"expected depends_on('python@{py_range}', type={RUN_TYPE}), got {py}")
    backend_reqs = pyproject.get("build-system", {}).get("requires", [])
    for req in backend_reqs:
        name, rng, _ = normalize_spec(spack_dependency(req))
        got = [d for d in declared.get(name, []) if d[2] is None]
        if not got or got[0][0] != rng or got[0][3] != "build":
            errors.append(f"build backend: expected depends_on('{name}@{rng}', type='build'), got {got}")
        expected[name] = (rng, frozenset(), None)

    # nothing in the recipe that pyproject no longer lists
    for name in declared:
        if name not in expected and name != "python":
            errors.append(f"{name} is in the recipe but not in pyproject.toml")
    for variant in recipe.variants:
        if variant not in extras:
            errors.append(f"variant {variant!r} has no pyproject extra")

    # identity
    version = project["version"]
    if version not in [v for v, _ in recipe.versions]:
        errors.append(f"pyproject version {version} is not a version() of the recipe")
    if not any(v == "main" for v, _ in recipe.versions):
        errors.append("the recipe needs version('main', branch='main')")
    pypi = recipe.attrs.get("pypi", "")
    if not re.fullmatch(rf"{re.escape(project['name'])}/{re.escape(project['name'])}-[0-9.]+\.tar\.gz", pypi):
        errors.append(f"pypi = {pypi!r} does not name the sdist of {project['name']}")
    for attr in ("homepage", "git"):
        if not str(recipe.attrs.get(attr, "")).startswith("https://"):
            errors.append(f"{attr} must be an https URL")
    urls = {k.lower(): v for k, v in project.get("urls", {}).items()}
    if "homepage" in urls and urls["homepage"] != recipe.attrs.get("homepage"):
        errors.append(f"homepage {recipe.attrs.get('homepage')!r} != pyproject {urls['homepage']!r}")
    repo_url = urls.get("repository") or urls.get("source")
    if repo_url and repo_url.removesuffix(".git") != str(recipe.attrs.get("git", "")).removesuffix(".git"):
        errors.append(f"git {recipe.attrs.get('git')!r} != pyproject {repo_url!r}")
    license_text = project.get("license", {})
    license_text = license_text.get("text") if isinstance(license_text, dict) else license_text
    if license_text and recipe.licenses != [license_text]:
        errors.append(f"license {recipe.licenses} != pyproject {license_text!r}")
    return errors


# --------------------------------------------------------------------------------------------------
# Tests


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads(PYPROJECT.read_text())


@pytest.fixture(scope="module")
def py_nmcluster() -> Recipe:
    return load_recipe(PACKAGES / "py_nmcluster" / "package.py")


@pytest.fixture(scope="module")
def defaults() -> Recipe:
    return load_recipe(PACKAGES / "nmcluster_defaults" / "package.py")


@pytest.mark.parametrize("specifier, expected", [
    (">=1.26,<3", "1.26:2"), (">=0.13,<0.14", "0.13"), (">=0.59,<1", "0.59:0"), (">=3.11", "3.11:"),
    ("<2.1.0", ":2.0"), ("<3.0", ":2"), ("~=1.4.2", "1.4.2:1.4"), ("==2.0", "2.0"), ("", ""),
    (">=8.1, <9", "8.1:8"),
])
def test_pep440_to_spack(specifier, expected):
    assert pep440_to_spack(specifier) == expected


@pytest.mark.parametrize("specifier", ["!=1.2", ">=1.0rc1", "<0", ">1.0", "===1"])
def test_pep440_to_spack_rejects_what_it_cannot_convert(specifier):
    with pytest.raises(ValueError):
        pep440_to_spack(specifier)


def test_variants_in():
    assert variants_in("~spikey~wafer~spinnaker") == {"spikey", "wafer", "spinnaker"}
    assert variants_in("@0.1: +ssh build_type=Release ^python+tkinter") == {"ssh", "build_type"}
    assert variants_in("@main") == set()


def test_spack_dependency_names():
    assert spack_dependency("PyNN>=0.13,<0.14") == "py-pynn@0.13"
    assert spack_dependency("nest-simulator>=3.6,<4") == "nest@3.6:3 +python"
    assert spack_dependency("typing_extensions") == "py-typing-extensions"


def test_repository_layout():
    """Package API v2 (Spack >= 1.0): spack_repo/<namespace>/packages/<name_with_underscores>/."""
    text = (SPACK_REPO / "repo.yaml").read_text()
    assert re.search(r"^repo:\s*$", text, re.M)
    assert re.search(r"^\s+namespace:\s*['\"]?nmcluster['\"]?\s*$", text, re.M)
    assert re.search(r"^\s+api:\s*v2\.\d+\s*$", text, re.M)
    assert SPACK_REPO.parent.name == "spack_repo" and SPACK_REPO.name == "nmcluster"
    dirs = sorted(p.name for p in PACKAGES.iterdir() if p.is_dir() and not p.name.startswith("__"))
    assert dirs == ["nmcluster_defaults", "py_nmcluster"]
    for d in dirs:
        recipe = load_recipe(PACKAGES / d / "package.py")
        assert recipe.name == "".join(part.capitalize() for part in d.split("_"))


def test_py_nmcluster_matches_pyproject(py_nmcluster, pyproject):
    assert py_nmcluster.base == "PythonPackage"
    assert check_against_pyproject(py_nmcluster, pyproject) == []
    assert check_versions(py_nmcluster) == []
    assert check_when_variants(py_nmcluster) == []
    assert {"ssh", "nest"} <= set(py_nmcluster.variants)


def test_defaults_bundle(defaults, py_nmcluster):
    assert defaults.base == "BundlePackage"
    assert {"spikey", "wafer", "spinnaker"} <= set(defaults.variants)
    assert check_versions(defaults) == []
    assert check_when_variants(defaults, {"py-nmcluster": set(py_nmcluster.variants)}) == []
    # one bundle version per nmcluster version, each pinning it
    nm_versions = {v for v, _ in py_nmcluster.versions}
    for version, _ in defaults.versions:
        assert version in nm_versions
        pins = [s for s, kw in defaults.depends if kw.get("when") == f"@{version}"]
        assert pins == [f"py-nmcluster@{version}"], pins
    # every hardware variant pulls something
    for hw in ("spikey", "wafer", "spinnaker"):
        assert any(kw.get("when") == f"+{hw}" for _, kw in defaults.depends), hw
    for spec, kwargs in defaults.depends:
        assert kwargs.get("type") == "run", spec
    assert "setup_run_environment" in defaults.methods


def test_frontend_environment(defaults):
    text = ENVIRONMENT.read_text()
    m = re.search(r"^\s+nmcluster:\s*\$env/(\S+)\s*$", text, re.M)
    assert m, "repos: nmcluster: $env/<relative path> expected"
    assert (ENVIRONMENT.parent / m.group(1) / "repo.yaml").resolve() == (SPACK_REPO / "repo.yaml").resolve()
    specs = re.search(r"^  specs:\n((?:  - .*\n)+)", text, re.M)
    assert specs
    for line in specs.group(1).splitlines():
        name, rng, variants = normalize_spec(line.strip()[2:])
        assert name == "nmcluster-defaults"
        assert rng in {v for v, _ in defaults.versions}
        assert {v.lstrip("+~") for v in variants} <= set(defaults.variants)
    slurm = re.search(r"^    slurm:\n((?:      .*\n)+)", text, re.M)
    assert slurm and "buildable: false" in slurm.group(1)
    assert re.search(r"- spec: slurm@[0-9.]+\s*\n\s+prefix: /usr", slurm.group(1))
    assert re.search(r"^\s+enable:\s*\n\s+- tcl\s*$", text, re.M)
    assert re.search(r"^\s+projections:\s*\n\s+all:\s*'\{name\}/\{version\}'\s*$", text, re.M)
    assert re.search(r"^\s+hash_length:\s*0\s*$", text, re.M)


# --------------------------------------------------------------------------------------------------
# Drift must fail


def _drifted(tmp_path: Path, old: str, new: str) -> Recipe:
    text = (PACKAGES / "py_nmcluster" / "package.py").read_text()
    assert old in text
    path = tmp_path / "package.py"
    path.write_text(text.replace(old, new))
    return load_recipe(path)


@pytest.mark.parametrize("old, new, message", [
    ('"py-numpy@1.26:2"', '"py-numpy@1.20:2"', "py-numpy: pyproject range @1.26:2, recipe @1.20:2"),
    ('    depends_on("py-h5py@3.10:3", type=("build", "run"))\n', "", "py-h5py@3.10:3 (from pyproject)"),
    ('"py-click@8.1:8", type=("build", "run")', '"py-click@8.1:8", type="run"', "py-click: type must be"),
    ('"nest@3.6:3 +python"', '"nest@3.6:3"', "nest: needs +python"),
    ('when="+ssh"', 'when="+remote"', "uses variant 'remote', which is not declared"),
    ('    variant("plot"', '    variant("plots"', "pyproject extra 'plot' has no variant"),
    ('variant("nest", default=False', 'variant("nest", default=True', "variant 'nest' must default to False"),
    ('version("0.1.0"', 'version("0.0.9"', "pyproject version 0.1.0 is not a version() of the recipe"),
    ('sha256="7', 'sha256="x', "needs a sha256"),
    ('    depends_on("py-rich@13:15", type=("build", "run"))\n',
     '    depends_on("py-rich@13:15", type=("build", "run"))\n'
     '    depends_on("py-requests@2:", type=("build", "run"))\n',
     "py-requests is in the recipe but not in pyproject.toml"),
])
def test_drifted_recipe_fails(tmp_path, pyproject, old, new, message):
    recipe = _drifted(tmp_path, old, new)
    errors = (check_against_pyproject(recipe, pyproject) + check_versions(recipe)
              + check_when_variants(recipe))
    assert errors, "the drift went unnoticed"
    assert any(message in e for e in errors), errors


def test_drifted_pyproject_fails(py_nmcluster, pyproject):
    import copy

    drifted = copy.deepcopy(pyproject)
    drifted["project"]["dependencies"].append("pyyaml>=6,<7")
    drifted["project"]["dependencies"] = [d.replace("numba>=0.59", "numba>=0.60")
                                          for d in drifted["project"]["dependencies"]]
    drifted["project"]["optional-dependencies"]["gui"] = ["pyqt5>=5.15"]
    drifted["project"]["requires-python"] = ">=3.12"
    drifted["project"]["version"] = "0.2.0"
    errors = check_against_pyproject(py_nmcluster, drifted)
    for message in ("py-pyyaml@6 (from pyproject) is missing", "py-numba: pyproject range @0.60:0",
                    "pyproject extra 'gui' has no variant", "python@3.12:",
                    "pyproject version 0.2.0"):
        assert any(message in e for e in errors), (message, errors)


def test_bundle_with_unknown_dependency_variant_fails(tmp_path, py_nmcluster):
    text = (PACKAGES / "nmcluster_defaults" / "package.py").read_text()
    path = tmp_path / "package.py"
    path.write_text(text.replace('"py-nmcluster+nest", type="run", when="+spinnaker"',
                                 '"py-nmcluster+spalloc", type="run", when="+spinnaker"'))
    errors = check_when_variants(load_recipe(path), {"py-nmcluster": set(py_nmcluster.variants)})
    assert any("py-nmcluster has no variant 'spalloc'" in e for e in errors), errors
