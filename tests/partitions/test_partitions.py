"""Partition validation: hardware configs -> Slurm resources and job environment, bad input -> errors."""

import pytest

from nmcluster.config import parse_config
from nmcluster.errors import HardwareConfigError, UserInputError
from nmcluster.partitions import get_partition


@pytest.fixture
def site(tmp_path):
    return parse_config({"job_root": str(tmp_path), "wafers": [{"id": 33}, {"id": 37, "fpgas": [0, 1, 34]}]},
                        env={"USER": "u", "HOME": str(tmp_path)})


def test_spikey_station(site):
    req = get_partition("Spikey", site).validate({"STATION": "station500"})
    assert req.slurm_partition == "spikey"
    assert req.slurm_args == ("--gres=station:s500:1",)
    assert req.environment == {"MY_STAGE1_STATION": "station500"}
    assert req.lock_keys == ("station500",)
    assert get_partition("spikey", site).validate({"STATION": 501}).hardware_config["STATION"] == "station501"


def test_spikey_any_station(site):
    req = get_partition("spikey", site).validate({})
    assert req.slurm_args == ("--gres=station:1",) and req.environment == {}


def test_spikey_any_station_pinned_to_a_free_one(site):
    """``nmcluster run`` without a station pins the lowest station Slurm shows free on an allocatable
    node of the spikey partition; nothing free -> None (the job queues for any station)."""
    from nmcluster.infra.slurmcli import SlurmNodeInfo

    part = get_partition("spikey", site)
    req = part.validate({"CALIB_VERSION": 3})
    gres = "station:s500:1,station:s501:1,station:s502:1,station:s600:1"

    def node(name, state="MIXED", partitions=("batch", "spikey"), used="station:s500:1(IDX:0),station:s501:0"):
        return SlurmNodeInfo(name, state, partitions, gres, used)

    pinned = part.pin_free_now(req, [node("a")])
    assert pinned.slurm_args == ("--gres=station:s501:1",)
    assert pinned.environment == {"MY_STAGE1_STATION": "station501", "NMCLUSTER_CALIB_VERSION": "3"}
    assert pinned.hardware_config == {"STATION": "station501", "CALIB_VERSION": 3}
    # a drained node, a node outside the partition, a station the site does not know: skipped
    other = SlurmNodeInfo("c", "IDLE", ("spikey",), "station:s999:1,station:s600:1", "station:s999:0,station:s600:0")
    assert part.pin_free_now(req, [node("a", state="IDLE+DRAIN", used=""), node("b", partitions=("batch",), used=""),
                                   other]).environment["MY_STAGE1_STATION"] == "station600"
    busy = "station:s500:1(IDX:0),station:s501:1(IDX:1),station:s502:1(IDX:2),station:s600:1(IDX:3)"
    assert part.pin_free_now(req, [node("a", used=busy)]) is None
    assert part.pin_free_now(req, [node("a", state="DOWN", used="")]) is None
    # a request that names its station is left alone
    assert part.pin_free_now(part.validate({"STATION": 500}), [node("a", used="")]) is None


@pytest.mark.parametrize("cfg, msg", [
    ({"STATION": 499}, "station 499 is not configured"),
    ({"STATION": "stationX"}, "STATION must be like"),
    ({"STATON": 500}, "unknown hardware config key"),
    ({"STATION": True}, "STATION must be like"),
])
def test_spikey_bad(site, cfg, msg):
    with pytest.raises(HardwareConfigError, match=msg):
        get_partition("spikey", site).validate(cfg)


def test_wafer_hicanns_to_licences(site):
    req = get_partition("BrainScaleS", site).validate({"WAFER": 33, "HICANNS": [367, 366, 0]})
    assert req.slurm_args == ("--licenses=W33F12,W33F34",)
    assert req.environment["SLURM_HICANNS"] == "W33H0,W33H366,W33H367"
    assert req.environment["SLURM_HARDWARE_LICENSES"] == "W33F12,W33F34"
    assert req.environment["SLURM_FPGA_IPS"].split(",") == ["192.168.33.33", "192.168.33.75"]  # 1 + f % 12 + 32 * (f // 12)


def test_wafer_fpgas_reticles_and_whole(site):
    p = get_partition("wafer", site)
    assert p.validate({"WAFER": 33, "FPGAS": [12]}).hardware_config["HICANNS"] == [0, 1, 2, 3, 12, 13, 14, 15]
    assert p.validate({"WAFER": 33, "RETICLES": [0]}).slurm_args == ("--licenses=W33F12",)
    whole = p.validate({"WAFER": 37})
    assert whole.slurm_args == ("--licenses=W37F0,W37F1,W37F34",)


@pytest.mark.parametrize("cfg, msg", [
    ({"WAFER": 33, "HICANNS": [384]}, "HICANN 384 is out of range 0..383"),
    ({"WAFER": 33, "HICANNS": [-1]}, "HICANN -1 is out of range"),
    ({"WAFER": 99}, "wafer 99 is not configured"),
    ({"WAFER": 37, "FPGAS": [2]}, "FPGA\\(s\\) 2 are not available"),
    ({"WAFER": 33, "HICANNS": "297"}, "HICANNS must be a non-empty list"),
    ({"WAFER": "33"}, "WAFER must be an integer"),
    ({"HICANNS": [1]}, "needs a WAFER"),
])
def test_wafer_bad(site, cfg, msg):
    with pytest.raises(HardwareConfigError, match=msg):
        get_partition("wafer", site).validate(cfg)


def test_ess_claims_nothing(site):
    req = get_partition("BrainScaleS-ESS", site).validate({"WAFER": 33, "HICANNS": [1]})
    assert req.slurm_args == () and req.always_emulate and req.slurm_partition == "batch"


def test_spinnaker(site):
    p = get_partition("SpiNNaker", site)
    assert p.validate({"BOARDS": 2}).slurm_args == ("--licenses=spinnaker_board:2",)
    assert p.validate({"CHIPS": 49}).hardware_config == {"BOARDS": 2}
    with pytest.raises(HardwareConfigError, match="3 SpiNNaker board"):
        p.validate({"BOARDS": 3})
    with pytest.raises(HardwareConfigError, match="BOARDS must be >= 1"):
        p.validate({"BOARDS": 0})


@pytest.mark.parametrize("opt", ["-L W33F1", "--licenses=W33F1", "-LW33F1", "--gres=station:s500:1", "-pbatch",
                                 "--partition=batch"])
def test_hand_written_resources_refused(site, opt):
    with pytest.raises(UserInputError, match="not accepted here"):
        get_partition("wafer", site).check_slurm_options([opt])
    get_partition("wafer", site).check_slurm_options(["--time=10"])


def test_unknown_platform(site):
    with pytest.raises(UserInputError, match="unknown platform 'Loihi'"):
        get_partition("Loihi", site)


def test_system_restriction_chooses_among_the_allowed_backends(site):
    """``{system=nest}`` / the guidebook's ``{system=spiNNaker,nest}``: the hardware backend only when
    allowed, else the first allowed importable emulator, whether or not the chip is attached."""
    from nmcluster.command import allowed_backends
    from nmcluster.errors import HardwareUnavailableError
    from nmcluster.partitions.base import choose_backend

    req = get_partition("spikey", site).validate({"STATION": 500})
    everything = lambda name: True  # noqa: E731
    for command in ("run.py {system=nest}", "run.py {system=spiNNaker,nest}"):
        allowed = allowed_backends(command)
        for present in (True, False):
            choice = choose_backend(req, present, "auto", everything, allowed=allowed)
            assert (choice.backend, choice.emulated) == ("nest", True), (command, present)
    assert choose_backend(req, True, "auto", everything, allowed=("hardware.spikey", "nest")).backend == \
        "hardware.spikey"
    assert choose_backend(req, False, "auto", everything, allowed=("hardware.spikey", "nest")).backend == "nest"
    # the emulator preferred by the partition wins when several are allowed
    assert choose_backend(req, False, "auto", everything,
                          allowed=("nest", "nmcluster.spikey")).backend == "nmcluster.spikey"
    with pytest.raises(UserInputError, match="--hardware"):
        choose_backend(req, True, "hardware", everything, allowed=("nest",))
    with pytest.raises(HardwareUnavailableError, match="none of them is importable"):
        choose_backend(req, True, "auto", lambda name: False, allowed=("nest",))
    with pytest.raises(UserInputError, match="lists no backend of the spikey partition"):
        choose_backend(req, True, "auto", everything, allowed=("spiNNaker",))


@pytest.mark.parametrize("command, array, msg", [
    ("run.py {sytem}", False, "unknown placeholder {sytem}"),
    ("run.py {system} {seed}", False, "unknown placeholder {seed}"),
    ("run.py {system=}", False, "names no backend"),
    ("run.py {system}", True, "--array needs {task}"),
])
def test_command_placeholders_refused(command, array, msg):
    from nmcluster.command import check_placeholders

    with pytest.raises(UserInputError, match=msg.replace("{", r"\{").replace("}", r"\}")):
        check_placeholders(command, array)


def test_command_placeholders_accepted():
    """Known placeholders, and braces that are not placeholders (JSON, bash braces, ``{}``), pass."""
    from nmcluster.command import allowed_backends, check_placeholders

    for command in ("run.py {system} --seed {task}", "run.py {system=spiNNaker,nest}",
                    "run.py --json '{\"a\": 1}' x{1,2} {} ${IFS}x ${HOME}"):
        check_placeholders(command, array="{task}" in command)
    assert allowed_backends("run.py {system=spiNNaker,nest} {system}") == ("spiNNaker", "nest")
    assert allowed_backends("run.py {system}") is None


def test_default_wafer(tmp_path):
    """``platform=nmpi.BRAINSCALES`` without a WAFER (the guidebook's own client call) runs on the site's
    default wafer; the ESS needs none at all; a site without a default still asks for one."""
    from nmcluster.errors import ConfigError

    env = {"USER": "u", "HOME": str(tmp_path)}
    default_site = parse_config({"job_root": str(tmp_path)}, env=env)  # the built-in wafers 33 (default), 37
    assert get_partition("BrainScaleS", default_site).validate({"HICANNS": [297]}).hardware_config["WAFER"] == 33
    marked = parse_config({"job_root": str(tmp_path), "wafers": [{"id": 33}, {"id": 37, "default": True}]}, env=env)
    req = get_partition("wafer", marked).validate({"FPGAS": [0]})
    assert req.hardware_config["WAFER"] == 37 and req.slurm_args == ("--licenses=W37F0",)
    unmarked = parse_config({"job_root": str(tmp_path), "wafers": [{"id": 37}, {"id": 33}]}, env=env)
    with pytest.raises(HardwareConfigError, match="names no default wafer .*default = true"):
        get_partition("wafer", unmarked).validate({})
    assert get_partition("ess", unmarked).validate({}).hardware_config["WAFER"] == 33
    with pytest.raises(ConfigError, match="only one wafer can be the default"):
        parse_config({"job_root": str(tmp_path), "wafers": [{"id": 33, "default": True},
                                                             {"id": 37, "default": True}]}, env=env)
