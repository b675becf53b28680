"""Contention on the private multi-node cluster: 20 jobs asking for station 500 (a GRES of one node) and 20
jobs asking for the same FPGA licence (a cluster-wide Slurm licence) are submitted at once.  All must
finish, and no two of a group may ever run at the same time (checked with timestamps the jobs write)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

pytestmark = [pytest.mark.reliability, pytest.mark.slurm]

N = 20


def _spans(records: dict[int, dict]) -> list[tuple[float, float, str]]:
    out = []
    for rec in records.values():
        t = json.loads((Path(rec["job_dir"]) / "work" / "times.json").read_text())
        out.append((t["start"], t["end"], t["node"]))
    return sorted(out)


def test_station_and_licence_are_never_shared(rel_site, rel_experiment):
    groups = {"station": ["-p", "spikey", "--station", "500"],
              "licence": ["-p", "wafer", "--wafer", "37", "--hicann", "367"]}
    ids: dict[str, list[int]] = {g: [] for g in groups}
    lock = threading.Lock()

    def submit(group: str, n: int) -> None:
        for _ in range(n):
            job = rel_site.submit(str(rel_experiment), *groups[group], "-c", "main.py", env={"SLEEP": "0.3"})
            with lock:
                ids[group].append(job)

    threads = [threading.Thread(target=submit, args=(g, N // 2)) for g in groups for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for group in groups:
        assert len(ids[group]) == N
    final = rel_site.wait_all(ids["station"] + ids["licence"], timeout=240)
    assert all(r["status"] == "finished" for r in final.values()), \
        [(i, r["status"], r["reason"]) for i, r in final.items() if r["status"] != "finished"]
    nodes = {}
    for group in groups:
        spans = _spans({i: final[i] for i in ids[group]})
        overlaps = [(a, b) for a, b in zip(spans, spans[1:]) if b[0] < a[1] - 1e-3]
        assert not overlaps, f"{group}: two jobs ran at once: {overlaps[:3]}"
        nodes[group] = {s[2] for s in spans}
        if group == "licence":
            t = json.loads((Path(final[ids[group][0]]["job_dir"]) / "work" / "times.json").read_text())
            assert t["licenses"] == "W37F34"
    assert nodes["station"] == {"n1"}, nodes  # station 500 hangs on node n1
    print(f"\nlicence jobs ran on nodes {sorted(nodes['licence'])}")
