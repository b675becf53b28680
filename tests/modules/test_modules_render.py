"""Rendering and installing modulefiles (``nmcluster.modules``, ``nmcluster admin install-modules``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import nmcluster.modules as modules
from nmcluster import __version__
from nmcluster.cli.main import main
from nmcluster.config import parse_config
from nmcluster.errors import UserInputError
from nmcluster.modules import (
    GENERATED_MARKER,
    ModuleSettings,
    install_modulefiles,
    render_modulefiles,
    running_bin_dir,
    settings_for,
)

V = __version__


def _settings(**kw) -> ModuleSettings:
    cfg = parse_config(kw.pop("config", {}), env={"HOME": "/nonexistent", "USER": "nobody"})
    return settings_for(cfg, bin_dir=kw.pop("bin_dir", Path("/opt/nmcluster/bin")), **kw)


def test_default_config_files():
    files = render_modulefiles(_settings())
    assert sorted(files) == sorted([
        f"nmcluster/{V}", "nmcluster/.version",
        f"spikey/{V}", "spikey/station500", "spikey/station501", "spikey/station502", "spikey/station600",
        "spikey/.version",
        f"wafer/{V}", "wafer/w33", "wafer/w37", "wafer/.version",
        f"spinnaker/{V}", "spinnaker/.version",
    ])
    for name, text in files.items():
        assert text.startswith("#%Module1.0\n"), name
        assert GENERATED_MARKER in text[:512], name
    assert f'set ModulesVersion "{V}"' in files["spikey/.version"]


def test_nmcluster_module_contents():
    text = render_modulefiles(_settings(site_config=Path("/etc/nm/site.toml")))[f"nmcluster/{V}"]
    lines = text.splitlines()
    assert "conflict nmcluster" in lines
    assert 'prepend-path PATH "/opt/nmcluster/bin"' in lines
    assert 'setenv NMCLUSTER_CONFIG "/etc/nm/site.toml"' in lines
    assert "proc ModulesHelp { } {" in lines
    assert 'module-whatis "Name: nmcluster"' in lines
    assert f'module-whatis "Version: {V}"' in lines
    # without a site config nmcluster's own lookup applies: no NMCLUSTER_CONFIG
    assert "NMCLUSTER_CONFIG" not in render_modulefiles(_settings())[f"nmcluster/{V}"]


def test_generic_nmcluster_module_requires_nmcluster_on_path():
    text = render_modulefiles(_settings(bin_dir=None))[f"nmcluster/{V}"]
    assert "prepend-path" not in text
    assert "auto_execok nmcluster" in text


def test_hardware_module_contents():
    files = render_modulefiles(_settings())
    station = files["spikey/station500"].splitlines()
    assert "conflict spikey wafer spinnaker" in station
    assert "    depends-on nmcluster" in station and "    prereq nmcluster" in station
    assert 'setenv NMCLUSTER_PARTITION "spikey"' in station
    assert 'setenv MY_STAGE1_STATION "station500"' in station
    assert "MY_STAGE1_STATION" not in files[f"spikey/{V}"].replace("MY_STAGE1_STATION=", "")
    assert 'setenv NMCLUSTER_WAFER "37"' in files["wafer/w37"].splitlines()
    assert 'setenv NMCLUSTER_PARTITION "spinnaker"' in files[f"spinnaker/{V}"].splitlines()


def test_stations_and_wafers_follow_the_site_config():
    files = render_modulefiles(_settings(config={"stations": [{"number": 666}, {"number": 7}],
                                                 "wafers": [{"id": 21}]}))
    assert sorted(n for n in files if n.startswith("spikey/station")) == ["spikey/station666",
                                                                          "spikey/station7"]
    assert [n for n in files if n.startswith("wafer/w")] == ["wafer/w21"]


def test_tcl_quoting_of_odd_paths():
    files = render_modulefiles(_settings(bin_dir=Path('/opt/a b/$x/[y]/{z}/"q"\\')))
    assert r'prepend-path PATH "/opt/a b/\$x/\[y\]/\{z\}/\"q\"\\"' in files[f"nmcluster/{V}"]


@pytest.mark.parametrize("bad", [
    dict(version="0.1 beta"), dict(version=""), dict(version="../x"),
    dict(bin_dir=Path("relative/bin")), dict(site_config=Path("site.toml")),
    dict(bin_dir=Path("/opt/new\nline")), dict(stations=(-1,)), dict(wafers=(-3,)),
])
def test_bad_settings_are_user_errors(bad):
    settings = ModuleSettings(**{"version": V, "bin_dir": Path("/opt/bin"), **bad})
    with pytest.raises(UserInputError):
        render_modulefiles(settings)


def test_install_replaces_own_files_and_removes_stale_stations(tmp_path):
    prefix = tmp_path / "mf"
    first = install_modulefiles(prefix, render_modulefiles(_settings()))
    assert (prefix / "spikey" / "station600").is_file()
    assert len(first.written) == 14 and first.removed == ()
    (prefix / "spikey" / "station999").write_text("#%Module1.0\n# the admin's own\n")
    second = install_modulefiles(prefix, render_modulefiles(_settings(config={"stations": [{"number": 500}],
                                                                               "wafers": []})))
    assert sorted(p.name for p in second.removed) == ["station501", "station502", "station600", "w33", "w37"]
    assert sorted(p.name for p in (prefix / "spikey").iterdir()) == [".version", V, "station500",
                                                                      "station999"]
    assert not list(prefix.rglob(".nmcluster-*"))  # no temporary files left
    assert oct((prefix / "spikey" / "station500").stat().st_mode & 0o777) == "0o644"


def test_install_refuses_foreign_files(tmp_path):
    prefix = tmp_path / "mf"
    (prefix / "spikey").mkdir(parents=True)
    (prefix / "spikey" / "station500").write_text("#%Module1.0\nsetenv X 1\n")
    with pytest.raises(UserInputError, match="refusing to overwrite .*station500"):
        install_modulefiles(prefix, render_modulefiles(_settings()))
    assert not (prefix / "nmcluster").exists()  # checked before anything is written
    with pytest.raises(UserInputError, match="not a directory"):
        install_modulefiles(prefix / "spikey" / "station500", {})


def test_running_bin_dir(tmp_path):
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    exe = venv_bin / "nmcluster"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    other = tmp_path / "python" / "bin"
    other.mkdir(parents=True)
    # the running script wins (spack: python and nmcluster live in different prefixes)
    assert running_bin_dir(str(exe), str(other / "python3")) == venv_bin
    # python -m nmcluster.cli.main: the venv's bin (no symlink resolution)
    assert running_bin_dir("/somewhere/main.py", str(venv_bin / "python")) == venv_bin
    with pytest.raises(UserInputError, match="--bin-dir"):
        running_bin_dir("/somewhere/main.py", str(other / "python3"))


def test_load_site_config(tmp_path, monkeypatch):
    monkeypatch.delenv("NMCLUSTER_CONFIG", raising=False)  # the Slurm fixture sets it for the session
    monkeypatch.setattr(modules, "SYSTEM_CONFIG", tmp_path / "absent.toml")
    config, path = modules.load_site_config(None)
    assert path is None and sorted(config.stations) == [500, 501, 502, 600]
    system = tmp_path / "system.toml"
    system.write_text("stations = [{number = 5}]\n")
    monkeypatch.setattr(modules, "SYSTEM_CONFIG", system)
    config, path = modules.load_site_config(None)
    assert path is None and sorted(config.stations) == [5]  # nmcluster reads it anyway
    monkeypatch.chdir(tmp_path)
    config, path = modules.load_site_config(Path("system.toml"))
    assert path == system  # made absolute for NMCLUSTER_CONFIG
    with pytest.raises(UserInputError, match="no such file"):
        modules.load_site_config(tmp_path / "missing.toml")


# --------------------------------------------------------------------------------------------------
# The CLI


def test_cli_help_has_an_example(capsys):
    assert main(["admin", "install-modules", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Example" in out and "nmcluster admin install-modules --prefix" in out
    assert "module load nmcluster spikey/station500" in out


def test_cli_writes_files(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(modules, "SYSTEM_CONFIG", tmp_path / "absent.toml")
    site = tmp_path / "site.toml"
    site.write_text("stations = [{number = 510}]\nwafers = [{id = 20}]\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nmcluster").write_text("#!/bin/sh\n")
    (bin_dir / "nmcluster").chmod(0o755)
    rc = main(["admin", "install-modules", "--prefix", str(tmp_path / "mf"), "--site-config", str(site),
               "--bin-dir", str(bin_dir)])
    out = capsys.readouterr().out
    assert rc == 0
    assert f"wrote {tmp_path / 'mf' / 'spikey' / 'station510'}" in out
    assert f"stations and wafers from {site}" in out
    text = (tmp_path / "mf" / "nmcluster" / V).read_text()
    assert f'prepend-path PATH "{bin_dir}"' in text
    assert f'setenv NMCLUSTER_CONFIG "{site}"' in text
    assert (tmp_path / "mf" / "wafer" / "w20").is_file()


@pytest.mark.parametrize("args, message", [
    (["--site-config", "/nonexistent/site.toml"], "--site-config /nonexistent/site.toml: no such file"),
    (["--bin-dir", "/"], "--bin-dir / has no executable nmcluster"),
    (["--site-config", "{bad}"], "site config"),
])
def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys, args, message):
    if "{bad}" in args:
        bad = tmp_path / "bad.toml"
        bad.write_text("stations = [{numbr = 1}]\n")
        args = [a.replace("{bad}", str(bad)) for a in args]
    rc = main(["admin", "install-modules", "--prefix", str(tmp_path / "mf"), *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("nmcluster: error: ")
    assert message in err
    assert not (tmp_path / "mf").exists()


def test_cli_prefix_is_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert main(["admin", "install-modules", "--prefix", str(tmp_path / "file")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_installed_executable_puts_its_own_bin_dir_on_path(tmp_path):
    exe = Path(sys.executable).parent / "nmcluster"
    if not exe.is_file():
        pytest.skip("no nmcluster script next to this Python")
    env = {**os.environ, "NMCLUSTER_CONFIG": ""}
    proc = subprocess.run([str(exe), "admin", "install-modules", "--prefix", str(tmp_path / "mf")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "mf" / "nmcluster" / V).read_text()
    assert f'prepend-path PATH "{os.path.abspath(exe.parent)}"' in text


def test_install_modules_honours_nmcluster_config(tmp_path, monkeypatch):
    """Without --site-config the admin's $NMCLUSTER_CONFIG is used and named in the module, so the
    users' jobs use the same job root as the admin's (issue 26); --site-config still wins."""
    monkeypatch.setattr(modules, "SYSTEM_CONFIG", tmp_path / "absent.toml")
    site = tmp_path / "site.toml"
    site.write_text("stations = [{number = 512}]\n")
    config, path = modules.load_site_config(None, env={"NMCLUSTER_CONFIG": str(site)})
    assert path == site and sorted(config.stations) == [512]
    other = tmp_path / "other.toml"
    other.write_text("stations = [{number = 7}]\n")
    config, path = modules.load_site_config(other, env={"NMCLUSTER_CONFIG": str(site)})
    assert path == other and sorted(config.stations) == [7]
    config, path = modules.load_site_config(None, env={"NMCLUSTER_CONFIG": "  "})
    assert path is None and sorted(config.stations) == [500, 501, 502, 600]
    with pytest.raises(UserInputError, match=r"\$NMCLUSTER_CONFIG=.*missing.toml: no such file"):
        modules.load_site_config(None, env={"NMCLUSTER_CONFIG": str(tmp_path / "missing.toml")})
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nmcluster").write_text("#!/bin/sh\n")
    (bin_dir / "nmcluster").chmod(0o755)
    monkeypatch.setenv("NMCLUSTER_CONFIG", str(site))
    assert main(["admin", "install-modules", "--prefix", str(tmp_path / "mf"), "--bin-dir", str(bin_dir)]) == 0
    text = (tmp_path / "mf" / "nmcluster" / V).read_text()
    assert f'setenv NMCLUSTER_CONFIG "{site}"' in text
    assert (tmp_path / "mf" / "spikey" / "station512").is_file()


def test_python_hook_of_a_prefix(tmp_path):
    """--bin-dir of a venv/Spack prefix: its own pynn_hook goes on PYTHONPATH; none found: none added."""
    bin_dir = tmp_path / "prefix" / "bin"
    bin_dir.mkdir(parents=True)
    assert modules.python_hook_for(bin_dir) is None
    hook = tmp_path / "prefix" / "lib" / "python3.12" / "site-packages" / "nmcluster" / "pynn_hook"
    hook.mkdir(parents=True)
    (hook / "sitecustomize.py").write_text("")
    assert modules.python_hook_for(bin_dir) == hook
    text = render_modulefiles(modules.ModuleSettings(bin_dir=bin_dir, python_hook=hook))[f"nmcluster/{V}"]
    assert f'prepend-path PYTHONPATH "{hook}"' in text
    assert "PYTHONPATH" not in render_modulefiles(_settings())[f"nmcluster/{V}"]
