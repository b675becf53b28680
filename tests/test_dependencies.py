"""Declared dependencies (pyproject.toml) against what the package really imports (issue 26).

Every third-party module nmcluster's code imports must be a declared dependency (base or an extra),
and every base dependency must be imported somewhere in nmcluster: a dependency that nothing imports is
dead weight for every install (as ``quantities`` was), one that is imported but undeclared breaks the
first install that does not happen to have it (as ``lazyarray`` and ``llvmlite`` did).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

#: distribution name -> the top-level module it provides (where the two differ)
MODULE_OF = {"pynn": "pyNN", "nest-simulator": "nest", "spalloc": "spalloc_client"}
#: imported only lazily by name strings (importlib) rather than import statements
IMPORTED_BY_NAME = {"spalloc_client"}


def _dist(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].strip().lower()


def _top_level_imports() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "nmcluster").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def _third_party(names: set[str]) -> set[str]:
    stdlib = set(sys.stdlib_module_names) | {"nmcluster", "__future__", "_nmcluster_chained_sitecustomize"}
    return {n for n in names if n not in stdlib}


def test_declared_matches_imported():
    base = {_dist(r) for r in PYPROJECT["project"]["dependencies"]}
    extras = {_dist(r) for reqs in PYPROJECT["project"]["optional-dependencies"].values() for r in reqs}
    modules_of = lambda dists: {MODULE_OF.get(d, d) for d in dists}  # noqa: E731
    imported = _third_party(_top_level_imports()) | IMPORTED_BY_NAME
    undeclared = imported - modules_of(base | extras)
    assert undeclared == set(), f"imported but not declared: {sorted(undeclared)}"
    unused = modules_of(base) - imported
    assert unused == set(), f"declared but never imported by nmcluster: {sorted(unused)}"
    assert {"lazyarray", "llvmlite", "quantities"} <= base
    # numba is capped to the minor versions tested (README: Dependencies and why)
    numba = next(r for r in PYPROJECT["project"]["dependencies"] if _dist(r) == "numba")
    assert re.search(r"<0\.\d+", numba), numba


def test_pep639_license_and_urls():
    assert PYPROJECT["project"]["license"] == "GPL-3.0-or-later"
    assert {"Homepage", "Repository"} <= set(PYPROJECT["project"]["urls"])
    assert {"nix", "spinnaker"} <= set(PYPROJECT["project"]["optional-dependencies"])


def test_kernels_fall_back_when_numba_moves_its_cpu_feature_probe(tmp_path):
    """numba.core.codegen.get_host_cpu_features is numba-internal: without it the kernels module
    still imports and probes the CPU through llvmlite's public function, with the same answer."""
    code = (
        "import numba.core.codegen as c\n"
        "expected = c.get_host_cpu_features()\n"
        "del c.get_host_cpu_features\n"
        "import nmcluster.emulators.engine.kernels as k\n"
        "got = k.get_host_cpu_features()\n"
        "print(k.get_host_cpu_features.__module__, got == expected, len(got.split(',')) > 10)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), NUMBA_CACHE_DIR=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["nmcluster.emulators.engine._kernel_cache", "True", "True"]  # one guard for both
