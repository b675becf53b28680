"""SpiNNaker boards: sizing by count, chips or cores (partitioning report), inventory limits, Slurm licence
vs spalloc allocation, and the presence answer."""

from __future__ import annotations

import json
import socket

import pytest

from nmcluster.config import parse_config
from nmcluster.errors import ConfigError, HardwareConfigError, HardwareUnavailableError
from nmcluster.hwdrivers.spinnaker.allocation import allocate, server_answers, spynnaker_cfg
from nmcluster.hwdrivers.spinnaker.boards import boards_for_report, chips_for_cores, select_boards
from nmcluster.hwdrivers.spinnaker.presence import request_presence
from nmcluster.partitions import get_partition

BOARDS = [{"name": "small", "host": "localhost", "chips": 4},
          {"name": "big1", "host": "localhost", "chips": 48, "hardware": True},
          {"name": "big2", "host": "no-such-host.invalid", "chips": 48, "position": [0, 0, 1], "hardware": True},
          {"name": "big3", "chips": 48, "position": [0, 0, 2]}]


def site(tmp_path, boards=BOARDS, **extra):
    return parse_config({"job_root": str(tmp_path / "jobs"), "boards": boards, **extra},
                        env={"HOME": str(tmp_path), "USER": "tester"}, source="test-site.toml")


def names(req):
    return [b.name for b in req.boards]


def test_sizing(tmp_path):
    inv = site(tmp_path).boards
    assert chips_for_cores(16) == 1 and chips_for_cores(17) == 2 and chips_for_cores(16 * 48 + 1) == 49
    assert names(select_boards(inv)) == ["big1"]  # one board by default, a full one
    assert names(select_boards(inv, chips=3)) == ["small"]  # a small job keeps the big boards free
    assert names(select_boards(inv, cores=64)) == ["small"]
    assert names(select_boards(inv, cores=65)) == ["big1"]
    assert names(select_boards(inv, chips=49)) == ["big1", "big2"]
    assert names(select_boards(inv, boards=3)) == ["big1", "big2", "big3"]
    req = select_boards(inv, cores=2000)
    assert req.count == 3 and req.chips == 144 and req.describe() == "3 board(s) for 2000 cores"


@pytest.mark.parametrize("kwargs,message", [
    ({"chips": 48 * 3 + 1}, "need 4 48-chip board"),
    ({"boards": 5}, "5 SpiNNaker board(s) requested but this site has 4"),
    ({"boards": 0}, "BOARDS must be >= 1"),
    ({"cores": 0}, "CORES must be >= 1"),
    ({"boards": 1, "chips": 4}, "give one of BOARDS, CHIPS or CORES"),
])
def test_sizing_errors(tmp_path, kwargs, message):
    with pytest.raises(HardwareConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        select_boards(site(tmp_path).boards, **kwargs)


def test_four_small_boards_cannot_be_joined(tmp_path):
    inv = site(tmp_path, boards=[{"name": f"s{i}", "chips": 4} for i in range(4)]).boards
    with pytest.raises(HardwareConfigError, match="joined SpiNNaker boards must be 48-chip boards"):
        select_boards(inv, boards=2)
    with pytest.raises(HardwareConfigError, match="cannot be joined"):
        select_boards(inv, chips=8)


def test_partitioning_report(tmp_path):
    inv = site(tmp_path).boards
    assert names(boards_for_report(inv, {"cores": 100, "populations": {"exc": 80}})) == ["big1"]
    assert names(boards_for_report(inv, {"chips": 60, "cores": 1})) == ["big1", "big2"]  # chips win
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"cores": 10}))
    assert names(boards_for_report(inv, path)) == ["small"]
    with pytest.raises(HardwareConfigError, match="neither 'chips' nor 'cores'"):
        boards_for_report(inv, {"machine": "x"})
    with pytest.raises(HardwareConfigError, match="cannot read partitioning report"):
        boards_for_report(inv, tmp_path / "missing.json")


def test_partition_with_slurm_licences(tmp_path):
    part = get_partition("spinnaker", site(tmp_path))
    req = part.validate({"CORES": 1000})
    assert req.slurm_args == ("--licenses=spinnaker_board:2",)
    assert req.hardware_config == {"BOARDS": 2} and req.lock_keys == ("spinnaker:big1", "spinnaker:big2")
    assert req.environment["NMCLUSTER_SPINNAKER_BOARD_NAMES"] == "big1,big2"
    assert req.description == "spinnaker 2 board(s) for 1000 cores"


def test_partition_with_spalloc(tmp_path):
    s = site(tmp_path, spalloc={"host": "spalloc.example.org", "owner": "{user}@example.org", "machine": "m1"})
    from nmcluster.identity import user_name

    assert s.spalloc.owner == f"{user_name()}@example.org"  # {user}: the real uid's name, never $USER
    req = get_partition("spinnaker", s).validate({"BOARDS": 2})
    assert req.slurm_args == () and req.lock_keys == ()  # spalloc arbitrates the boards
    assert req.environment["NMCLUSTER_SPALLOC_SERVER"] == "spalloc.example.org:22244"
    assert req.environment["NMCLUSTER_SPALLOC_MACHINE"] == "m1"
    assert "via spalloc spalloc.example.org" in req.description
    cfg = spynnaker_cfg(s.spalloc, "tester")
    assert "spalloc_server = spalloc.example.org" in cfg and f"spalloc_user = {user_name()}@example.org" in cfg
    with pytest.raises(ConfigError, match="unknown key"):
        site(tmp_path, spalloc={"hostname": "x"})


def test_spalloc_client_missing_is_a_clear_error(tmp_path):
    import importlib.util

    if any(importlib.util.find_spec(m) for m in ("spalloc_client", "spalloc")):
        pytest.skip("the spalloc client is installed here")
    s = site(tmp_path, spalloc={"host": "127.0.0.1", "port": 1})
    with pytest.raises(HardwareUnavailableError, match="spalloc client is not installed here: pip install spalloc"):
        allocate(s.spalloc, 1, "tester")
    p = request_presence(s, {"BOARDS": 1})
    assert not p and "pip install spalloc" in p.reason


def test_spalloc_server_reachability(tmp_path):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        up = site(tmp_path, spalloc={"host": "127.0.0.1", "port": port, "timeout": 2}).spalloc
        assert server_answers(up) == (True, f"spalloc server 127.0.0.1:{port} answers")
    ok, why = server_answers(up)  # closed now
    assert not ok and "does not answer" in why


def test_presence_without_spalloc(tmp_path):
    s = site(tmp_path)
    assert request_presence(s, {"BOARDS": 1}, ["big1"])  # localhost resolves and routes
    p = request_presence(s, {"BOARDS": 2}, ["big1", "big2"])
    assert not p and "board big2: host no-such-host.invalid does not resolve" in p.reason
    assert not request_presence(s, {"BOARDS": 3})  # only two boards are hardware
    default = parse_config({"job_root": str(tmp_path)}, env={"HOME": str(tmp_path)})
    assert "no SpiNNaker hardware at this site" in request_presence(default, {"BOARDS": 1}).reason
