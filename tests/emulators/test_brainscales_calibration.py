"""The wafer emulator and the BrainScaleS calibration share one chip model: a calibration run
(``nmcluster calib run wafer --local``) measures the emulator's fixed pattern, the emulator applies
the store's transformations (version pinned by ``NMCLUSTER_CALIB_VERSION``) and skips the store's
blacklisted denmems."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

sim = pytest.importorskip("pyNN.nmcluster.brainscales")
from nmcluster.calib.providers import WaferStoreProvider  # noqa: E402
from nmcluster.calib.store import CalibStore  # noqa: E402
from nmcluster.emulators.brainscales import calibration, chip  # noqa: E402

H = 367


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    import os

    root = tmp_path_factory.mktemp("wafercal")
    env = {k: v for k, v in os.environ.items() if k != "NMCLUSTER_CALIB_VERSION"}
    env["NMCLUSTER_CALIB_ROOT"] = str(root)
    p = subprocess.run([sys.executable, "-m", "nmcluster.cli.main", "calib", "run", "wafer", "--wafer", "33",
                        "--hicann", str(H), "--local", "--reps", "2"], capture_output=True, text=True, env=env,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    return CalibStore(root)


@pytest.fixture(autouse=True)
def _env(monkeypatch, store):
    for k in ("SLURM_HICANNS", "SLURM_DEFECTS_PATH", "NMCLUSTER_WAFER", "NMCLUSTER_CALIB_VERSION",
              calibration.ENV_VAR):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("NMCLUSTER_CALIB_ROOT", str(store.root))
    yield
    sim.end()


class BlacklistOnly:
    """The store's blacklists without its transformations: the same denmems, uncalibrated."""

    def get(self, wafer, hicann):
        cal = WaferStoreProvider().get(wafer, hicann)
        return cal and calibration.HicannCalibration("raw", {}, cal.blacklist)


def _measure(provider=None, n=40):
    """Rest potential (spikes off) and threshold (rest above threshold: highest membrane before a
    reset) of ``n`` neurons each, as the emulated wafer realises them."""
    sim.setup(timestep=0.1, wafer=33, hicanns=[H], calibrationProvider=provider)
    rest = sim.Population(n, sim.IF_cond_exp(v_rest=-60.0, v_thresh=-40.0, tau_m=10.0))
    thr = sim.Population(n, sim.IF_cond_exp(v_rest=-40.0, v_thresh=-55.0, v_reset=-70.0, tau_m=10.0,
                                            tau_refrac=1.0))
    rest.initialize(v=-60.0)
    thr.initialize(v=-70.0)
    rest.record("v")
    thr.record("v")
    sim.run(60.0)
    v_rest = rest.get_data().segments[0].filter(name="v")[0].magnitude
    v_thr = thr.get_data().segments[0].filter(name="v")[0].magnitude
    state = sim.simulator.state
    out = {"rest": v_rest[-50:].mean(axis=0), "threshold": v_thr[5:].max(axis=0),
           "version": state.calibration_version,
           "denmems": set(chip.denmems_of(state.placement.column, state.placement.size)[0].tolist())}
    sim.end()
    return out


def test_calibration_from_the_store_shrinks_the_spread_5x(store):
    raw = _measure(BlacklistOnly())
    cal = _measure()  # default provider: the store, current version
    assert raw["denmems"] == cal["denmems"]  # the same circuits, with and without transformations
    assert cal["version"] == str(store.current("wafer33")) and raw["version"] == "raw"
    for key, want in (("rest", -60.0), ("threshold", -55.0)):
        assert raw[key].std() >= 5 * cal[key].std(), (key, raw[key].std(), cal[key].std())
        assert abs(np.mean(cal[key]) - want) < 1.0, key
    assert raw["rest"].std() > 1.0  # the fixed pattern is visible without calibration


def test_store_blacklisted_denmems_are_not_used_and_version_is_pinned(store, monkeypatch):
    bl = set(int(i) for i in store.read("wafer33").blacklist[f"denmem/h{H}"])
    assert bl
    used_raw = _measure(calibration.NoCalibration(), n=45)["denmems"]
    assert used_raw & bl  # without the store the mapping would use broken denmems
    got = _measure(n=45)
    assert not got["denmems"] & bl
    # a version pinned by the job runner is the one applied
    v1 = store.current("wafer33")
    store.update_blacklist("wafer33", "add", f"denmem/h{H}", [0, 1])
    assert store.current("wafer33") == v1 + 1
    monkeypatch.setenv("NMCLUSTER_CALIB_VERSION", str(v1))
    pinned = _measure(n=45)
    assert pinned["version"] == str(v1)
    if 0 not in bl and 256 not in bl:
        assert 0 in pinned["denmems"]  # v1 does not blacklist denmem 0: used
    monkeypatch.delenv("NMCLUSTER_CALIB_VERSION")
    latest = _measure(n=45)
    assert latest["version"] == str(v1 + 1) and not latest["denmems"] & {0, 1, 256, 257}
