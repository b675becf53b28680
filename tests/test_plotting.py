"""nmcluster.plotting and ``nmcluster plot``: figures from a real emulator run's data file, and the
error paths (no matplotlib, no file, not neo, nothing recorded, a job without data files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NMCLUSTER = [sys.executable, "-m", "nmcluster.cli.main"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

SPIKEY_SCRIPT = """
import sys
import pyNN.nmcluster.spikey as sim
sim.setup(timestep=0.1, workStationName="station500")
exc = sim.Population(6, sim.IF_cond_exp(), label="exc")
inh = sim.Population(4, sim.IF_cond_exp(), label="inh")
stim = sim.Population(1, sim.SpikeSourceArray(spike_times=[10.0, 12.0, 14.0, 40.0, 42.0]))
w = 15 * sim.minExcWeight()
sim.Projection(stim, exc, sim.AllToAllConnector(), sim.StaticSynapse(weight=w), receptor_type="excitatory")
sim.Projection(exc, inh, sim.AllToAllConnector(), sim.StaticSynapse(weight=w), receptor_type="excitatory")
net = exc + inh
net.record("spikes")
exc[0:1].record("v")
sim.run(80.0)
net.write_data(sys.argv[1], annotations={"script": "tiny", "backend": "nmcluster.spikey"})
sim.end()
"""


def _site_env(tmp_path: Path) -> dict[str, str]:
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'job_root = "{tmp_path / "jobs"}"\nexecutor = "local"\n')
    env = {k: v for k, v in os.environ.items()
           if k not in ("SLURM_CONF", "MY_STAGE1_STATION", "NMCLUSTER_PARTITION", "NMCLUSTER_HOST")}
    env.update(NMCLUSTER_CONFIG=str(cfg), NMCLUSTER_QUIET="1", MPLBACKEND="Agg")
    return env


@pytest.fixture(scope="module")
def spikey_data(tmp_path_factory) -> Path:
    """A neo pickle written by write_data from a real run on the Spikey emulator."""
    tmp = tmp_path_factory.mktemp("spikey_data")
    (tmp / "tiny.py").write_text(SPIKEY_SCRIPT)
    out = subprocess.run([sys.executable, "tiny.py", "tiny.pkl"], cwd=tmp, capture_output=True, text=True,
                         timeout=120, env=_site_env(tmp))
    assert out.returncode == 0, out.stderr[-2000:]
    return tmp / "tiny.pkl"


def _empty_block(path: Path, spikes: bool) -> Path:
    import neo
    import quantities as pq

    seg = neo.Segment()
    if spikes:
        seg.spiketrains.append(neo.SpikeTrain([1.0, 2.0] * pq.ms, t_stop=10 * pq.ms,
                                              source_population="p", source_index=0))
    block = neo.Block(name="handmade")
    block.segments.append(seg)
    neo.io.PickleIO(filename=str(path)).write(block)
    return path


def _cli(env, *args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*NMCLUSTER, *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


def test_load_recording_groups_by_population(spikey_data):
    from nmcluster.plotting import load_recording

    rec = load_recording(spikey_data)
    assert rec.backend == "nmcluster.spikey"
    assert [label for label, _ in rec.groups] == ["exc", "inh"]
    assert rec.n_neurons == 10 and rec.n_spikes > 0
    assert len(rec.signals) == 1 and rec.signals[0][0].startswith("v of exc")
    assert rec.t_stop == pytest.approx(80.0, abs=0.2)


@pytest.mark.parametrize("kind", ["raster", "membrane"])
def test_plot_file_writes_png(spikey_data, tmp_path, kind):
    pytest.importorskip("matplotlib")
    from nmcluster.plotting import plot_file

    out = plot_file(spikey_data, tmp_path / f"{kind}.png", kind)
    assert out.read_bytes()[:8] == PNG_MAGIC and out.stat().st_size > 5000


def test_cli_plot_file_and_default_name(spikey_data, tmp_path):
    pytest.importorskip("matplotlib")
    env = _site_env(tmp_path)
    out = _cli(env, "plot", str(spikey_data), "-o", str(tmp_path / "r.png"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:8] == PNG_MAGIC
    copy = tmp_path / "data.pkl"
    copy.write_bytes(spikey_data.read_bytes())
    out = _cli(env, "plot", str(copy), "--kind", "membrane")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "data_membrane.png").is_file()


@pytest.mark.parametrize("case, kind, message", [
    ("missing", "raster", "no such file"),
    ("garbage", "raster", "cannot read neo data"),
    ("nospikes", "raster", "no spike trains"),
    ("nosignals", "membrane", "no analog signals"),
])
def test_cli_plot_errors_are_one_line_exit_2(tmp_path, case, kind, message):
    pytest.importorskip("matplotlib")
    path = tmp_path / f"{case}.pkl"
    if case == "garbage":
        path.write_text("not a pickle")
    elif case in ("nospikes", "nosignals"):
        _empty_block(path, spikes=case == "nosignals")
    out = _cli(_site_env(tmp_path), "plot", str(path), "--kind", kind)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert not list(tmp_path.glob("*.png"))


def test_missing_matplotlib_is_a_clear_error(spikey_data, monkeypatch, capsys):
    from nmcluster import plotting
    from nmcluster.cli.main import main

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert main(["plot", str(spikey_data)]) == 2
    err = capsys.readouterr().err
    assert "matplotlib is not installed" in err and "nmcluster[plot]" in err
    assert plotting.example_figures(spikey_data) == []  # examples: a note, no figures, no failure
    assert "matplotlib is missing" in capsys.readouterr().err


def test_cli_plot_job_finds_data_among_outputs(spikey_data, tmp_path):
    pytest.importorskip("matplotlib")
    env = _site_env(tmp_path)
    code = tmp_path / "code"
    code.mkdir()
    (code / "copy_data.py").write_text(  # a job whose output is the emulator's data file
        f"import shutil\nshutil.copy({str(spikey_data)!r}, 'result.pkl')\nopen('notes.txt', 'w').write('x')\n")
    (code / "nothing.py").write_text("open('notes.txt', 'w').write('x')\n")
    ids = {}
    for script in ("copy_data.py", "nothing.py"):
        out = _cli(env, "submit", str(code / script), "-p", "spikey", "--local", "--wait", "--json")
        assert out.returncode == 0, out.stderr
        ids[script] = json.loads(out.stdout)["id"]
    out = _cli(env, "plot", str(ids["copy_data.py"]), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    png = tmp_path / f"job{ids['copy_data.py']}_result_raster.png"
    assert out.stdout.strip() == png.name and png.read_bytes()[:8] == PNG_MAGIC
    out = _cli(env, "plot", str(ids["nothing.py"]), cwd=tmp_path)
    assert out.returncode == 2 and "no neo data file among its outputs" in out.stderr, out.stderr
    out = _cli(env, "plot", "4711", cwd=tmp_path)
    assert out.returncode == 2 and "4711" in out.stderr


# --------------------------------------------------------------------------------------------------
# Durable data (issue 26): NIX from write_data, and every format neo.io.get_io reads


def test_nix_file_from_write_data_reads_like_the_pickle(spikey_data):
    """The same run written as NIX (nixio, the nix extra) gives the same spikes and membrane trace."""
    pytest.importorskip("nixio")
    from nmcluster.plotting import load_recording

    tmp = spikey_data.parent
    out = subprocess.run([sys.executable, "tiny.py", "tiny.nix"], cwd=tmp, capture_output=True, text=True,
                         timeout=120, env=_site_env(tmp))
    assert out.returncode == 0, out.stderr[-2000:]
    nix, pkl = load_recording(tmp / "tiny.nix"), load_recording(spikey_data)
    assert (nix.n_neurons, nix.n_spikes) == (pkl.n_neurons, pkl.n_spikes) and pkl.n_spikes > 0
    assert [g for g, _ in nix.groups] == [g for g, _ in pkl.groups] == ["exc", "inh"]
    assert [s[0] for s in nix.signals] == [s[0] for s in pkl.signals] == ["v of exc #0"]
    for (_, a), (_, b) in zip(nix.groups, pkl.groups):
        assert all(list(x) == list(y) for x, y in zip(a, b))


def test_plot_reads_nest_spike_files_through_neo_get_io(tmp_path):
    """Not a write_data file: NEST's own .gdf spike output (neo's NestIO, found by neo.io.get_io)."""
    pytest.importorskip("matplotlib")
    gdf = tmp_path / "spike_recorder-11-0.gdf"
    gdf.write_text("1\t5.0\n2\t7.5\n1\t12.25\n3\t30.0\n")
    from nmcluster.plotting import load_recording

    rec = load_recording(gdf)
    assert (rec.n_neurons, rec.n_spikes) == (3, 4)
    assert sorted(t for _, trains in rec.groups for tr in trains for t in tr) == [5.0, 7.5, 12.25, 30.0]
    out = subprocess.run([*NMCLUSTER, "plot", str(gdf), "-o", str(tmp_path / "r.png")], capture_output=True,
                         text=True, timeout=120, env=_site_env(tmp_path))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "r.png").read_bytes()[:8] == PNG_MAGIC


def test_plot_names_what_neo_reads_for_an_unknown_format(tmp_path):
    bad = tmp_path / "data.xyz"
    bad.write_text("nothing")
    out = subprocess.run([*NMCLUSTER, "plot", str(bad)], capture_output=True, text=True, timeout=120,
                         env=_site_env(tmp_path))
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "not a format neo can read" in out.stderr
    assert ".nix" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.parametrize("with_nixio", [True, False])
def test_examples_write_nix_when_nixio_is_installed(tmp_path, with_nixio):
    """The spinnaker example (the quickest) writes spinnaker_balanced.nix with nixio, .pkl without."""
    if with_nixio:
        pytest.importorskip("nixio")
    env = _site_env(tmp_path)
    if not with_nixio:  # a module named nixio that fails to import, first on the path
        block = tmp_path / "block"
        block.mkdir()
        (block / "nixio.py").write_text("raise ImportError('nixio hidden by the test')\n")
        env["PYTHONPATH"] = os.pathsep.join([str(block), env.get("PYTHONPATH", "")])
    env["MPLBACKEND"] = "Agg"
    out = subprocess.run([sys.executable, str(REPO / "examples" / "spinnaker_balanced.py"), "nmcluster.spinnaker"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    suffix = ".nix" if with_nixio else ".pkl"
    made = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("spinnaker_balanced."))
    assert made == [f"spinnaker_balanced{suffix}"], made
    from nmcluster.plotting import load_recording

    assert load_recording(tmp_path / f"spinnaker_balanced{suffix}").n_spikes > 0
