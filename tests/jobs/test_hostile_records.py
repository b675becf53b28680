"""Crafted values in configs and records end in one readable line (exit 2), never a traceback, and a bad
record never breaks commands for the other jobs (issue 19: "Tracebacks where a one-line error belongs")."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest

from tests.jobs.conftest import LocalSite


def _one_line(proc: subprocess.CompletedProcess, code: int, needle: str) -> None:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture
def site(tmp_path):
    return LocalSite(tmp_path)


def _script(site: LocalSite) -> str:
    path = site.root / "s.py"
    path.write_text("print('ok')\n")
    return str(path)


def test_site_config_that_is_not_utf8(site):
    site.config.write_bytes(b'job_root = "/tmp/x\xff\xfe"\n')
    _one_line(site.cli("list"), 2, "not UTF-8")


@pytest.mark.parametrize("toml, needle", [
    ("[[stations]]\nnumber = -5\n", "stations[0].number must lie in 0..99999, got -5"),
    ("[[stations]]\nnumber = " + "9" * 5000 + "\n", "digits"),
    ("[[wafers]]\nid = -33\n", "wafers[0].id must lie in 0..9999"),
    ('[hardware]\nudev_group = "plugdev\\", RUN+=\\"/bin/sh -c id"\n', "udev_group must be a group name"),
])
def test_hostile_site_config_values(tmp_path, toml, needle):
    site = LocalSite(tmp_path, extra_toml=toml)
    _one_line(site.cli("list"), 2, needle)


def test_udev_rule_refuses_injected_group(site):
    _one_line(site.cli("admin", "udev-rule", "--group", 'plugdev", RUN+="/bin/sh'), 2, "group name")
    ok = site.cli("admin", "udev-rule", "--group", "spikey-users", "--rule-only", check=True).stdout
    assert ok.strip().endswith('GROUP="spikey-users", MODE="0660"')


@pytest.mark.parametrize("config", [
    '{"STATION": ' + "5" * 5000 + "}",
    '{"STATION": "station' + "5" * 5000 + '"}',
    '{"STATION": -500}',
    '{"WAFER": ' + "3" * 5000 + ', "HICANNS": [1]}',
    '[' * 100000 + ']' * 100000,
])
def test_hostile_hardware_configs(site, config):
    platform = "wafer" if "WAFER" in config else "spikey"
    (site.root / "hw.json").write_text(config)
    proc = site.cli("submit", _script(site), "-p", platform, "--config", f"@{site.root / 'hw.json'}")
    assert proc.returncode == 2, proc.stderr
    assert len([ln for ln in proc.stderr.splitlines() if ln.strip()]) == 1 and "Traceback" not in proc.stderr
    assert site.records() == []  # nothing queued, no record left behind


def test_tags_with_markup_print_as_written(site):
    script = _script(site)
    markup = site.submit(script, "-p", "spikey", "--tag", "[/]", "--tag", "[bold red]x[/bold red]")
    plain = site.submit(script, "-p", "spikey", "--tag", "plain")
    for job in (markup, plain):
        site.wait(job)
    out = site.cli("list", "--all", check=True, env={**site.env, "COLUMNS": "400"}).stdout
    assert "[/],[bold red]x[/bold red]" in out and "plain" in out
    assert site.cli("status", check=True).returncode == 0


def test_one_bad_record_does_not_break_the_others(site):
    script = _script(site)
    good, bad = site.submit(script, "-p", "spikey"), site.submit(script, "-p", "spikey")
    for job in (good, bad):
        site.wait(job)
    with sqlite3.connect(site.job_root / "jobs.sqlite") as db:  # a hand-edited / crafted row
        db.execute("UPDATE jobs SET hardware_config = '{broken', calib_version = ? WHERE id = ?",
                   ("9" * 400, bad))
    listed = {r["id"]: r for r in site.records()}
    assert listed[good]["status"] == "finished"
    assert listed[bad]["status"] == "error" and "unreadable job record" in listed[bad]["reason"]
    assert site.record(good)["status"] == "finished"
    assert site.cli("list", "--all", check=True).returncode == 0
    # a huge version stored as a number (REAL in SQLite) is caught the same way
    with sqlite3.connect(site.job_root / "jobs.sqlite") as db:
        db.execute("UPDATE jobs SET hardware_config = '{}', calib_version = 1e300 WHERE id = ?", (bad,))
    assert "unreadable" in site.record(bad)["reason"]
    # and the bad one can still be removed
    assert site.cli("remove", str(bad)).returncode == 0
    assert [r["id"] for r in site.records()] == [good]
