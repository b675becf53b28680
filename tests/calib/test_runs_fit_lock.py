"""The fit of a calibration run takes its lock in the (possibly shared) store without following links:
a ``fit.lock`` planted as a link to another file is refused and that file is left as it was."""

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
