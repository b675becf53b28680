"""``list``/``status`` for scripts: ``--format`` field lists and ``--noheader`` like ``squeue -o``/``-h``,
one unwrapped line per job when piped, id lists as ranges (a whole wafer is ``HICANNS=0-383``)."""

from __future__ import annotations


def test_format_noheader_and_ranges(local_site, experiment):
    wafer = local_site.submit(str(experiment), "-p", "BrainScaleS-ESS", "--wafer", "33", "-c", "run.py {system}")
    spikey = local_site.submit(str(experiment), "-p", "spikey", "-c", "run.py {system} " + "x" * 300)
    for job in (wafer, spikey):
        assert local_site.wait(job)["status"] == "finished"

    out = local_site.cli("list", "--all", "--format", "id,status,hardware,slurm_state,exit_code", "--noheader",
                         check=True).stdout
    rows = [line.split("\t") for line in out.splitlines()]
    assert [r[:2] for r in rows] == [[str(spikey), "finished"], [str(wafer), "finished"]]
    assert all(len(r) == 5 for r in rows) and rows[1][4] == "0"
    assert rows[1][2] == "WAFER=33, HICANNS=0-383, FPGAS=0-47"

    piped = local_site.cli("list", "--all", check=True).stdout.splitlines()  # stdout is a pipe here
    assert len(piped) == 3 and piped[0].split("\t")[:3] == ["ID", "STATUS", "PLATFORM"]
    assert "x" * 300 in piped[1]  # the long command stays on its line

    status = local_site.cli("status", str(wafer), check=True).stdout
    assert "HICANNS=0-383" in status and len(status) < 400
    line = local_site.cli("status", str(wafer), "--format", "status,platform", "--noheader", check=True).stdout
    assert line == "finished\tBrainScaleS-ESS\n"


def test_unknown_format_field_is_one_line(local_site):
    proc = local_site.cli("list", "--format", "id,colour")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "unknown field(s) colour" in proc.stderr


def test_id_ranges():
    from nmcluster.cli.jobs import id_ranges

    assert id_ranges([5, 0, 1, 2, 7, 8, 8]) == "0-2,5,7-8"
    assert id_ranges(range(384)) == "0-383" and id_ranges([]) == ""
