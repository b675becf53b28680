"""The versioned calibration store: versions, metadata, diff, blacklists, atomic publish, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from nmcluster.calib.store import Calibration, CalibInputError, CalibStore, parse_ids, parse_target


def _cal(value: float, target: str = "station500") -> Calibration:
    kind, _ = parse_target(target)
    return Calibration(target, kind, data={"neurons/g_leak_factor": np.full(384, value),
                                           "drivers/driver_factor": np.linspace(0.9, 1.1, 512)},
                       attrs={"neurons/g_leak_factor": {"unit": "1"}})


def test_versions_metadata_current_and_old_versions_readable(tmp_path):
    store = CalibStore(tmp_path)
    assert store.current("station500") is None
    v1 = store.commit(_cal(1.0), notes="first", slurm_job_id="77", chip_id="chip-a", meta={"run": "r1"})
    v2 = store.commit(_cal(2.0), notes="second", source="hardware")
    assert (v1, v2) == (1, 2)
    assert store.current("station500") == 2
    assert store.read("station500").data["neurons/g_leak_factor"][0] == 2.0
    old = store.read("station500", 1)
    assert old.data["neurons/g_leak_factor"][0] == 1.0
    assert old.meta["notes"] == "first" and old.meta["slurm_job_id"] == "77" and old.meta["chip_id"] == "chip-a"
    assert old.meta["meta"] == {"run": "r1"} and old.meta["source"] == "emulated"
    assert old.meta["tool_version"] and old.meta["created"] > 0
    assert old.attrs["neurons/g_leak_factor"] == {"unit": "1"}
    vs = store.versions("station500")
    assert [v["version"] for v in vs] == [1, 2] and vs[1]["current"] and vs[1]["parent"] == 1
    assert store.targets() == ["station500"]
    store.set_current("station500", 1)
    assert store.current("station500") == 1
    with pytest.raises(CalibInputError):
        store.read("station500", 9)
    with pytest.raises(CalibInputError):
        store.read("station501")


def test_diff_and_blacklist(tmp_path):
    store = CalibStore(tmp_path)
    store.commit(_cal(1.0))
    cal = _cal(1.0)
    cal.data["neurons/g_leak_factor"][[3, 7]] = 1.5
    store.commit(cal)
    d = store.diff("station500", 1, 2)
    assert d["datasets"] == {"neurons/g_leak_factor": {"status": "changed", "changed": 2, "of": 384,
                                                       "max_abs_change": 0.5}}
    v3 = store.update_blacklist("station500", "add", "neuron", [5, 6, 9])
    v4 = store.update_blacklist("station500", "remove", "neuron", [6])
    assert list(store.read("station500", v4).blacklist["neuron"]) == [5, 9]
    assert store.diff("station500", 2, v3)["blacklist"] == {"neuron": {"added": [5, 6, 9], "removed": []}}
    assert store.diff("station500", v3, v4)["datasets"] == {}
    assert parse_ids("1,3-5") == [1, 3, 4, 5]
    with pytest.raises(CalibInputError):
        parse_ids("x")
    with pytest.raises(CalibInputError):
        parse_target("chip7")


WRITER = textwrap.dedent("""
    import sys, time, numpy as np
    from pathlib import Path
    from nmcluster.calib.store import CalibStore, Calibration
    root, mode, ready = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    store = CalibStore(root)
    def hang(fh):
        ready.write_text("mid-write")
        time.sleep(600)
    big = {"neurons/g_leak_factor": np.full(384, 99.0), "blob": np.random.default_rng(0).random((400, 1000))}
    if mode == "hang":
        store.commit(Calibration("station500", "spikey", data=big), _before_publish=hang)
    else:  # commit continuously
        i = 0
        while True:
            i += 1
            store.commit(Calibration("station500", "spikey", data={**big, "neurons/g_leak_factor": np.full(384, float(i))}),
                         notes=str(i))
            ready.write_text(str(i))
""")


def _start_writer(tmp_path: Path, mode: str) -> tuple[subprocess.Popen, Path]:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    ready = tmp_path / f"ready-{mode}"
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "store"), mode, str(ready)])
    return proc, ready


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, "writer died"
        assert time.monotonic() < deadline, "writer never got there"
        time.sleep(0.01)


def test_writer_killed_mid_write_leaves_previous_current_version(tmp_path):
    store = CalibStore(tmp_path / "store")
    store.commit(_cal(1.0), notes="good")
    proc, ready = _start_writer(tmp_path, "hang")
    _wait_for(ready, proc)
    # the new version is fully written into the temporary, only the publish is missing
    assert list((tmp_path / "store").glob(".station500.h5.*.tmp"))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert store.current("station500") == 1
    cal = store.read("station500")
    assert cal.meta["notes"] == "good" and cal.data["neurons/g_leak_factor"][0] == 1.0
    assert [v["version"] for v in store.versions("station500")] == [1]
    # the lock died with the writer; the next writer cleans up and gets version 2
    assert store.commit(_cal(3.0)) == 2
    assert not list((tmp_path / "store").glob(".station500.h5.*.tmp"))


def test_kill_9_at_random_moments_never_leaves_an_unreadable_or_half_version(tmp_path):
    store = CalibStore(tmp_path / "store")
    rng = np.random.default_rng(5)
    for _ in range(6):
        proc, ready = _start_writer(tmp_path, "loop")
        _wait_for(ready, proc)
        time.sleep(float(rng.uniform(0.0, 0.3)))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        ready.unlink()
        cur = store.current("station500")
        cal = store.read("station500")
        # every version is complete: its value says which commit it was, the blob is whole
        assert cal.data["neurons/g_leak_factor"][0] == float(cal.meta["notes"])
        assert cal.data["blob"].shape == (400, 1000)
        assert [v["version"] for v in store.versions("station500")] == list(range(1, cur + 1))


def test_concurrent_writers_are_serialised_and_readers_see_whole_versions(tmp_path):
    root = tmp_path / "store"
    code = textwrap.dedent("""
        import sys, numpy as np
        from nmcluster.calib.store import CalibStore, Calibration
        s = CalibStore(sys.argv[1])
        for i in range(5):
            s.commit(Calibration("station501", "spikey", data={"x": np.full(1000, float(sys.argv[2]))}),
                     notes=sys.argv[2])
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(root), str(k)]) for k in range(4)]
    store = CalibStore(root)
    seen = 0
    while any(p.poll() is None for p in procs):
        if store.path("station501").exists():
            cal = store.read("station501")
            assert np.all(cal.data["x"] == float(cal.meta["notes"]))  # never half of a version
            seen += 1
        time.sleep(0.005)
    assert all(p.wait(60) == 0 for p in procs)
    vs = store.versions("station501")
    assert [v["version"] for v in vs] == list(range(1, 21))
    assert sorted(v["notes"] for v in vs) == sorted(str(k) for k in range(4) for _ in range(5))
