"""BrainScaleS: per-denmem V_t/E_l/g_leak transformations, blacklisting, calibtic XML, defects."""

from __future__ import annotations

import numpy as np
import pytest

from nmcluster.calib import brainscales as B
from nmcluster.calib import formats, runs
from nmcluster.calib.store import CalibStore
from nmcluster.emulators.brainscales import chip


@pytest.fixture(scope="module")
def wafer_cal(tmp_path_factory):
    store = CalibStore(tmp_path_factory.mktemp("wcal"))
    run, _ = runs.plan(store, "wafer33", {"reps": 2, "seed": 1}, {"hicanns": [367], "per_hicann": 2})
    version = runs.run_local(run, workers=1)
    return store, store.read("wafer33", version)


def test_transformations_homogenise_denmems_and_failed_fits_are_blacklisted(wafer_cal):
    _, cal = wafer_cal
    chipm = chip.HicannChip(33, 367)  # the wafer emulator's own chip model
    stuck = set(np.nonzero(chipm.stuck_leak | chipm.stuck_vt)[0])
    bl = set(int(i) for i in cal.blacklist["denmem/h367"])
    assert stuck <= bl and len(bl) < 40
    ids = np.arange(512)
    for param, value in (("E_l", -60.0), ("V_t", -70.0), ("g_leak", 20.0)):
        dac = B.to_dac(cal, 367, param, value)
        ok = np.isfinite(dac)
        assert ok.sum() > 450 and not ok[sorted(bl)].any()
        f = getattr(chipm, param)
        got = np.diagonal(f(np.where(ok, dac, 0.0), ids))[ok]  # denmem i at its own DAC value
        raw = f(np.array([np.median(dac[ok])]), ids)[0][ok]  # one DAC value for all (uncalibrated)
        assert got.std() * 5 <= raw.std(), param
        assert abs(got.mean() - value) < 0.05 * abs(value)


def test_calibtic_xml_roundtrip_and_store_blacklists_reach_the_wafer_partition(wafer_cal, tmp_path):
    store, cal = wafer_cal
    files = formats.export_xml(cal, tmp_path / "xml")
    assert [f.name for f in files] == ["w33-h367.xml"]
    back = formats.import_xml(tmp_path / "xml", 33)
    np.testing.assert_allclose(back.data["hicann/367/V_t/coeffs"], cal.data["hicann/367/V_t/coeffs"], rtol=1e-9)
    assert list(back.blacklist["denmem/h367"]) == list(cal.blacklist["denmem/h367"])
    store.update_blacklist("wafer33", "add", "hicann", [12])
    from nmcluster.config import parse_config
    from nmcluster.errors import HardwareConfigError
    from nmcluster.calib.providers import site_blacklists
    from nmcluster.hwdrivers.wafer.defects import load_defects
    from nmcluster.partitions import get_partition

    site = parse_config({"job_root": str(tmp_path / "jobs"), "hardware": {"calib_dir": str(store.root)}})
    assert 12 not in load_defects(site, 33).unavailable_hicanns  # the driver alone reads no store
    d = load_defects(site, 33, site_blacklists(site))
    assert 12 in d.unavailable_hicanns and d.hicanns[367].denmems == frozenset(cal.blacklist["denmem/h367"])
    with pytest.raises(HardwareConfigError, match="HICANN 12"):
        get_partition("wafer", site).validate({"WAFER": 33, "HICANNS": [12]})
