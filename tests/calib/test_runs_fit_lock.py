"""Calibration runs write into a (possibly shared) store without following links: the fit lock and the
temporaries behind run.json, task and chunk files refuse a planted link and leave its target as it was."""

from __future__ import annotations

import os

from nmcluster.calib import runs
from nmcluster.calib.store import CalibStore

PARAMS = {"reps": 2, "driver_reps": 3, "neuron_duration": 500.0, "seed": 1, "neuron_target": "rate"}


def test_fit_refuses_a_planted_lock_link_then_commits(tmp_path, capsys):
    store = CalibStore(tmp_path / "store")
    run, _ = runs.plan(store, "station500", PARAMS, {"neuron_chunks": 1, "driver_chunks": 1})
    assert [runs.run_task(run.dir, i) for i in range(2)] == [0, 0]
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    os.symlink(victim, run.dir / "fit.lock")
    assert runs.fit_if_complete(run) == 1
    assert "symbolic link" in capsys.readouterr().err
    assert victim.read_text() == "keep me\n" and run.committed() is None
    (run.dir / "fit.lock").unlink()
    assert runs.fit_if_complete(run) == 0 and run.committed() == 1
    assert runs.fit_if_complete(run) == 0 and store.current("station500") == 1  # once only


def test_run_files_never_written_through_a_planted_temporary(tmp_path, monkeypatch):
    """run.json, task and chunk files are published through a temporary created with O_EXCL|O_NOFOLLOW:
    a link planted at the temporary's name (made guessable here) is refused, its target untouched."""
    import pytest

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    monkeypatch.setattr(runs.os, "urandom", lambda n: b"\x00" * n)
    target = tmp_path / "run.json"
    os.symlink(victim, tmp_path / f".run.json.{'00' * 6}.tmp")
    with pytest.raises(FileExistsError):
        runs._write_json(target, {"a": 1})
    assert victim.read_text() == "keep me\n" and not target.exists()
    os.unlink(tmp_path / f".run.json.{'00' * 6}.tmp")
    runs._write_json(target, {"a": 1})
    assert runs._read_json(target) == {"a": 1} and sorted(p.name for p in tmp_path.iterdir()) == \
        ["run.json", "victim.txt"]
