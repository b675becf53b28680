"""Deviations from what a script asked for are never silent on the emulated Spikey and BrainScaleS:
each is told once per cause with counts (a WARNING on stderr: in a job, the job log), or refused
naming the hardware limit and the fix.  Also: the guidebook's synfire chain propagates on calibrated
HICANNs and breaks, told, on uncalibrated ones; the ESS config of the guidebook writes the pulse
statistics; BrainScaleS short-term plasticity depresses and recovers."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pyNN.nmcluster.brainscales as bss
import pyNN.nmcluster.spikey as spk
from nmcluster.emulators.brainscales import calibration as bss_calib
from nmcluster.emulators.spikey.chip import ChipConfigError, ChipLimitError

REPO = Path(__file__).resolve().parents[2]
SPIKEY = "nmcluster.emulators.spikey"
BSS = "nmcluster.emulators.brainscales"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for k in ("SLURM_HICANNS", "SLURM_DEFECTS_PATH", "NMCLUSTER_WAFER", "NMCLUSTER_CALIB_VERSION",
              "NMCLUSTER_UNCALIBRATED", "MY_STAGE1_STATION", bss_calib.ENV_VAR):
        monkeypatch.delenv(k, raising=False)
    yield
    spk.end()
    bss.end()


def warnings_of(caplog, logger: str, pattern: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == logger and r.levelno == logging.WARNING and re.search(pattern, r.getMessage())]


# -- Spikey -------------------------------------------------------------------------------------------
def _spikey_net(delay=None, v_rest=-75.0, strict=True, **setup):
    spk.setup(strict=strict, **setup)
    src = spk.Population(4, spk.SpikeSourceArray(spike_times=[5.0]))
    a = spk.Population(2, spk.IF_facets_hardware1(v_rest=v_rest))
    b = spk.Population(2, spk.IF_facets_hardware1(v_rest=-70.0 if not strict else v_rest))
    syn = spk.StaticSynapse(weight=7 * spk.minExcWeight(), **({} if delay is None else {"delay": delay}))
    spk.Projection(src, a, spk.AllToAllConnector(), syn)
    spk.Projection(src, b, spk.AllToAllConnector(), syn)
    return a, b


def test_spikey_delays_told_once_with_count(caplog):
    caplog.set_level(logging.WARNING)
    _spikey_net(delay=3.0)
    spk.run(20.0)
    spk.run(20.0)
    told = warnings_of(caplog, SPIKEY, "fixed synaptic delay")
    assert len(told) == 1 and told[0].startswith("Spikey: 16 synapse(s) asked for delays"), told
    caplog.clear()
    _spikey_net()  # the default (the chip's own) delay: nothing to tell
    spk.run(20.0)
    assert warnings_of(caplog, SPIKEY, "delay") == []


def test_spikey_voltage_out_of_range_refused():
    _spikey_net(v_rest=-200.0)
    with pytest.raises(ChipLimitError, match=r"v_rest = -200 mV lies outside the chip's range "
                                             r"-100\.\.-20 mV \(4 neuron"):
        spk.run(10.0)


def test_spikey_strict_false_tells_shared_conflicts(caplog):
    caplog.set_level(logging.WARNING)
    _spikey_net(strict=True)
    spk.run(5.0)  # same values: fine
    a, b = _spikey_net(v_rest=-60.0, strict=False)  # a: -60, b: -70, same block
    spk.run(5.0)
    told = warnings_of(caplog, SPIKEY, "block-shared parameters conflict")
    assert len(told) == 1 and "so 2 neuron(s) do not get theirs: v_rest (block 1): 2" in told[0], told
    with pytest.raises(ChipLimitError, match="v_rest is shared by all neurons of block"):
        spk.setup(strict=True)
        spk.Population(1, spk.IF_facets_hardware1(v_rest=-60.0))
        spk.Population(1, spk.IF_facets_hardware1(v_rest=-70.0))
        spk.run(5.0)


def test_spikey_uncalibrated_station_policy(caplog, monkeypatch):
    caplog.set_level(logging.WARNING)
    monkeypatch.setenv("MY_STAGE1_STATION", "station501")
    _spikey_net()
    spk.run(5.0)
    spk.run(5.0)
    told = warnings_of(caplog, SPIKEY, "runs uncalibrated")
    assert told == ["Spikey: station501 runs uncalibrated (no calibration of it in the store): "
                    "membrane time constants, thresholds and synapse strengths deviate by the "
                    "chip's fixed-pattern noise; run `nmcluster calib run spikey --station 501`"]
    monkeypatch.setenv("NMCLUSTER_UNCALIBRATED", "refuse")
    _spikey_net()
    with pytest.raises(ChipConfigError, match="station501 has no calibration and this site refuses"):
        spk.run(5.0)
    caplog.clear()
    monkeypatch.setenv("NMCLUSTER_UNCALIBRATED", "allow")
    _spikey_net()
    spk.run(5.0)
    assert warnings_of(caplog, SPIKEY, "uncalibrated") == []


# -- BrainScaleS ---------------------------------------------------------------------------------------
def test_brainscales_i_offset_not_applied_and_told(caplog):
    caplog.set_level(logging.WARNING)
    bss.setup(hicanns=[297])
    cells = bss.Population(10, bss.IF_cond_exp(i_offset=1.0))
    cells.record("spikes")
    bss.run(200.0)
    bss.run(200.0)
    assert sum(cells.get_spike_counts().values()) == 0  # no current input on the wafer
    told = warnings_of(caplog, BSS, "offset-current")
    assert told == ["BrainScaleS: the wafer's neurons have no offset-current input: i_offset != 0 "
                    "of 10 neuron(s) is not applied; drive them with spike sources, or raise v_rest"]


def test_brainscales_l2_uplink_loss_told(caplog):
    caplog.set_level(logging.WARNING)
    bss.setup(hicanns=[297], bandwidth=bss.Bandwidth(l2_up_rate=2e5, l2_up_burst=4))
    cells = bss.Population(10, bss.IF_cond_exp(v_rest=-45.0, v_thresh=-55.0))
    cells.record("spikes")
    bss.run(500.0)
    s = bss.pulse_statistics()
    told = warnings_of(caplog, BSS, "layer-2 uplink")
    assert s["l2_up_lost"] > 0 and len(told) == 1
    assert told[0].startswith(f"BrainScaleS: {s['l2_up_lost']} of {s['l2_up_sent']} recorded spikes")


def test_brainscales_negative_weight_names_the_fix():
    bss.setup(hicanns=[297])
    a = bss.Population(2, bss.SpikeSourceArray(spike_times=[1.0]))
    b = bss.Population(3, bss.IF_cond_exp())
    with pytest.raises(ValueError, match=r"6 negative weight\(s\).*receptor_type='inhibitory'"):
        bss.Projection(a, b, bss.AllToAllConnector(), bss.StaticSynapse(weight=-0.01))


def _psp_heights(stp):
    bss.setup(hicanns=[297])
    train = [50.0 + 20.0 * i for i in range(6)] + [50.0 + 20.0 * 5 + 900.0]
    src = bss.Population(1, bss.SpikeSourceArray(spike_times=train))
    cell = bss.Population(1, bss.IF_cond_exp(v_thresh=-20.0, tau_refrac=1.0))
    bss.Projection(src, cell, bss.AllToAllConnector(),
                   bss.TsodyksMarkramSynapse(weight=0.01, **stp) if stp else
                   bss.StaticSynapse(weight=0.01), receptor_type="excitatory")
    cell.record("v")
    bss.run(train[-1] + 100.0)
    sig = cell.get_data().segments[0].analogsignals[0]
    t = np.asarray(sig.times)
    v = np.asarray(sig)[:, 0]
    return np.array([v[(t >= s) & (t < s + 15)].max() - v[(t >= s - 1) & (t < s)].mean()
                     for s in train])


def test_brainscales_stp_depresses_and_recovers():
    static = _psp_heights(None)
    dep = _psp_heights({"U": 0.5, "tau_rec": 300.0, "tau_facil": 0.0})
    rel = dep / static  # against the same train through a static synapse (summation, driving force)
    assert static[6] == pytest.approx(static[0], rel=0.05)
    assert dep[0] > 0.5 and rel[0] == pytest.approx(0.5, abs=0.03)  # first PSP: U * weight
    assert np.all(rel[1:6] < 0.7 * rel[0]) and np.all(np.diff(rel[:4]) < 0), rel  # depression
    assert rel[6] > 0.85 * rel[0], rel  # recovered after 900 ms
    fac = _psp_heights({"U": 0.1, "tau_rec": 0.0, "tau_facil": 200.0}) / static
    assert fac[0] == pytest.approx(0.1, abs=0.02) and np.all(np.diff(fac[:6]) > 0), fac
    assert fac[5] > 3 * fac[0] and fac[6] < 1.5 * fac[0], fac  # facilitation decays in the pause
    bss.setup(hicanns=[297])
    a = bss.Population(1, bss.SpikeSourceArray(spike_times=[1.0]))
    b = bss.Population(1, bss.IF_cond_exp())
    with pytest.raises(ValueError, match="depressing .* or facilitating .*, not both"):
        bss.Projection(a, b, bss.AllToAllConnector(),
                       bss.TsodyksMarkramSynapse(weight=0.01, U=0.5, tau_rec=100.0, tau_facil=50.0))


class OnlyHicann297:
    """A calibration of HICANN 297 alone (what the issue saw: version 1 covered 297 and 298 only)."""

    def get(self, wafer, hicann):
        return bss_calib.HicannCalibration("1") if hicann == 297 else None


def test_uncalibrated_hicanns_told_with_per_hicann_versions(caplog, monkeypatch):
    caplog.set_level(logging.WARNING)
    bss.setup(hicanns=[297, 1], calibrationProvider=OnlyHicann297())
    bss.Population(200, bss.IF_cond_exp())  # more than one HICANN's 128 neurons
    bss.run(10.0)
    st = bss.simulator.state
    assert st.calibration_versions == {297: "1", 1: None}
    told = warnings_of(caplog, BSS, "ran uncalibrated")
    assert len(told) == 1 and told[0].startswith("BrainScaleS: 1 HICANN(s) ran uncalibrated") \
        and "W33H1;" in told[0] and "W33H297" not in told[0]
    monkeypatch.setenv("NMCLUSTER_UNCALIBRATED", "refuse")
    bss.setup(hicanns=[297, 1], calibrationProvider=OnlyHicann297())
    bss.Population(200, bss.IF_cond_exp())
    with pytest.raises(ValueError, match=r"1 HICANN\(s\) without calibration \(W33H1\) and this "
                                         r"site refuses"):
        bss.run(10.0)


def test_ess_config_of_the_guidebook_writes_pulse_statistics(tmp_path, monkeypatch):
    """The guidebook's ESS Config snippet (pysthal.ESSConfig on marocco.ess_config) acts: weight
    distortion around the requested weights, pulse statistics written to the named file."""
    monkeypatch.chdir(tmp_path)
    from nmcluster.emulators.brainscales import pysthal
    from nmcluster.emulators.brainscales import legacy as pynn
    from nmcluster.emulators.brainscales.pymarocco import PyMarocco

    marocco = PyMarocco()
    marocco.backend = PyMarocco.ESS
    ess_config = pysthal.ESSConfig()
    ess_config.enable_weight_distortion = True
    ess_config.weight_distortion = 0.2
    ess_config.pulse_statistics_file = "pulse_stats.py"
    marocco.ess_config = ess_config
    marocco.continue_despite_synapse_loss = True
    pynn.setup(marocco=marocco, hicanns=[297])
    src = pynn.Population(40, pynn.SpikeSourcePoisson, {"rate": 20.0})
    cells = pynn.Population(40, pynn.IF_cond_exp)
    prj = pynn.Projection(src, cells, pynn.OneToOneConnector(weights=0.01), target="excitatory")
    cells.record()
    pynn.run(500.0)
    w = np.diag(marocco.stats.weights[prj._index])
    assert np.all(w >= 0) and 0.1 < np.std(w / 0.01 - 1) < 0.3
    ns: dict = {}
    exec((tmp_path / "pulse_stats.py").read_text(), ns)
    stats = ns["pulse_statistics"]
    assert set(stats) == {"l2_down_before_sim", "l2_down_dropped_before_sim", "l2_down_sent",
                          "l2_down_lost", "l2_up_sent", "l2_up_lost", "l1_neuron_sent",
                          "l1_neuron_lost"}
    assert stats["l2_down_sent"] > 100 and stats == pynn.pulse_statistics()


def _synfire(tmp_path: Path, calib_root: Path) -> tuple[list[int], str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NMCLUSTER_UNCALIBRATED",)}
    env.update(SLURM_HICANNS="W33H366,W33H367", NMCLUSTER_CALIB_ROOT=str(calib_root),
               MPLBACKEND="Agg", PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, str(REPO / "examples" / "synfire_chain.py"),
                          "nmcluster.brainscales"], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    counts = [int(n) for n in re.findall(r"^exc link\s+\d+:\s+(\d+) spikes", out.stdout, re.M)]
    return counts, out.stderr


@pytest.fixture(scope="module")
def wafer_calib(tmp_path_factory) -> Path:
    """A calibration store whose version 1 of wafer 33 covers HICANNs 366 and 367 only."""
    calib = tmp_path_factory.mktemp("wafercal")
    run = subprocess.run([sys.executable, "-m", "nmcluster.cli.main", "calib", "run", "wafer",
                          "--wafer", "33", "--hicann", "366,367", "--local", "--reps", "2"],
                         capture_output=True, text=True, timeout=300,
                         env=dict(os.environ, NMCLUSTER_CALIB_ROOT=str(calib), PYTHONPATH=str(REPO)))
    assert run.returncode == 0, run.stderr[-2000:]
    return calib


@pytest.mark.slow
def test_synfire_chain_propagates_on_calibrated_hicanns_and_breaks_told_without(tmp_path,
                                                                               wafer_calib):
    counts, err = _synfire(tmp_path, wafer_calib)
    assert len(counts) == 11 and all(c >= 8 for c in counts), counts  # every link fires
    assert "uncalibrated" not in err
    (tmp_path / "empty").mkdir()
    counts, err = _synfire(tmp_path, tmp_path / "empty")
    assert counts[-1] == 0 and counts[1] > 8 * 3, counts  # fires before input, then dies out
    assert "2 HICANN(s) ran uncalibrated" in err and "W33H366, W33H367" in err


def _submit(tmp_path: Path, calib: Path, hicann: int, policy: str) -> tuple[dict, str, dict]:
    cfg = tmp_path / f"site-{policy}.toml"
    cfg.write_text(f'job_root = "{tmp_path / "jobs"}"\nexecutor = "local"\n'
                   f'[hardware]\nuncalibrated = "{policy}"\n')
    script = tmp_path / "run.py"
    script.write_text("import pyhmf as pynn\npynn.setup()\np = pynn.Population(4, pynn.IF_cond_exp)\n"
                      "pynn.run(20.0)\npynn.end()\n")
    env = {k: v for k, v in os.environ.items() if k not in ("NMCLUSTER_UNCALIBRATED",
                                                          "NMCLUSTER_CALIB_VERSION")}
    env.update(NMCLUSTER_CONFIG=str(cfg), NMCLUSTER_CALIB_ROOT=str(calib), PYTHONPATH=str(REPO))
    cli = [sys.executable, "-m", "nmcluster.cli.main"]
    sub = subprocess.run([*cli, "submit", str(script), "-p", "ess", "--wafer", "33", "--hicann",
                          str(hicann), "--local", "--command", "run.py", "--wait"],
                         capture_output=True, text=True, timeout=300, env=env)
    job = sub.stdout.split()[0]
    import json

    status = json.loads(subprocess.run([*cli, "status", job, "--json"], capture_output=True,
                                       text=True, env=env, check=True).stdout)
    log = subprocess.run([*cli, "log", job], capture_output=True, text=True, env=env).stdout
    result = json.loads((Path(status["job_dir"]) / "result.json").read_text())
    return status, log, result


def test_job_records_calibration_per_hicann_and_site_choice(tmp_path, wafer_calib):
    status, log, result = _submit(tmp_path, wafer_calib, 1, "warn")
    assert status["status"] == "finished"
    assert status["calib_version"] is None  # version 1 covers HICANNs 366, 367, not HICANN 1
    assert result["calib_coverage"] == {"W33H1": None}
    assert status["backend_reason"].endswith("; uncalibrated: W33H1")
    assert "uncalibrated (nominal values): W33H1 (calibration version 1 covers none of them)" in log
    assert "BrainScaleS: 1 HICANN(s) ran uncalibrated" in log  # the backend's own word
    status, log, result = _submit(tmp_path, wafer_calib, 367, "warn")
    assert status["calib_version"] == 1 and result["calib_coverage"] == {"W33H367": 1}
    assert "uncalibrated" not in status["backend_reason"] and "uncalibrated" not in log
    status, log, result = _submit(tmp_path, wafer_calib, 1, "refuse")
    assert status["status"] == "error"
    assert "this site refuses uncalibrated hardware" in log
    status, log, result = _submit(tmp_path, wafer_calib, 1, "allow")
    assert status["status"] == "finished" and "uncalibrated" not in log
    assert result["calib_coverage"] == {"W33H1": None}


def test_pymarocco_settings_act(tmp_path, wafer_calib, monkeypatch):
    """calib_backend (XML + calib_path, Without), defects (backend, path) and default_wafer change
    what the emulated wafer does; the guidebook's placement hint places the population."""
    import json

    from nmcluster.calib.formats import export_xml
    from nmcluster.calib.store import CalibStore
    from nmcluster.emulators.brainscales import coordinate as C
    from nmcluster.emulators.brainscales.pymarocco import Defects, PyMarocco

    monkeypatch.setenv("NMCLUSTER_CALIB_ROOT", str(tmp_path / "empty-store"))
    xml = tmp_path / "xml"
    export_xml(CalibStore(wafer_calib).read("wafer33"), xml)
    bad = tmp_path / "defects"
    bad.mkdir()
    (bad / "wafer33.json").write_text(json.dumps({"unavailable_hicanns": [367]}))

    def run(**settings):
        marocco = PyMarocco()
        for k, v in settings.items():
            target = marocco
            *path, last = k.split("__")
            for p in path:
                target = getattr(target, p)
            setattr(target, last, v)
        bss.setup(marocco=marocco, hicanns=[367, 366])
        bss.Population(4, bss.IF_cond_exp())
        bss.run(1.0)
        return bss.simulator.state

    st = run()  # default calibration backend: the store, empty here
    assert st.calibration_versions == {367: None}
    st = run(calib_backend=PyMarocco.CalibBackend.XML, calib_path=str(xml))
    assert st.calibration_versions[367] is not None  # calibtic files: calibrated
    st = run(calib_backend=PyMarocco.CalibBackend.Without, calib_path=str(xml))
    assert st.calibration_versions == {367: None}
    st = run(defects__backend=Defects.Backend.XML, defects__path=str(bad))
    assert set(st.placement.hicann) == {366}  # HICANN 367 unavailable in those defects
    monkeypatch.setenv("SLURM_DEFECTS_PATH", str(bad))
    assert set(run().placement.hicann) == {366}  # the job's defects
    st = run(defects__backend=Defects.Backend.Without)
    assert set(st.placement.hicann) == {367}  # no defects at all
    assert run(default_wafer=C.Wafer(37)).config.wafer == 37
    with pytest.raises(ValueError, match="calib_backend XML needs marocco.calib_path"):
        run(calib_backend=PyMarocco.CalibBackend.XML)


def test_pymarocco_no_effect_settings_told_once_each(caplog):
    from nmcluster.emulators.brainscales.pymarocco import PyMarocco

    caplog.set_level(logging.WARNING)
    marocco = PyMarocco()
    marocco.backend = PyMarocco.ESS
    marocco.param_trafo.use_big_capacitors = False
    bss.setup(marocco=marocco, hicanns=[297])
    bss.Population(1, bss.IF_cond_exp())
    bss.run(1.0)
    marocco.hicann_configurator = PyMarocco.NoResetNoFGConfigurator  # as nmpm1_single_neuron.py
    bss.run(1.0)
    bss.run(1.0)
    told = warnings_of(caplog, BSS, "without effect")
    assert len(told) == 2, told
    assert "param_trafo.use_big_capacitors=False" in told[0] and "hicann_configurator" not in told[0]
    assert "hicann_configurator=PyMarocco.Configurator.NoResetNoFGConfigurator" in told[1]
    assert "use_big_capacitors" not in told[1]


def test_nmcluster_run_obeys_the_site_choice(tmp_path):
    cfg = tmp_path / "site.toml"
    cfg.write_text(f'job_root = "{tmp_path / "jobs"}"\nexecutor = "local"\n'
                   f'[hardware]\nuncalibrated = "refuse"\n')
    (tmp_path / "run.py").write_text("import pyhmf as pynn\npynn.setup()\n"
                                     "pynn.Population(4, pynn.IF_cond_exp)\npynn.run(20.0)\n")
    env = {k: v for k, v in os.environ.items() if k != "NMCLUSTER_UNCALIBRATED"}
    env.update(NMCLUSTER_CONFIG=str(cfg), NMCLUSTER_CALIB_ROOT=str(tmp_path / "calib"),
               PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-m", "nmcluster.cli.main", "run", "-p", "ess", "--wafer",
                          "33", "--hicann", "1", "--local", "--", "python", "run.py"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert out.returncode == 1
    assert "1 HICANN(s) without calibration (W33H1) and this site refuses" in out.stderr
