"""``pyNN.nmcluster.<backend>`` by every install route, in real child interpreters (issue 26).

The .pth route (a venv or wheel install) is covered by the rest of the suite and by
scripts/ci-wheel-smoke (a wheel in a fresh venv).  Here the routes without it: PYTHONPATH only (how
``spack load`` and Spack's modules expose packages: .pth files of PYTHONPATH entries are not run),
``python -S``, a Spack view (a symlink tree that merges pyNN/ of two prefixes), and the job runner's
environment.  The children run the base interpreter (not the venv, whose site-packages .pth files
would install the finder behind the test's back) with the venv's site-packages only on PYTHONPATH.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import pyNN

from nmcluster import _pynn_alias

REPO = Path(__file__).resolve().parents[1]
_REAL_SITE = Path(pyNN.__file__).resolve().parents[1]  # the site-packages holding PyNN (and numpy, ...)


def _site_without_portion() -> Path:
    """The venv's site-packages without the ``pyNN/nmcluster`` portion (tests/pynn_sites.py), once per session."""
    import tempfile

    from tests.pynn_sites import site_without_portion

    root = Path(tempfile.gettempdir()) / f"nmcluster-site-without-portion-{os.getpid()}"
    if not root.exists():
        tmp = site_without_portion(_REAL_SITE, Path(tempfile.mkdtemp(prefix="site-", dir=tempfile.gettempdir())))
        try:
            tmp.rename(root)
        except OSError:
            pass
    return root


SITE = _site_without_portion()
BASE_PYTHON = Path(getattr(sys, "_base_executable", sys.executable))
PROBE = ("import pyNN.nmcluster.spikey as a, nmcluster.emulators.spikey as b, sys;"
         "assert a is b, 'two copies';"
         "print('ok', a.__name__, 'nmcluster._pynn_alias' in sys.modules)")


def _run(args: list[str], pythonpath: list[Path], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    return subprocess.run([str(BASE_PYTHON), "-s", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def base_python_is_clean():
    """The base interpreter must not see PyNN or nmcluster by itself, or the routes prove nothing."""
    proc = subprocess.run([str(BASE_PYTHON), "-s", "-c", "import importlib.util as u;"
                           "print(u.find_spec('pyNN') is None, u.find_spec('nmcluster') is None)"],
                          capture_output=True, text=True, env={"PATH": os.environ["PATH"]}, cwd="/")
    if proc.stdout.split() != ["True", "True"]:
        pytest.skip(f"{BASE_PYTHON} sees PyNN or nmcluster without PYTHONPATH")


def test_pythonpath_only_without_hook_fails(base_python_is_clean, tmp_path):
    """The issue as reported: nmcluster and PyNN on PYTHONPATH, no .pth processed -> no such module."""
    proc = _run(["-c", PROBE], [REPO, SITE], tmp_path)
    assert proc.returncode == 1
    assert "No module named 'pyNN.nmcluster'" in proc.stderr


def test_pythonpath_with_hook_dir(base_python_is_clean, tmp_path):
    """What the job runner, the modulefiles and the Spack recipe put first on PYTHONPATH."""
    proc = _run(["-c", PROBE], [Path(_pynn_alias.hook_dir()), REPO, SITE], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["ok", "nmcluster.emulators.spikey", "True"]


def test_hook_chains_the_sites_own_sitecustomize(base_python_is_clean, tmp_path):
    """The site's sitecustomize (later on sys.path) still runs after ours."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import os\nos.environ['SITE_CUSTOMIZED'] = '42'\n")
    proc = _run(["-c", PROBE + ";import os;print(os.environ.get('SITE_CUSTOMIZED'))"],
                [Path(_pynn_alias.hook_dir()), other, REPO, SITE], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == "42"


def test_import_nmcluster_first_works_even_with_dash_S(base_python_is_clean, tmp_path):
    proc = _run(["-S", "-c", "import nmcluster;" + PROBE], [REPO, SITE], tmp_path)
    assert proc.returncode == 0, proc.stderr
    # -S: the hook directory's sitecustomize does not run, so it alone is not enough
    proc = _run(["-S", "-c", PROBE], [Path(_pynn_alias.hook_dir()), REPO, SITE], tmp_path)
    assert proc.returncode == 1 and "No module named 'pyNN.nmcluster'" in proc.stderr


def _view(tmp_path: Path) -> Path:
    """A Spack-view-like symlink tree: pyNN/ merged from PyNN's files and the wheel's portion."""
    view = tmp_path / "view" / "site-packages"
    (view / "pyNN" / "nmcluster").mkdir(parents=True)
    for entry in (SITE / "pyNN").iterdir():
        (view / "pyNN" / entry.name).symlink_to(entry)
    (view / "pyNN" / "nmcluster" / "__init__.py").symlink_to(REPO / "nmcluster" / "_pynn_portion.py")
    (view / "nmcluster").symlink_to(REPO / "nmcluster")
    return view


def test_wheel_portion_in_a_view_works_with_dash_S(base_python_is_clean, tmp_path):
    """The wheel's real pyNN/nmcluster beside PyNN's files: no .pth, no hook, not even site."""
    view = _view(tmp_path)
    proc = _run(["-S", "-c", PROBE], [view, SITE], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[:2] == ["ok", "nmcluster.emulators.spikey"]


def test_portion_in_a_separate_prefix_is_not_seen(base_python_is_clean, tmp_path):
    """Why the portion alone does not serve ``spack load``: PyNN is a regular package (it has
    pyNN/__init__.py), so its __path__ is its own directory and another PYTHONPATH entry's pyNN/nmcluster
    is never searched -- a namespace portion cannot join a regular package, in either order."""
    prefix = tmp_path / "py-nmcluster" / "site-packages"
    (prefix / "pyNN" / "nmcluster").mkdir(parents=True)
    (prefix / "pyNN" / "nmcluster" / "__init__.py").write_text(
        (REPO / "nmcluster" / "_pynn_portion.py").read_text())
    (prefix / "nmcluster").symlink_to(REPO / "nmcluster")
    for order in ([prefix, SITE], [SITE, prefix]):
        proc = _run(["-S", "-c", "import pyNN; print(pyNN.__path__);" + PROBE], order, tmp_path)
        assert proc.returncode == 1, proc.stdout
        assert "No module named 'pyNN.nmcluster'" in proc.stderr
        assert str(SITE / "pyNN") in proc.stdout


def test_job_environment_puts_the_hook_first():
    from nmcluster.executors.runner import job_environment
    from nmcluster.partitions.base import ResourceRequest

    hook = _pynn_alias.hook_dir()
    assert _pynn_alias.pythonpath_with_hook(None) == hook
    assert _pynn_alias.pythonpath_with_hook(f"/a{os.pathsep}{hook}{os.pathsep}/b") == \
        os.pathsep.join([hook, "/a", "/b"])
    req = ResourceRequest(kind="batch", slurm_partition="batch", slurm_args=(), environment={},
                          hardware_config={}, description="")
    env = job_environment(req, None, {"PYTHONPATH": "/site/lib"})
    assert env["PYTHONPATH"] == os.pathsep.join([hook, "/site/lib"])

