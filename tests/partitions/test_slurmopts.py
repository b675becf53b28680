"""``--slurm-opt`` is read the way sbatch/srun read it (glibc getopt_long over Slurm 22.05.8's option table):
prefixes, bundles and separate arguments cannot smuggle resource options past the allow-list, values Slurm
would reject are one line and exit code 2, and the parser agrees with the real ``sbatch``/``srun`` (their
``-v`` lists the options they understood; ``--test-only`` queues nothing)."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nmcluster.errors import UserInputError
from nmcluster.partitions import get_partition
from nmcluster.slurmopts import (ALLOWED, OPTIONS, SlurmOptionError, check_user_options, megabytes, option_table,
                                 parse, time_seconds)

# the bypasses, each with the option Slurm reads (or None: Slurm itself refuses the word)
BYPASSES = [
    (["--licens=W33F1"], "licenses"),
    (["-vLW33F1"], "licenses"),
    (["--parti=batch"], "partition"),
    (["--arr=0-2"], "array"),
    (["-p", "batch"], "partition"),
    (["-pbatch"], "partition"),
    (["--gres", "station:s501:1"], "gres"),
    (["-A", "other"], "account"),
    (["--acc=other"], None),  # ambiguous for getopt: --account and --acctg-freq (real sbatch refuses it too)
    (["--accou=other"], "account"),
    (["-HL", "W33F1"], "licenses"),
    (["--qos", "high"], "qos"),
    (["--reserv=maint"], "reservation"),
    (["-w", "vm"], "nodelist"),
    (["--wrap=rm -rf ~"], "wrap"),
    (["--export=NONE"], "export"),
    (["-D/tmp"], "chdir"),
    (["--gpus=1"], "gpus"),
    (["-M", "other"], "clusters"),
]


@pytest.mark.parametrize("words, option", BYPASSES)
def test_bypasses_are_refused(words, option):
    for command in ("sbatch", "srun"):
        with pytest.raises(SlurmOptionError) as err:
            check_user_options(words, command, what="the wafer partition")
        msg = str(err.value)
        assert "\n" not in msg and len(msg) < 400
        if option is not None and option in {o.name for o in option_table(command)}:
            assert msg.startswith(f"Slurm option --{option} "), msg
    parsed = None
    try:
        parsed = [p.name for p in parse(words, "sbatch")]
    except SlurmOptionError:
        assert option is None
    if option is not None:
        assert option in parsed


def test_resource_options_named_before_harmless_ones():
    """-vLW33F1: both -v and -L are refused, the message is about the licence."""
    with pytest.raises(SlurmOptionError, match=r"^Slurm option --licenses \(given as '-vLW33F1'\).*derives"):
        check_user_options(["-vLW33F1"])


def test_partition_check_goes_through_the_parser(site_config):
    wafer = get_partition("wafer", site_config)
    with pytest.raises(UserInputError, match="--licenses .* the wafer partition derives"):
        wafer.check_slurm_options(["--licens=W33F1"])
    assert wafer.check_slurm_options(["-t", "10", "-c4", "--mem", "2G"]) == ("--time=10", "--cpus-per-task=4",
                                                                             "--mem=2G")
    # srun has no --no-requeue: what sbatch accepts may not be what srun accepts
    assert wafer.check_slurm_options(["--no-requeue"]) == ("--no-requeue",)
    with pytest.raises(UserInputError, match="srun has no option '--no-requeue'"):
        wafer.check_slurm_options(["--no-requeue"], "srun")


@pytest.mark.parametrize("words, canonical", [
    (["--time=10"], ("--time=10",)),
    (["--time", "10"], ("--time=10",)),
    (["-t10"], ("--time=10",)),
    (["-t", "1-12:30"], ("--time=1-12:30",)),
    (["--time", "5"], ("--time=5",)),  # an exact name wins over longer ones (--time-min)
    (["--cpus-per-t=4"], ("--cpus-per-task=4",)),  # unambiguous prefix
    (["--time-m=5"], ("--time-min=5",)),
    (["--time=10", "--time-min=9:30"], ("--time=10", "--time-min=9:30")),
    (["-Hc", "4"], ("--hold", "--cpus-per-task=4")),  # bundle, last letter takes the next word
    (["--mem-per-c=1G"], ("--mem-per-cpu=1G",)),
    (["--mail-t=END,fail", "--mail-user=a@b.c"], ("--mail-type=END,fail", "--mail-user=a@b.c")),
    (["--nice"], ("--nice",)),
    (["--nice=10"], ("--nice=10",)),
    (["-J", "--partition=batch"], ("--job-name=--partition=batch",)),  # a name, as Slurm reads it too
    (["--comment=$(touch x) [/] ;"], ("--comment=$(touch x) [/] ;",)),
    (["--hold", "--no-requeue", "--tmp=10G", "--mincpus=2"], ("--hold", "--no-requeue", "--tmp=10G",
                                                               "--mincpus=2")),
])
def test_accepted(words, canonical):
    assert check_user_options(words) == canonical


@pytest.mark.parametrize("words, message", [
    (["--time=abc"], "--time: 'abc' is not a Slurm time"),
    (["--time-min=UNLIMITED"], "a minimum time must be finite"),
    (["--time-min=0"], "a minimum time must be finite"),
    (["--time=10", "--time-min=11"], "--time-min=11 is longer than --time=10"),
    (["--time="], "is not a Slurm time"),
    (["-t", "1:2:3:4"], "is not a Slurm time"),
    (["--time=99999999999"], "is not a Slurm time"),
    (["--time=9999999-0"], "is not a Slurm time"),
    (["--time=30000-0"], "longer than Slurm can count"),
    (["--mem=4X"], "--mem: '4X' is not a size"),
    (["--mem=-1"], "is not a size"),
    (["-c", "0"], "--cpus-per-task: '0' is not a positive whole number"),
    (["-c", " 4"], "is not a positive whole number"),
    (["--mail-type=END,bogus"], "is not a list of"),
    (["--nice=-5"], "a negative nice value needs a Slurm operator"),
    (["--job-name=a\nb"], "contains control characters"),
    (["--mail-user=a b"], "contains control characters or spaces"),
    (["--nice", "5"], "'5' is not an option: sbatch would take it as the batch script"),
    (["job.sh"], "'job.sh' is not an option"),
    (["-"], "'-' is not an option"),
    (["--"], "'--' ends Slurm's options"),
    ([":"], "heterogeneous job"),
    (["-J", ":"], "heterogeneous job"),  # sbatch drops ':' before getopt runs
    (["-J"], "option requires an argument -- 'J'"),
    (["--time"], "option '--time' requires an argument"),
    (["--hold=1"], "option '--hold' doesn't allow an argument"),
    (["--cpus=1"], "ambiguous"),
    (["--=1"], "ambiguous"),
    (["--bogus"], "sbatch has no option '--bogus'"),
    (["-y"], "sbatch has no option '-y'"),
    (["--time=1\0"], "NUL byte"),
    (["--dependency=afterok:1"], "--dependency .* not accepted here; accepted: --time"),
    (["-v"], "--verbose .* not accepted"),
    (["--test-only"], "--test-only .* not accepted"),
])
def test_refused(words, message):
    with pytest.raises(SlurmOptionError, match=message) as err:
        check_user_options(words)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text, seconds", [
    ("10", 600), ("10:30", 630), ("1:00:00", 3600), ("2-0", 172800), ("2-12:30", 2 * 86400 + 12 * 3600 + 1800),
    ("2-12:30:15", 2 * 86400 + 12 * 3600 + 1815), ("0", 0), ("UNLIMITED", None), ("infinite", None), ("-1", None),
])
def test_time_forms(text, seconds):
    assert time_seconds(text) == seconds


@pytest.mark.parametrize("text, mb", [("4096", 4096), ("4G", 4096), ("4gb", 4096), ("1K", 1), ("1025K", 2),
                                      ("2T", 2 * 1024 * 1024), ("0", 0)])
def test_sizes(text, mb):
    assert megabytes(text) == mb


def test_tables_are_slurms():
    """Counts and spot checks of the table taken from slurm_opt.c (a truncated or shifted table fails)."""
    sbatch, srun = option_table("sbatch"), option_table("srun")
    assert (len(OPTIONS), len(sbatch), len(srun)) == (143, 106, 131)  # 130 + x11 for srun
    by_name = {o.name: o for o in sbatch}
    assert (by_name["licenses"].val, by_name["licenses"].has_arg) == ("L", 1)
    assert (by_name["nice"].has_arg, by_name["wait"].has_arg) == (2, 0)
    assert {o.name for o in srun if o.name == "wait"} and [o for o in srun if o.name == "wait"][0].has_arg == 1
    assert "array" not in {o.name for o in srun} and "pty" not in by_name and "wrap" in by_name
    assert set(ALLOWED) <= by_name.keys()


# -------------------------------------------------------------------------------------------- fuzz
_NAMES = sorted({name for name, *_ in OPTIONS})
_LETTERS = sorted({val for _, _, val, _ in OPTIONS if len(val) == 1}) + ["y", "#", "é", ":"]
_VALUES = ["10", "abc", "", "W33F1", "station:s500:1", "batch", "1-2:3", "4G", "-p", "--licenses=W33F1", ":", "--",
           "x" * 300, "a\nb", "[/]", "\x00", "\udcff", "0-2", "-1", "END", "𝔘"]


@st.composite
def words(draw) -> list[str]:
    out = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.integers(0, 4))
        if kind == 0:  # long option, maybe cut to a prefix, maybe with =value
            name = draw(st.sampled_from(_NAMES))
            name = name[:draw(st.integers(0, len(name)))]
            out.append("--" + name + (("=" + draw(st.sampled_from(_VALUES))) if draw(st.booleans()) else ""))
        elif kind == 1:  # bundle of short letters, maybe with an attached value
            letters = draw(st.lists(st.sampled_from(_LETTERS), min_size=1, max_size=4))
            out.append("-" + "".join(letters) + (draw(st.sampled_from(_VALUES)) if draw(st.booleans()) else ""))
        elif kind == 2:
            out.append(draw(st.sampled_from(_VALUES)))
        else:
            out.append(draw(st.text(max_size=12)))
    return out


@settings(max_examples=int(os.environ.get("NMCLUSTER_SLURMOPT_FUZZ", "500")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(words(), st.sampled_from(["sbatch", "srun"]))
def test_fuzz_only_one_line_user_errors(ws, command):
    """Random option lists: accepted (every option allow-listed, canonical one-word forms) or one line."""
    try:
        out = check_user_options(ws, command)
    except SlurmOptionError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg and len(msg) < 600 and isinstance(exc, UserInputError)
        return
    assert len(out) == len(parse(ws, command))  # one canonical word per option read (a bundle gives several)
    for canonical in out:
        name = canonical[2:].split("=", 1)[0]
        assert name in ALLOWED
        assert [p.canonical() for p in parse([canonical], command)] == [canonical]  # stable re-reading


# ------------------------------------------------------------------------------- against real Slurm
CONTROLLER_SIZE_REFUSALS = ("Requested node configuration is not available", "Memory required by task is not available")
GETOPT_ERRORS = ("unrecognized option", "invalid option", "is ambiguous", "doesn't allow an argument",
                 "requires an argument")


@pytest.fixture(scope="module")
def real(slurm_cluster, tmp_path_factory):
    """Run the real sbatch/srun with -v --test-only (queues nothing): (exit code, names of the options it
    lists as defined, stderr).  Slurm prints that list right after parsing, before asking the controller."""
    script = tmp_path_factory.mktemp("slurmopts") / "job.sh"
    script.write_text("#!/bin/sh\ntrue\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **slurm_cluster.env}

    def run(command: str, ws: list[str]) -> tuple[int, set[str] | None, str]:
        argv = [command, "-v", "--test-only", *ws, str(script) if command == "sbatch" else "/bin/true"]
        proc = subprocess.run(argv, capture_output=True, encoding="utf-8", errors="replace", env=env, timeout=30,
                              stdin=subprocess.DEVNULL)
        m = re.search(r"defined options\n[^\n]*\n(.*?)\n[^\n]*-{5,}", proc.stderr, re.S)
        names = None
        if m:
            names = {k.group(1) for k in re.finditer(r"^(?:sbatch|srun): (\S+) +: ", m.group(1), re.M)}
            names -= {"verbose", "test-only"}
        return proc.returncode, names, proc.stderr
    return run


@pytest.mark.parametrize("command", ["sbatch", "srun"])
@pytest.mark.parametrize("ws", [["--licens=W33F1"], ["-vLW33F1"], ["--parti=batch"], ["-p", "batch"],
                                ["--gres", "station:s501:1"], ["-A", "other"], ["-HJ", "x"], ["--cpus-per-t=4"],
                                ["--time-m=5"], ["-J", "--partition=batch"], ["--mem-per-c=1G"],
                                ["--tasks-per-node=1"], ["-c", "2", "--nice"]])
def test_parser_agrees_with_real_slurm(real, command, ws):
    rc, names, err = real(command, ws)
    assert names is not None, err
    assert names == {p.name for p in parse(ws, command)} - {"verbose"}, err


@pytest.mark.parametrize("command", ["sbatch", "srun"])
@pytest.mark.parametrize("ws", [["--acc=other"], ["--cpu=1"], ["--ti=5"], ["--hold=1"], ["-y"],
                                ["--bogus"]])
def test_getopt_errors_agree_with_real_slurm(real, command, ws):
    with pytest.raises(SlurmOptionError) as err:
        parse(ws, command)
    assert err.value.getopt
    rc, names, stderr = real(command, ws)
    assert rc != 0 and names is None and any(e in stderr for e in GETOPT_ERRORS), stderr


_VALUE_TEXT = st.one_of(st.from_regex(r"[0-9:\-]{0,9}", fullmatch=True),
                        st.from_regex(r"-?[0-9 +]{0,12}[KMGTkmgtBbX]{0,2}", fullmatch=True),
                        st.sampled_from(["UNLIMITED", "infinite", "-1", "END,fail", "ALL", "none,x", "a@b", "x y",
                                         "4294967296", "2147483647", "2147483645", "99999999999999999999"]))


@st.composite
def allowed_words(draw) -> list[str]:
    """Options of the allow-list with values near the edge of what Slurm accepts."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(sorted(ALLOWED)))
        if name in ("hold", "no-requeue"):
            out.append(f"--{name}")
        else:
            out.append(f"--{name}={draw(_VALUE_TEXT)}")
    return out


@settings(max_examples=int(os.environ.get("NMCLUSTER_SLURMOPT_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.one_of(words(), allowed_words()), st.sampled_from(["sbatch", "srun"]))
def test_fuzz_against_real_slurm(real, ws, command):
    """Where our parser reads options, the real command reads the same ones; where getopt fails for us it
    fails for Slurm; and an option list we accept, the real command accepts too (no value Slurm refuses)."""
    if any("\0" in w or "\udcff" in w or w == ":" for w in ws):
        return  # cannot be passed to a program, or removed by sbatch before parsing: refused by us anyway
    try:
        mine = {p.name for p in parse(ws, command)} - {"verbose"}
        error = None
    except SlurmOptionError as exc:
        mine, error = None, exc
    read = mine if mine is not None else {p.name for p in error.partial}
    if read & {"help", "usage", "version"}:
        return  # Slurm prints help or its version and exits when it reaches that option
    rc, names, err = real(command, ws)
    if mine is not None:
        assert not any(e in err for e in GETOPT_ERRORS), (ws, err)
        if names is not None:
            assert names == mine, (ws, err)
    elif error.getopt:  # (an earlier option's value that Slurm refuses may stop it first)
        assert rc != 0 and names is None, (ws, err)
    try:
        check_user_options(ws, command)
    except SlurmOptionError:
        return
    # every value we accept, Slurm's client accepts (it lists options only once all were set); the controller
    # may still find that the node has fewer CPUs or less memory than asked: that depends on the site's size
    assert names is not None, (ws, err)
    assert rc == 0 or any(m in err for m in CONTROLLER_SIZE_REFUSALS), (ws, err)


# ------------------------------------------------------------------------------ through the CLI, on Slurm
@pytest.fixture
def slurm_cli(slurm_cluster, tmp_path):
    """``nmcluster`` as a subprocess, submitting to the real test cluster with an isolated job root."""
    import sys

    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "main.py").write_text("print('ran')\n")
    site = tmp_path / "site.toml"
    site.write_text(f'executor = "slurm"\njob_root = "{tmp_path}/jobs"\n'
                    f'[slurm]\njobcomp_file = "{slurm_cluster.jobcomp_file}"\n')
    env = {**os.environ, **slurm_cluster.env, "NMCLUSTER_CONFIG": str(site), "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "cfg"), "XDG_DATA_HOME": str(tmp_path / "data")}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "nmcluster.cli.main", *args], capture_output=True, text=True,
                              env=env, timeout=120, stdin=subprocess.DEVNULL, cwd=str(tmp_path))
    run.exp, run.jobs, run.env = exp, tmp_path / "jobs", env  # type: ignore[attr-defined]
    return run


def _slurm_jobs(env) -> list[str]:
    return subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, env=env,
                          timeout=30).stdout.split()


@pytest.mark.parametrize("opts, message", [
    (["--slurm-opt=--time=abc"], "Slurm option --time: 'abc' is not a Slurm time"),
    (["--slurm-opt=--licens=W33F1"], "Slurm option --licenses (given as '--licens=W33F1')"),
    (["--slurm-opt=-vLW33F1"], "Slurm option --licenses (given as '-vLW33F1')"),
    (["--slurm-opt=--parti=batch"], "Slurm option --partition"),
    (["--slurm-opt=-p", "--slurm-opt=batch"], "Slurm option --partition (given as '-p batch')"),
    (["--slurm-opt=--gres", "--slurm-opt=station:s501:1"], "Slurm option --gres"),
    (["--slurm-opt=--acc=other"], "ambiguous"),
    (["--slurm-opt=-A", "--slurm-opt=other"], "Slurm option --account"),
    (["--slurm-opt=--job-name"], "requires an argument"),  # would swallow nmcluster's own next argument
])
def test_cli_refuses_with_one_line_and_queues_nothing(slurm_cli, opts, message):
    before = _slurm_jobs(slurm_cli.env)
    proc = slurm_cli("submit", str(slurm_cli.exp), "-p", "wafer", "--wafer", "33", "--hicann", "297",
                     "-c", "main.py", *opts)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert _slurm_jobs(slurm_cli.env) == before
    assert not slurm_cli.jobs.exists() or sorted(p.name for p in slurm_cli.jobs.iterdir()
                                                 if not p.name.startswith("jobs.sqlite")) in ([], ["locks"])
    run = slurm_cli("run", "-p", "spikey", "--station", "500", *opts, "--", "true")
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_cli_accepted_options_reach_slurm(slurm_cli):
    """Accepted options go to sbatch as given and the job passes the site's job_submit.lua."""
    proc = slurm_cli("submit", str(slurm_cli.exp), "-p", "spikey", "--station", "501", "-c", "main.py",
                     "--slurm-opt=-t", "--slurm-opt=7", "--slurm-opt=-Jmine", "--slurm-opt=--hold", "--json")
    assert proc.returncode == 0, proc.stderr
    import json

    record = json.loads(proc.stdout)
    external = record.get("external_id") or record.get("slurm_job_id")
    try:
        show = subprocess.run(["scontrol", "show", "job", str(external)], capture_output=True, text=True,
                              env=slurm_cli.env, timeout=30).stdout
        assert "TimeLimit=00:07:00" in show and "JobName=mine" in show and "Partition=spikey" in show, show
        assert "TresPerNode=gres:station:s501:1" in show and "JobState=PENDING" in show
    finally:
        slurm_cli("cancel", str(record["id"]))


def test_calib_run_checks_its_slurm_options(slurm_cli):
    before = _slurm_jobs(slurm_cli.env)
    proc = slurm_cli("calib", "run", "spikey", "--station", "500", "--slurm-opt=--parti=spikey")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "Slurm option --partition (given as '--parti=spikey')" in proc.stderr
    assert "the calibration run derives" in proc.stderr and _slurm_jobs(slurm_cli.env) == before
