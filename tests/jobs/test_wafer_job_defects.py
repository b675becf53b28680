"""Wafer jobs read the calibration store's blacklists through ``SLURM_DEFECTS_PATH``: the job runner writes
the job's own defects file for the calibration version the job is pinned to."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nmcluster.calib.store import Calibration, CalibStore
from tests.jobs.conftest import LocalSite

SCRIPT = """\
import json, os
from nmcluster.emulators.brainscales.wafer import job_defects
d = job_defects(33)
json.dump({"path": os.environ.get("SLURM_DEFECTS_PATH"), "version": os.environ.get("NMCLUSTER_CALIB_VERSION"),
           "denmems": sorted(d.hicanns[297].denmems) if 297 in d.hicanns else [],
           "hicanns": sorted(d.unavailable_hicanns)}, open("defects.json", "w"))
"""


def test_wafer_job_sees_the_pinned_store_blacklists(tmp_path: Path):
    store = CalibStore(tmp_path / "calib")
    store.commit(Calibration(target="wafer33", kind="wafer", blacklist={"denmem/h297": np.array([3, 5])}))
    store.update_blacklist("wafer33", "add", "hicann", [12])  # version 2 (current)
    site = LocalSite(tmp_path, extra_env={"NMCLUSTER_CALIB_ROOT": str(store.root)})
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "main.py").write_text(SCRIPT)
    results = {}
    for pin in ("", "1"):
        cfg = json.dumps({"CALIB_VERSION": 1}) if pin else "{}"
        job = site.submit(str(exp), "-p", "wafer", "--wafer", "33", "--hicann", "297", "--config", cfg,
                          "--command", "main.py {system}")
        rec = site.wait(job)
        assert rec["status"] == "finished", site.cli("log", str(job)).stdout
        results[pin] = json.loads((site.job_root / str(job) / "work" / "defects.json").read_text())
        assert results[pin]["path"] == str(site.job_root / str(job) / "defects")
    assert results[""] == {**results[""], "version": "2", "denmems": [3, 5], "hicanns": [12]}
    assert results["1"] == {**results["1"], "version": "1", "denmems": [3, 5], "hicanns": []}
