"""The rendered modulefiles under the real module systems: Lmod and Environment Modules 5.

Each scenario runs in a clean ``bash --noprofile --norc`` (empty environment but HOME, PATH=/usr/bin:/bin,
TERM) that sources the module system's bash init file, adds the rendered directory with ``module use``
and then runs one shell step at a time, recording after each step its exit status, its output and the
whole environment (``env -0``).

Lmod is Debian's ``lmod`` package (/usr/share/lmod).  Environment Modules 5 conflicts with it as an apt
package, so ``scripts/get-environment-modules`` unpacks Debian's ``environment-modules`` into a
directory (``$NMCLUSTER_ENVMODULES_DIR`` when set, reused between runs; else a temporary one).  A missing
module system skips its tests, or fails them when ``NMCLUSTER_REQUIRE_MODULES=1`` (CI).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from nmcluster import __version__
from nmcluster.config import parse_config
from nmcluster.modules import (
    default_settings,
    install_modulefiles,
    render_modulefiles,
    settings_for,
)

REPO = Path(__file__).resolve().parents[2]
REQUIRE = os.environ.get("NMCLUSTER_REQUIRE_MODULES") == "1"
LMOD_INITS = [Path("/usr/share/lmod/lmod/init/bash"), *sorted(Path("/usr/share/lmod").glob("*/init/bash"))]
BASE_PATH = "/usr/bin:/bin"


def _unavailable(why: str):
    if REQUIRE:
        pytest.fail(f"{why} (NMCLUSTER_REQUIRE_MODULES=1)")
    pytest.skip(why)


# --------------------------------------------------------------------------------------------------
# Running steps in a clean shell


@dataclass
class Step:
    rc: int
    out: str
    err: str
    env: dict[str, str]

    @property
    def loaded(self) -> list[str]:
        return [m for m in self.env.get("LOADEDMODULES", "").split(":") if m]


@dataclass
class Run:
    base: dict[str, str]
    steps: list[Step]


# Bookkeeping of the module systems themselves, left out when environments are compared: Lmod keeps
# its module table in _ModuleTable<NNN>_ chunks (a shorter table leaves a stale chunk behind) and path
# reference counts in __LMOD_REF_COUNT_<VAR>; Environment Modules 5 unsets an empty LOADEDMODULES
# that its init had set to "".
_BOOKKEEPING = re.compile(r"_ModuleTable\d+_|_ModuleTable_Sz_|__LMOD_REF_COUNT_\w+")


def user_env(env: dict[str, str]) -> dict[str, str]:
    out = {}
    for key, value in env.items():
        if _BOOKKEEPING.fullmatch(key):
            continue
        if key in ("LOADEDMODULES", "_LMFILES_") and value == "":
            continue
        out[key] = value
    return out


def _read_env(path: Path) -> dict[str, str]:
    env = {}
    for item in path.read_bytes().split(b"\0"):
        if item:
            key, _, value = item.decode("utf-8", "surrogateescape").partition("=")
            env[key] = value
    return env


class ModuleShell:
    def __init__(self, name: str, init: Path, home: Path, extra_env: dict[str, str] | None = None):
        self.name = name
        self.init = init
        self.home = home
        self.extra_env = dict(extra_env or {})

    def run(self, steps: list[str], modulepaths: list[Path], path: str = BASE_PATH,
            env: dict[str, str] | None = None, workdir: Path | None = None) -> Run:
        workdir = workdir or Path(self.home) / "run"
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        d = shlex.quote(str(workdir))
        lines = [f". {shlex.quote(str(self.init))}"]
        lines += [f"module use {shlex.quote(str(p))}" for p in modulepaths]
        lines.append(f"env -0 > {d}/base.env")
        for i, step in enumerate(steps):
            lines.append(f"{{ {step}\n}} > {d}/{i}.out 2> {d}/{i}.err; echo $? > {d}/{i}.rc; "
                         f"env -0 > {d}/{i}.env")
        script = workdir / "script.sh"
        script.write_text("\n".join(lines) + "\n")
        full_env = {"HOME": str(self.home), "PATH": path, "TERM": "dumb", "LANG": "C.UTF-8",
                    **self.extra_env, **(env or {})}
        proc = subprocess.run(["bash", "--noprofile", "--norc", str(script)], env=full_env,
                              capture_output=True, text=True, timeout=120, cwd=workdir)
        if not (workdir / "base.env").exists():
            raise AssertionError(f"{self.name}: the shell did not start:\n{proc.stdout}\n{proc.stderr}")
        out = []
        for i in range(len(steps)):
            if not (workdir / f"{i}.rc").exists():
                raise AssertionError(f"{self.name}: step {i} ({steps[i]}) did not finish:\n"
                                     f"{proc.stdout}\n{proc.stderr}")
            out.append(Step(rc=int((workdir / f"{i}.rc").read_text()),
                            out=(workdir / f"{i}.out").read_text(),
                            err=(workdir / f"{i}.err").read_text(),
                            env=_read_env(workdir / f"{i}.env")))
        return Run(base=_read_env(workdir / "base.env"), steps=out)


@pytest.fixture(scope="session")
def envmodules_dir(tmp_path_factory) -> Path:
    if shutil.which("tclsh") is None:
        _unavailable("tclsh is not installed (apt-get install tcl)")
    target = os.environ.get("NMCLUSTER_ENVMODULES_DIR")
    folder = Path(target) if target else tmp_path_factory.mktemp("envmodules")
    if not (folder / "init" / "bash").exists():
        if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
            _unavailable("Environment Modules: no apt-get/dpkg to fetch Debian's environment-modules")
        proc = subprocess.run([str(REPO / "scripts" / "get-environment-modules"), str(folder)],
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            _unavailable(f"scripts/get-environment-modules failed: {proc.stderr.strip()[-500:]}")
    return folder


@pytest.fixture(scope="session", params=["lmod", "envmodules"])
def shell(request, tmp_path_factory) -> ModuleShell:
    home = tmp_path_factory.mktemp(f"home-{request.param}")
    if request.param == "lmod":
        init = next((p for p in LMOD_INITS if p.is_file()), None)
        if init is None:
            _unavailable("Lmod is not installed (apt-get install lmod)")
        if shutil.which("tclsh") is None:
            _unavailable("tclsh is not installed: Lmod needs it for Tcl modulefiles (apt-get install tcl)")
        return ModuleShell("lmod", init, home)
    folder = request.getfixturevalue("envmodules_dir")
    return ModuleShell("envmodules", folder / "init" / "bash", home)


def nmcluster_bin_dir() -> Path:
    """Where the nmcluster under test lives (the venv running pytest)."""
    here = Path(sys.executable).parent
    if (here / "nmcluster").is_file():
        return Path(os.path.abspath(here))
    found = shutil.which("nmcluster")
    if found is None:
        pytest.fail("the nmcluster executable is not installed next to this Python or on PATH")
    return Path(found).parent


def render(prefix: Path, *, bin_dir: Path | None, site_config: Path | None = None,
           version: str = __version__, config: dict | None = None) -> Path:
    cfg = parse_config(config or {}, env={"HOME": "/nonexistent", "USER": "nobody"})
    settings = settings_for(cfg, bin_dir=bin_dir, site_config=site_config, version=version)
    install_modulefiles(prefix, render_modulefiles(settings))
    return prefix


@pytest.fixture(scope="session")
def site_toml(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("site") / "site.toml"
    path.write_text("[slurm]\ndefault_partition = \"batch\"\n")
    return path


@pytest.fixture(scope="session")
def installed(tmp_path_factory, site_toml) -> Path:
    """Modulefiles rendered for the nmcluster under test, with a site config."""
    return render(tmp_path_factory.mktemp("modulefiles"), bin_dir=nmcluster_bin_dir(),
                  site_config=site_toml)


# --------------------------------------------------------------------------------------------------
# Scenarios


def test_load_nmcluster_and_station_then_unload_restores(shell, installed, site_toml):
    bin_dir = nmcluster_bin_dir()
    run = shell.run(["module load nmcluster spikey/station500",
                     "command -v nmcluster; nmcluster --version",
                     "module unload spikey/station500 nmcluster"], [installed])
    load, version, unload = run.steps
    assert load.rc == 0, load.err
    assert load.loaded == [f"nmcluster/{__version__}", "spikey/station500"]
    assert load.env["NMCLUSTER_PARTITION"] == "spikey"
    assert load.env["MY_STAGE1_STATION"] == "station500"
    assert load.env["NMCLUSTER_CONFIG"] == str(site_toml)
    assert load.env["PATH"] == f"{bin_dir}:{BASE_PATH}"
    assert "NMCLUSTER_WAFER" not in load.env
    assert version.rc == 0, version.err
    assert version.out.splitlines() == [str(bin_dir / "nmcluster"), f"nmcluster, version {__version__}"]
    assert unload.rc == 0, unload.err
    assert unload.loaded == []
    assert user_env(unload.env) == user_env(run.base)


def test_station_alone_loads_nmcluster_and_unloads_it_again(shell, installed):
    run = shell.run(["module load spikey/station600", "nmcluster --version", "module unload spikey"],
                    [installed])
    load, version, unload = run.steps
    assert load.rc == 0, load.err
    assert sorted(load.loaded) == [f"nmcluster/{__version__}", "spikey/station600"]
    assert load.env["MY_STAGE1_STATION"] == "station600"
    assert version.rc == 0 and version.out.strip() == f"nmcluster, version {__version__}"
    assert unload.rc == 0, unload.err
    assert unload.loaded == []  # nmcluster was loaded only for spikey: it goes with it
    assert user_env(unload.env) == user_env(run.base)


def test_explicitly_loaded_nmcluster_stays_when_hardware_module_goes(shell, installed):
    run = shell.run(["module load nmcluster", "module load wafer/w33", "module unload wafer"], [installed])
    _, wafer, unload = run.steps
    assert wafer.rc == 0, wafer.err
    assert wafer.env["NMCLUSTER_PARTITION"] == "wafer"
    assert wafer.env["NMCLUSTER_WAFER"] == "33"
    assert unload.loaded == [f"nmcluster/{__version__}"]
    assert "NMCLUSTER_PARTITION" not in unload.env and "NMCLUSTER_WAFER" not in unload.env
    assert user_env(unload.env) == user_env(run.steps[0].env)


def test_defaults_from_dot_version(shell, installed):
    run = shell.run(["module load spikey", "module unload spikey", "module load wafer",
                     "module unload wafer", "module load spinnaker"], [installed])
    spikey, _, wafer, _, spinnaker = run.steps
    assert spikey.rc == 0, spikey.err
    assert f"spikey/{__version__}" in spikey.loaded
    assert spikey.env["NMCLUSTER_PARTITION"] == "spikey"
    assert "MY_STAGE1_STATION" not in spikey.env  # no station preset: Slurm picks a free one
    assert f"wafer/{__version__}" in wafer.loaded and wafer.env["NMCLUSTER_PARTITION"] == "wafer"
    assert "NMCLUSTER_WAFER" not in wafer.env
    assert f"spinnaker/{__version__}" in spinnaker.loaded
    assert spinnaker.env["NMCLUSTER_PARTITION"] == "spinnaker"


def test_hardware_modules_conflict_and_switch(shell, installed):
    run = shell.run(["module load nmcluster spikey/station500", "module load wafer",
                     "module load spinnaker/" + __version__,
                     "module switch spikey/station500 spikey/station501",
                     "module purge"], [installed])
    load, wafer, spinnaker, switch, purge = run.steps
    for refused in (wafer, spinnaker):
        assert refused.rc != 0
        assert refused.loaded == load.loaded
        assert user_env(refused.env) == user_env(load.env)
        assert re.search(r"conflict|because these module\(s\) are loaded", refused.err, re.I), refused.err
    assert switch.rc == 0, switch.err
    assert switch.loaded == [f"nmcluster/{__version__}", "spikey/station501"]
    assert switch.env["MY_STAGE1_STATION"] == "station501"
    assert purge.rc == 0 and purge.loaded == []
    assert user_env(purge.env) == user_env(run.base)


def test_second_station_same_name(shell, installed):
    """Lmod swaps modules of one name by itself; Environment Modules refuses (conflict spikey)."""
    run = shell.run(["module load spikey/station500", "module load spikey/station501"], [installed])
    first, second = run.steps
    assert first.rc == 0, first.err
    spikeys = [m for m in second.loaded if m.startswith("spikey/")]
    assert len(spikeys) == 1
    if shell.name == "lmod":
        assert second.rc == 0 and spikeys == ["spikey/station501"]
        assert second.env["MY_STAGE1_STATION"] == "station501"
    else:
        assert second.rc != 0 and spikeys == ["spikey/station500"]
        assert second.env["MY_STAGE1_STATION"] == "station500"


def test_two_nmcluster_versions_never_loaded_together(shell, tmp_path):
    prefix = tmp_path / "mf"
    render(prefix, bin_dir=nmcluster_bin_dir(), version="0.0.9")
    render(prefix, bin_dir=nmcluster_bin_dir())
    run = shell.run(["module load nmcluster/0.0.9", f"module load nmcluster/{__version__}",
                     "module avail nmcluster 2>&1"], [prefix])
    first, second, _ = run.steps
    assert first.rc == 0, first.err
    versions = [m for m in second.loaded if m.startswith("nmcluster/")]
    assert len(versions) == 1
    if shell.name == "lmod":  # one name, one module: Lmod swaps
        assert second.rc == 0 and versions == [f"nmcluster/{__version__}"]
    else:  # conflict nmcluster
        assert second.rc != 0 and versions == ["nmcluster/0.0.9"]
        assert "conflict" in second.err.lower()


def test_unloading_nmcluster_under_a_hardware_module(shell, installed):
    run = shell.run(["module load nmcluster spikey/station502", "module unload nmcluster",
                     "module unload spikey"], [installed])
    load, unload_nm, unload_all = run.steps
    assert load.rc == 0
    if shell.name == "envmodules":  # automated module handling unloads the dependent too
        assert unload_nm.loaded == []
    else:  # Lmod unloads nmcluster and warns that spikey/station502 needs it
        assert unload_nm.loaded == ["spikey/station502"]
        assert "nmcluster" in unload_nm.err
    assert unload_all.loaded == []
    assert user_env(unload_all.env) == user_env(run.base)


def test_prereq_enforced_without_automatic_loading(envmodules_dir, installed, tmp_path):
    """With Environment Modules' automated handling off, the dependency is a plain prerequisite.

    (Lmod's depends_on always loads the dependency: covered by the tests above.)
    """
    shell = ModuleShell("envmodules", envmodules_dir / "init" / "bash", tmp_path)
    run = shell.run(["module load spikey/station500", "module load nmcluster spikey/station500"],
                    [installed], env={"MODULES_AUTO_HANDLING": "0"})
    refused, ok = run.steps
    assert refused.rc != 0 and refused.loaded == []
    assert "nmcluster" in refused.err
    assert user_env(refused.env) == user_env(run.base)
    assert ok.rc == 0, ok.err
    assert ok.loaded == [f"nmcluster/{__version__}", "spikey/station500"]


def test_help_whatis_show_and_avail(shell, installed):
    names = sorted(n for n in render_modulefiles(default_settings()) if not n.endswith("/.version"))
    steps = [f"module show {name}" for name in names]
    steps += ["module help spikey/station500", "module whatis spikey/station500",
              "module avail 2>&1"]
    run = shell.run(steps, [installed])
    for name, step in zip(names, run.steps):
        assert step.rc == 0, f"module show {name}: {step.err}"
        assert name.split("/")[0] in step.err + step.out
        assert step.loaded == []
    help_, whatis, avail = run.steps[len(names):]
    assert help_.rc == 0 and "MY_STAGE1_STATION=station500" in help_.err + help_.out
    assert whatis.rc == 0 and "station500" in whatis.err + whatis.out
    text = avail.out + avail.err
    for name in names:
        assert name.split("/")[1] in text


def test_paths_with_spaces_and_tcl_characters(shell, tmp_path):
    odd = tmp_path / "my bin $HOME [x] {y}"
    odd.mkdir()
    (odd / "nmcluster").symlink_to(nmcluster_bin_dir() / "nmcluster")
    config = tmp_path / "site $x [y].toml"
    config.write_text("")
    prefix = render(tmp_path / "mf", bin_dir=odd, site_config=config)
    run = shell.run(["module load nmcluster", "nmcluster --version", "module unload nmcluster"], [prefix])
    load, version, unload = run.steps
    assert load.rc == 0, load.err
    assert load.env["PATH"] == f"{odd}:{BASE_PATH}"
    assert load.env["NMCLUSTER_CONFIG"] == str(config)
    assert version.rc == 0, version.err
    assert user_env(unload.env) == user_env(run.base)


def test_generic_repository_modulefiles(shell):
    """modulefiles/ in the repository: nmcluster must already be on PATH (spack load, a venv)."""
    repo_mf = REPO / "modulefiles"
    bin_dir = nmcluster_bin_dir()
    run = shell.run(["module load nmcluster"], [repo_mf])
    (missing,) = run.steps
    assert missing.rc != 0
    # Lmod wraps its messages at the terminal width, and where depends on the path's length
    assert "nmcluster is not on PATH" in " ".join(missing.err.split())
    assert missing.loaded == []
    with_path = f"{bin_dir}:{BASE_PATH}"
    run = shell.run(["module load nmcluster spikey/station500", "nmcluster --version",
                     "module unload spikey nmcluster"], [repo_mf], path=with_path)
    load, version, unload = run.steps
    assert load.rc == 0, load.err
    assert load.env["PATH"] == with_path
    assert load.env["MY_STAGE1_STATION"] == "station500"
    assert "NMCLUSTER_CONFIG" not in load.env
    assert version.rc == 0
    assert user_env(unload.env) == user_env(run.base)


# --------------------------------------------------------------------------------------------------
# Lmod's syntax check and the Tcl fallback branch


def _lmod_libexec() -> Path:
    for init in LMOD_INITS:
        candidate = init.parent.parent / "libexec" / "check_module_tree_syntax"
        if candidate.is_file():
            return candidate.parent
    _unavailable("Lmod is not installed (apt-get install lmod)")


@pytest.mark.parametrize("which", ["installed", "repository"])
def test_lmod_check_module_tree_syntax(which, installed, tmp_path):
    libexec = _lmod_libexec()
    tree = installed if which == "installed" else REPO / "modulefiles"
    # The checker evaluates each file in load mode: the generic nmcluster module then wants an
    # nmcluster on PATH, as it does for a user.
    path = BASE_PATH if which == "installed" else f"{nmcluster_bin_dir()}:{BASE_PATH}"
    env = {"HOME": str(tmp_path), "PATH": path, "LMOD_VERSION": "check"}
    proc = subprocess.run([str(libexec / "check_module_tree_syntax"), str(tree)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No errors found" in proc.stdout + proc.stderr
    # the checker does catch a broken modulefile next to ours
    broken = tmp_path / "tree"
    shutil.copytree(tree, broken)
    (broken / "spikey" / "station999").write_text("#%Module1.0\nsetenv MY_STAGE1_STATION\nif {\n")
    proc = subprocess.run([str(libexec / "check_module_tree_syntax"), str(broken)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "spikey/station999" in proc.stdout + proc.stderr


_FAKE_MODULE_SYSTEM = r"""
# A module system without depends-on (Environment Modules < 5.1): record what the modulefile asks for.
foreach cmd {conflict prereq setenv prepend-path append-path module-whatis} {
    proc $cmd {args} "puts \"$cmd \$args\""
}
proc module-info {what args} { return 1 }
source [lindex $argv 0]
"""


def test_tcl_fallback_to_prereq(tmp_path):
    if shutil.which("tclsh") is None:
        _unavailable("tclsh is not installed (apt-get install tcl)")
    harness = tmp_path / "fake.tcl"
    harness.write_text(_FAKE_MODULE_SYSTEM)
    files = render_modulefiles(settings_for(parse_config({}), bin_dir=Path("/opt/nm/bin")))
    target = tmp_path / "station500"
    target.write_text(files["spikey/station500"])
    proc = subprocess.run(["tclsh", str(harness), str(target)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    calls = proc.stdout.splitlines()
    assert "prereq nmcluster" in calls
    assert "conflict spikey wafer spinnaker" in calls
    assert "setenv NMCLUSTER_PARTITION spikey" in calls
    assert "append-path NMCLUSTER_COMPAT_NAMES spikey" in calls
    assert "setenv MY_STAGE1_STATION station500" in calls
    target.write_text(files[f"nmcluster/{__version__}"])
    proc = subprocess.run(["tclsh", str(harness), str(target)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "prepend-path PATH /opt/nm/bin" in proc.stdout.splitlines()


def test_repository_modulefiles_render_like_the_library():
    """modulefiles/ is generated: `python -m nmcluster.modules modulefiles` rewrites it."""
    expected = render_modulefiles(default_settings())
    actual = {p.relative_to(REPO / "modulefiles").as_posix(): p.read_text()
              for p in (REPO / "modulefiles").rglob("*") if p.is_file()}
    assert actual == expected, "modulefiles/ is stale: run `python -m nmcluster.modules modulefiles`"


def test_modules_give_pynn_names_to_a_pythonpath_python(shell, tmp_path):
    """A site whose Python finds nmcluster and PyNN through PYTHONPATH (a Spack-module tree): the
    nmcluster module's hook directory makes ``import pyNN.nmcluster.spikey`` work; unloading removes it
    (issue 26).  The interpreter is the base one, which processes no .pth of those directories."""
    import pyNN

    from nmcluster._pynn_alias import hook_dir

    base_python = Path(getattr(sys, "_base_executable", sys.executable))
    # PyNN as a separate prefix has it: without the pyNN/nmcluster portion an install puts beside PyNN
    from tests.pynn_sites import site_without_portion

    site = site_without_portion(Path(pyNN.__file__).resolve().parents[1], tmp_path / "site")
    prefix = tmp_path / "mf"
    cfg = parse_config({}, env={"HOME": "/nonexistent", "USER": "nobody"})
    settings = settings_for(cfg, bin_dir=nmcluster_bin_dir())
    from dataclasses import replace

    install_modulefiles(prefix, render_modulefiles(replace(settings, python_hook=Path(hook_dir()))))
    pythonpath = f"{REPO}:{site}"
    probe = shlex.quote("import pyNN.nmcluster.spikey as a, nmcluster.emulators.spikey as b; "
                        "print(a is b)")
    py = f"{shlex.quote(str(base_python))} -s -c {probe}"
    run = shell.run([py, "module load nmcluster", py, "module unload nmcluster"], [prefix],
                    env={"PYTHONPATH": pythonpath})
    before, load, after, unload = run.steps
    assert before.rc == 1 and "No module named 'pyNN.nmcluster'" in before.err
    assert load.rc == 0, load.err
    assert load.env["PYTHONPATH"] == f"{hook_dir()}:{pythonpath}"
    assert after.rc == 0, after.err
    assert after.out.strip() == "True"
    assert unload.env["PYTHONPATH"] == pythonpath
