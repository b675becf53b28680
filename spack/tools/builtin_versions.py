#!/usr/bin/env python3
"""Write spack/builtin-versions.json: what spack's builtin repository declares for the packages we use.

Usage:  python spack/tools/builtin_versions.py <spack-packages checkout or git dir> [--rev REV]

The offline recipe check (tests/spack/) proves every ``depends_on`` of our recipes can be met by a
version that our repository or the builtin one declares.  It cannot fetch spack-packages, so this
script records, for every package our recipes depend on, the builtin versions and variants, and for
the builtin packages our repository extends (py-pynn, py-neo, ...) also their dependencies, together
with the spack-packages commit they were read from.  Re-run it when moving to a newer spack-packages.
The recipes are read with the stand-in of spack/tools/recipes.py (no spack needed).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUR_PACKAGES = REPO / "spack" / "spack_repo" / "nmcluster" / "packages"
OUT = REPO / "spack" / "builtin-versions.json"
BUILTIN_DIR = "repos/spack_repo/builtin/packages"

sys.path.insert(0, str(HERE))
from recipes import load_recipe, parse_spec  # noqa: E402


def _git(gitdir: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={gitdir}", *args], check=True, capture_output=True,
                          text=True).stdout


def _builtin_text(gitdir: Path, rev: str, name: str) -> str | None:
    try:
        return _git(gitdir, "show", f"{rev}:{BUILTIN_DIR}/{name.replace('-', '_')}/package.py")
    except subprocess.CalledProcessError:
        return None


def _read_builtin(text: str) -> dict:
    """Versions, variants, class and dependencies of one builtin recipe (stand-in; regex fallback)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "package.py"
        path.write_text(text)
        try:
            r = load_recipe(path)
        except Exception:  # noqa: BLE001 - a recipe the stand-in cannot run: fall back to regexes
            return {"versions": re.findall(r'^\s+version\(\s*"([^"]+)"', text, re.M),
                    "variants": sorted(set(re.findall(r'^\s+variant\(\s*"([^"]+)"', text, re.M))),
                    "read_by": "regex"}
    return {"class": r.name, "versions": [v for v, _ in r.versions], "variants": sorted(r.variants),
            "depends": [[s, kw.get("when") or ""] for s, kw in r.depends], "read_by": "stand-in"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkout", type=Path, help="spack-packages checkout (or its git directory)")
    ap.add_argument("--rev", default="HEAD")
    a = ap.parse_args()
    gitdir = a.checkout / ".git" if (a.checkout / ".git").exists() else a.checkout
    commit = _git(gitdir, "rev-parse", a.rev).strip()
    date = _git(gitdir, "show", "-s", "--format=%cI", commit).strip()

    ours = {p.name.replace("_", "-"): p / "package.py" for p in sorted(OUR_PACKAGES.iterdir())
            if (p / "package.py").exists()}
    packages: dict[str, dict] = {}
    # the builtin packages we extend, with their full directives (read first: our recipes need them)
    for name in ours:
        text = _builtin_text(gitdir, commit, name)
        if text is not None:
            packages[name] = _read_builtin(text)
    # every package any of our recipes (own or inherited directives) depends on
    wanted: set[str] = set()
    for name, path in ours.items():
        recipe = load_recipe(path, packages)
        wanted |= {parse_spec(s)[0] for s, _ in recipe.depends}
    for name in sorted(wanted - set(packages)):
        text = _builtin_text(gitdir, commit, name)
        if text is None:
            packages[name] = {"absent": True}  # a virtual (c, cxx, mpi) or ours only
            continue
        info = _read_builtin(text)
        info.pop("depends", None)
        info.pop("class", None)
        packages[name] = info
    OUT.write_text(json.dumps({
        "source": "https://github.com/spack/spack-packages",
        "commit": commit, "commit_date": date,
        "generated_by": "spack/tools/builtin_versions.py",
        "packages": dict(sorted(packages.items())),
    }, indent=1) + "\n")
    print(f"{OUT.relative_to(REPO)}: {len(packages)} packages from spack-packages {commit[:12]} ({date})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
