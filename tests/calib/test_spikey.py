"""Spikey calibration on the emulated chip: the proof (spread shrinks >= 5x), runs, the backend's use
of the store, job records keeping the version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nmcluster.calib import runs
from nmcluster.calib import spikey as S
from nmcluster.calib.store import CalibError, CalibStore

STATION = 500
PARAMS = {"reps": 4, "driver_reps": 3, "neuron_duration": 500.0, "seed": 1, "neuron_target": "rate"}


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """One full-chip calibration of emulated station 500, committed to a fresh store."""
    root = tmp_path_factory.mktemp("calib")
    store = CalibStore(root)
    run, resumed = runs.plan(store, "station500", PARAMS, {"neuron_chunks": 2, "driver_chunks": 2})
    assert not resumed
    version = runs.run_local(run, workers=1)
    return store, version


def test_calibration_shrinks_spread_at_least_5x(calibrated):
    """THE proof: firing rate at a fixed input and PSP height per driver, before vs after."""
    store, version = calibrated
    cal = S.to_station_calibration(store.read("station500", version))
    before = S.evaluate(STATION, None)
    after = S.evaluate(STATION, cal)
    print("before", before, "after", after)
    assert before["rate_spread"] > 0.1 and before["psp_exc_spread"] > 0.1
    assert after["rate_spread"] * 5 <= before["rate_spread"]
    assert after["psp_exc_spread"] * 5 <= before["psp_exc_spread"]
    assert after["psp_inh_spread"] * 5 <= before["psp_inh_spread"]
    # the fit recovers the chip's hidden fixed pattern
    fp = S.chip.FixedPattern.for_station(STATION, S.chip.NoiseModel())
    data = store.read("station500", version).data
    assert np.std(np.log(data["drivers/driver_factor"] * fp.driver)) < 0.04
    assert np.std(np.log(data["neurons/tau_mem_factor"] * fp.g_leak)) < 0.08
    assert np.abs(data["neurons/readout_offset"][192:] - fp.readout[192:]).max() < 0.1
    assert np.corrcoef(data["neurons/v_thresh_offset"], fp.v_thresh)[0, 1] > 0.8


def test_pynn_backend_applies_store_calibration_and_pinned_version(calibrated, monkeypatch):
    """Through the PyNN backend: the store is the default provider; CALIB_VERSION pins a version."""
    import pyNN.nmcluster.spikey as sim

    store, version = calibrated
    monkeypatch.setenv("NMCLUSTER_CALIB_ROOT", str(store.root))
    monkeypatch.delenv("NMCLUSTER_SPIKEY_CALIBRATION", raising=False)
    monkeypatch.delenv("NMCLUSTER_CALIB_VERSION", raising=False)

    def rates(**kw):
        sim.setup(workStationName=f"station{STATION}", seed=5, **kw)
        pop = sim.Population(384, sim.IF_facets_hardware1(v_rest=S.E_REF, v_thresh=S.V_THRESH, v_reset=S.V_RESET))
        pop.record("spikes")
        sim.run(1000.0)
        counts = np.array([c for _, c in sorted(pop.get_spike_counts().items())], float)
        used = sim.simulator.state.calibration_version
        sim.end()
        return counts, used

    cal_rates, used = rates()
    assert used == f"station{STATION}:{version}"
    from nmcluster.emulators.spikey.calibration import NoCalibration

    raw_rates, used_raw = rates(calibrationProvider=NoCalibration())
    assert used_raw is None
    assert S.spread(cal_rates) * 4 < S.spread(raw_rates)
    # pin an older (here: a deliberately flat) version through the environment
    flat = store.read("station500", version)
    flat.data["neurons/g_leak_factor"] = np.ones(384)
    v_flat = store.commit(flat, notes="flat", make_current=False)
    monkeypatch.setenv("NMCLUSTER_CALIB_VERSION", str(v_flat))
    _, used_pinned = rates()
    assert used_pinned == f"station{STATION}:{v_flat}"
    monkeypatch.setenv("NMCLUSTER_CALIB_VERSION", "99")
    with pytest.raises(Exception, match="99"):
        rates()


def test_failed_chunk_fails_run_commits_nothing_and_rerun_resumes(tmp_path, monkeypatch):
    store = CalibStore(tmp_path)
    small = {"neuron_chunks": 2, "driver_chunks": 2}
    params = dict(PARAMS, reps=2, driver_reps=1, neuron_duration=200.0)
    run, _ = runs.plan(store, "station502", params, small)
    monkeypatch.setenv("NMCLUSTER_CALIB_FAIL_CHUNK", "1")
    with pytest.raises(CalibError) as err:
        runs.run_local(run, workers=1)
    msg = str(err.value)
    assert "nothing committed" in msg and "chunk 1 (neurons 192..383)" in msg and "injected failure" in msg
    assert store.current("station502") is None
    st = runs.status(run)
    assert st["state"] == "failed" and st["done"] == 3
    mtimes = {i: run.chunk_file(i).stat().st_mtime_ns for i in run.measured()}
    monkeypatch.delenv("NMCLUSTER_CALIB_FAIL_CHUNK")
    again, resumed = runs.plan(store, "station502", params, small)
    assert resumed and again.dir == run.dir and again.missing() == [1]
    assert runs.run_local(again, workers=1) == 1
    assert {i: run.chunk_file(i).stat().st_mtime_ns for i in mtimes} == mtimes  # not re-measured
    assert runs.status(again)["state"] == "committed"
    # a committed run is not resumed: the next run starts fresh
    third, resumed = runs.plan(store, "station502", params, small)
    assert not resumed and third.dir != run.dir


def test_formats_roundtrip_spikey(calibrated, tmp_path):
    from nmcluster.calib import formats

    store, version = calibrated
    cal = store.read("station500", version)
    files = formats.export_spikey(cal, tmp_path)
    assert [f.name for f in files] == ["calibTauMem_500.dat", "calibSynDriver_500_exc.dat",
                                      "calibSynDriver_500_inh.dat"]
    back = formats.import_spikey(tmp_path, 500)
    for key in ("neurons/g_leak_factor", "neurons/v_thresh_offset", "drivers/factor_exc", "drivers/psp_inh"):
        np.testing.assert_allclose(back.data[key], cal.data[key], rtol=1e-8)
    (tmp_path / "calibSynDriver_500_inh.dat").write_text("0 1.0 2.0\n")
    with pytest.raises(Exception, match="512 rows"):
        formats.import_spikey(tmp_path, 500)


def test_job_records_the_calibration_version_it_used(calibrated, tmp_path):
    """A Spikey job through the local executor: the runner pins the current version (or the one
    CALIB_VERSION asks for) and the job record keeps it."""
    store, version = calibrated
    site = tmp_path / "site.toml"
    site.write_text(f'job_root = "{tmp_path / "jobs"}"\nexecutor = "local"\n'
                    f'[hardware]\ncalib_dir = "{store.root}"\n')
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "run.py").write_text("import os\nprint('CALIB', os.environ.get('NMCLUSTER_CALIB_VERSION'))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("SLURM_CONF", "MY_STAGE1_STATION",
                                                            "NMCLUSTER_CALIB_ROOT", "NMCLUSTER_CALIB_VERSION")}
    env.update(NMCLUSTER_CONFIG=str(site), NMCLUSTER_QUIET="1")
    nm = [sys.executable, "-m", "nmcluster.cli.main"]

    def submit(*extra):
        p = subprocess.run([*nm, "submit", str(exp), "-p", "spikey", "--station", "500", "--emulate",
                            "--command", "run.py", "--wait", *extra], capture_output=True, text=True,
                           env=env, timeout=120)
        assert p.returncode == 0, p.stderr
        job_id = p.stdout.strip().split()[0]
        st = subprocess.run([*nm, "status", job_id, "--json"], capture_output=True, text=True, env=env,
                            timeout=60)
        return json.loads(st.stdout)

    rec = submit()
    assert rec["calib_version"] == version
    rec = submit("--config", '{"CALIB_VERSION": 1}')
    assert rec["calib_version"] == 1
