"""Fuzzing (hypothesis) of everything that parses user input before a job is queued: the hardware config of
every partition, the JSON/``@file`` hardware-config parser and its merge with CLI flags and module
defaults, the CLI's integer lists, ``JobSpec.create`` and the site configuration.  Whatever the input,
the only exception allowed out is the project's own :class:`~nmcluster.errors.NmclusterError` (a user
error with a message), never a ``TypeError``/``KeyError``/``OverflowError``/... traceback.

Examples: 6 x 1200 partition configs + 1500 JobSpecs + 800 JSON texts + 600 merges + 500 CLI lists +
600 site configs = 11 200 (the suite asserts >= 10 000 were run).
"""

from __future__ import annotations

import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nmcluster.config import parse_config
from nmcluster.errors import NmclusterError

pytestmark = pytest.mark.reliability

COUNTS: dict[str, int] = {}

KEYS = ["STATION", "WAFER", "HICANNS", "FPGAS", "RETICLES", "CALIB_VERSION", "BOARDS", "CHIPS", "CORES"]
# values around the edges the parsers care about, plus anything JSON can carry
edge_ints = st.sampled_from([0, 1, -1, 3, 4, 33, 37, 47, 48, 96, 297, 367, 383, 384, 500, 501, 600, 999,
                             2**31, 2**63, -2**63, 10**30])
huge_ints = st.builds(lambda sign: sign * 10**5000, st.sampled_from([1, -1]))  # past the int-string limit
json_scalars = (st.none() | st.booleans() | st.integers() | edge_ints
                | st.floats(allow_nan=True, allow_infinity=True)
                | st.text(max_size=12) | st.sampled_from(["station500", "500", " station501 ", "station",
                                                           "station-1", "٥٠٠", "station٥٠٠", "1e3", "0x1f4"]))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=6)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
hw_values = json_values | huge_ints | st.lists(edge_ints | huge_ints | st.integers(-5, 400), max_size=12)
hw_configs = (st.dictionaries(st.sampled_from(KEYS), hw_values, max_size=4)
              | st.dictionaries(st.text(max_size=10) | st.sampled_from(KEYS), json_values, max_size=4)
              | json_values)

def fuzz(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


def _only_own_errors(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except NmclusterError as exc:
        assert str(exc).strip(), "an error without a message"
        return None


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    return parse_config({"job_root": str(root / "jobs")}, env={"USER": "fuzz", "HOME": str(root)})


@pytest.mark.parametrize("kind", ["spikey", "wafer", "ess", "spinnaker", "Spikey", "BrainScaleS"])
def test_partition_hardware_configs(site, kind):
    from nmcluster.partitions import get_partition

    partition = get_partition(kind, site)

    @fuzz(1200)
    @given(hw=hw_configs)
    def check(hw):
        COUNTS[f"partition {kind}"] = COUNTS.get(f"partition {kind}", 0) + 1
        request = _only_own_errors(partition.validate, hw)
        if request is not None:  # what passes must survive the trip to the job runner
            json.dumps(request.to_dict())
    check()


@fuzz(1500)
@given(code=st.text(max_size=30) | st.sampled_from(["exp/", "run.py", "x.tgz", "https://h/r.git", "a\nb"]),
       platform=st.text(max_size=12) | st.sampled_from(["spikey", "Spikey", "BrainScaleS", "wafer", "ess",
                                                       "BrainScaleS-ESS", "SpiNNaker", "nm-mc1", "NM-PM1"]),
       command=st.none() | st.text(max_size=40) | st.sampled_from(["main.py '; touch /tmp/x'", "a 'b", "{system}",
                                                                   "run.py {system=nest}", '"unclosed']),
       inputs=st.none() | st.lists(st.text(max_size=10) | st.integers(), max_size=3),
       hw=st.none() | hw_configs | st.text(max_size=40) | st.sampled_from(["@/nonexistent/hw.json", "@", "{"]),
       tags=st.none() | st.lists(st.text(max_size=8) | st.integers(), max_size=3),
       collab=st.none() | st.text(max_size=8) | st.integers())
def test_jobspec_create(code, platform, command, inputs, hw, tags, collab):
    from nmcluster.jobs.spec import JobSpec

    COUNTS["JobSpec.create"] = COUNTS.get("JobSpec.create", 0) + 1
    spec = _only_own_errors(JobSpec.create, code=code, platform=platform, command=command, inputs=inputs,
                            hardware_config=hw, tags=tags, collab_id=collab)
    if spec is not None:
        json.dumps(spec.to_dict())


@fuzz(800)
@given(text=st.text(max_size=60) | json_values.map(json.dumps)
       | st.sampled_from(["{\"STATION\": 1e999}", "[" * 5000, "{\"a\": NaN}", "\ud800", "{}" * 3]))
def test_hardware_config_json(text):
    from nmcluster.jobs.spec import parse_hardware_config

    COUNTS["parse_hardware_config"] = COUNTS.get("parse_hardware_config", 0) + 1
    _only_own_errors(parse_hardware_config, text)


@fuzz(600)
@given(platform=st.sampled_from(["spikey", "wafer", "ess", "spinnaker", "Loihi", ""]),
       config=st.none() | hw_configs | st.text(max_size=20),
       flags=st.dictionaries(st.sampled_from(KEYS), hw_values, max_size=3),
       env=st.dictionaries(st.sampled_from(["MY_STAGE1_STATION", "NMCLUSTER_WAFER", "NMCLUSTER_PARTITION"]),
                           st.text(max_size=8) | st.sampled_from(["33", "station500", "٣٣", "-1"]), max_size=3))
def test_merge_and_validate(site, platform, config, flags, env):
    from nmcluster.jobs.spec import merge_hardware_config
    from nmcluster.partitions import get_partition

    COUNTS["merge_hardware_config"] = COUNTS.get("merge_hardware_config", 0) + 1
    merged = _only_own_errors(merge_hardware_config, platform, config, flags, env)
    if merged is not None:
        _only_own_errors(lambda: get_partition(platform, site).validate(merged))


@fuzz(500)
@given(value=st.text(alphabet=string.digits + ",- x٣\n", max_size=20) | st.text(max_size=10),
       what=st.sampled_from(["hicann", "fpga", "reticle"]))
def test_cli_integer_lists(value, what):
    from nmcluster.cli.common import _int_list

    COUNTS["cli int lists"] = COUNTS.get("cli int lists", 0) + 1
    _only_own_errors(_int_list, value, what)


site_tables = st.fixed_dictionaries({}, optional={
    "job_root": json_scalars, "executor": json_scalars,
    "stations": st.lists(st.fixed_dictionaries({}, optional={"number": hw_values, "serial": json_scalars,
                                                             "chip_version": hw_values, "host": json_scalars})
                         | json_values, max_size=3) | json_values,
    "wafers": st.lists(st.fixed_dictionaries({}, optional={"id": hw_values, "fpgas": hw_values,
                                                          "hardware": json_scalars}) | json_values,
                       max_size=3) | json_values,
    "boards": st.lists(st.fixed_dictionaries({}, optional={"name": json_scalars, "chips": hw_values,
                                                          "position": hw_values}) | json_values,
                       max_size=3) | json_values,
    "partitions": st.dictionaries(st.sampled_from(["spikey", "wafer", "x"]), json_values, max_size=2),
    "slurm": st.dictionaries(st.sampled_from(["jobcomp_file", "extra_sbatch_args", "default_partition", "y"]),
                             json_values, max_size=2) | json_values,
    "spalloc": st.dictionaries(st.sampled_from(["host", "port", "timeout", "keepalive"]), json_values,
                               max_size=2),
})


@fuzz(600)
@given(data=site_tables)
def test_site_config(data):
    COUNTS["site config"] = COUNTS.get("site config", 0) + 1
    _only_own_errors(parse_config, data, env={"USER": "fuzz", "HOME": "/nonexistent"})


tag_text = st.text(max_size=40) | st.sampled_from(["[/]", "[bold]", "[link=file:///etc/passwd]x[/link]",
                                                  "\\[", "[/red]", "\x1b[31m", "[[", "]]", "[" * 50])


@fuzz(2000)
@given(tags=st.lists(tag_text, max_size=4), reason=tag_text, command=tag_text)
def test_tags_render_as_written(tags, reason, command):
    """Any tag, command or reason prints literally in ``nmcluster list`` and never breaks it (rich markup
    in a tag once broke every later listing)."""
    import io

    from rich.console import Console

    from nmcluster.cli.jobs import _table, printable
    from nmcluster.jobs.store import JobRecord

    COUNTS["tags"] = COUNTS.get("tags", 0) + 1
    rec = JobRecord(id=1, status="finished", code="x", command=command, platform="spikey", user="u",
                    timestamp_submission=0.0, tags=tuple(tags), reason=reason)
    out = io.StringIO()
    _table([rec], "jobs", console=Console(file=out, width=2000, color_system=None, highlight=False))
    text = out.getvalue()
    assert text.isprintable() or set(text) - set("\n") <= {c for c in text if c.isprintable()}
    shown = "".join(printable(",".join(tags)).split())
    assert shown in "".join(text.split())


def test_enough_examples_ran():
    """The issue asks for >= 10 000 fuzzed inputs in total (this test runs last in the module)."""
    if len(COUNTS) < 12:
        pytest.skip(f"only part of the module ran: {COUNTS}")
    assert sum(COUNTS.values()) >= 10_000, COUNTS
