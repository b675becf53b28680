"""The Spikey emulator as a PyNN backend: API coverage and behaviour."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import neo
import numpy as np
import pytest

import pyNN.nmcluster.spikey as sim

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh():
    sim.setup(timestep=0.1)
    yield
    sim.end()


def _mean_rate(input_rate: float, g_leak: float, **setup) -> float:
    sim.setup(**setup)
    src = sim.Population(32, sim.SpikeSourcePoisson(rate=input_rate))
    p = sim.Population(32, sim.IF_facets_hardware1(g_leak=g_leak))
    sim.Projection(src, p, sim.OneToOneConnector(),
                   sim.StaticSynapse(weight=15 * sim.minExcWeight()))
    p.record("spikes")
    sim.run(2000.0)
    return sum(p.get_spike_counts().values()) / 32 / 2.0


def test_rate_rises_with_input_rate_and_falls_with_leak():
    by_input = [_mean_rate(r, 20.0) for r in (20.0, 50.0, 100.0)]
    assert by_input[0] < by_input[1] < by_input[2], by_input
    by_leak = [_mean_rate(80.0, g) for g in (10.0, 20.0, 40.0)]
    assert by_leak[0] > by_leak[1] > by_leak[2], by_leak


def test_reproducible_with_seed_and_new_trial_after_reset():
    def run(seed):
        sim.setup(seed=seed)
        src = sim.Population(20, sim.SpikeSourcePoisson(rate=50.0))
        p = sim.Population(20, sim.IF_facets_hardware1())
        sim.Projection(src, p, sim.FixedProbabilityConnector(0.5),
                       sim.StaticSynapse(weight=3.3 * sim.minExcWeight()))
        p.record("spikes")
        sim.run(500.0)
        first = p.get_data().segments[0].spiketrains
        sim.reset()
        sim.run(500.0)
        second = p.get_data().segments[1].spiketrains
        return [np.asarray(s) for s in first], [np.asarray(s) for s in second]

    a1, a2 = run(7)
    b1, b2 = run(7)
    for x, y in zip(a1 + a2, b1 + b2):
        np.testing.assert_array_equal(x, y)
    assert any(not np.array_equal(x, y) for x, y in zip(a1, a2))  # new trial, new noise


def test_api_coverage(tmp_path):
    src = sim.Population(10, sim.SpikeSourceArray(spike_times=[[5.0, 15.0]] * 10), label="src")
    poisson = sim.Population(5, sim.SpikeSourcePoisson(rate=20.0))
    shared = dict(v_rest=-75.0, v_reset=-80.0, v_thresh=-55.0, e_rev_I=-80.0)  # one per block
    a = sim.Population(10, sim.IF_cond_exp(cm=0.2, tau_m=10.0, **shared), label="a")
    b = sim.Population(10, sim.IF_cond_alpha(cm=0.2, **shared), label="b")
    c = sim.Population(6, sim.IF_facets_hardware1(), label="c")
    view = a[2:6]
    assert isinstance(view, sim.PopulationView)
    assembly = a + b
    assert isinstance(assembly, sim.Assembly) and assembly.size == 20
    w = sim.StaticSynapse(weight=4 * sim.minExcWeight())
    conns = [
        sim.Projection(src, a, sim.AllToAllConnector(), w),
        sim.Projection(src, b, sim.OneToOneConnector(), w),
        sim.Projection(poisson, c, sim.FixedNumberPreConnector(2), w),
        sim.Projection(a, c, sim.FixedNumberPostConnector(3), w),
        sim.Projection(b, c, sim.FromListConnector([(0, 0, 0.004, 1.0), (1, 1, 0.004, 1.0)],
                                                   column_names=["weight", "delay"]),
                       receptor_type="inhibitory"),
        sim.Projection(src, c, sim.DistanceDependentProbabilityConnector("d < 3"), w),
    ]
    conn_file = tmp_path / "conns.txt"
    np.savetxt(conn_file, [[0, 1, 0.003, 1.0], [2, 3, 0.003, 1.0]])
    conns.append(sim.Projection(poisson, a, sim.FromFileConnector(str(conn_file)), w))
    assert len(conns[0]) == 100 and len(conns[1]) == 10 and len(conns[4]) == 2
    assert len(conns[6]) == 2
    assert conns[2].size() == 12
    assembly.record("spikes")
    view.record("spikes")
    c[0:1].record("v")
    a.initialize(v=-60.0)
    b.set(tau_refrac=2.0)
    assert b.get("tau_refrac") == 2.0
    sim.run(30.0)
    sim.run(20.0)  # multiple run calls
    assert sim.get_current_time() == pytest.approx(50.0)
    data = a.get_data()
    assert isinstance(data, neo.Block)
    assert len(data.segments[0].spiketrains) == 10
    counts = a.get_spike_counts()
    assert sum(counts.values()) > 0  # 10 x 4 levels x 2 spikes drive them over threshold
    vsig = c.get_data("v").segments[0].filter(name="v")[0]
    assert vsig.shape == (501, 1)
    out = tmp_path / "a.pkl"
    a.write_data(str(out))
    assert out.exists() and out.stat().st_size > 0
    ws = conns[0].get("weight", format="array")
    np.testing.assert_allclose(ws, 4 * sim.minExcWeight())
    conns[0].set(weight=2 * sim.minExcWeight())
    np.testing.assert_allclose(conns[0].get("weight", format="array"), 2 * sim.minExcWeight())
    sim.run(10.0)  # parameter change between runs, trial continues
    assert sim.get_current_time() == pytest.approx(60.0)
    sim.reset()
    assert sim.get_current_time() == 0.0
    sim.run(10.0)
    assert len(a.get_data().segments) == 2
    assert "IF_facets_hardware1" in sim.list_standard_models()


def test_fast_all_to_all_matches_connector_semantics():
    p = sim.Population(6, sim.IF_facets_hardware1())
    prj = sim.Projection(p, p, sim.AllToAllConnector(allow_self_connections=False),
                         sim.StaticSynapse(weight=0.002), receptor_type="excitatory")
    pairs = {(i, j) for i, j, _ in prj.get("weight", format="list")}
    assert pairs == {(i, j) for i in range(6) for j in range(6) if i != j}
    generic = sim.Projection(p[0:3], p[3:6], sim.AllToAllConnector(),
                             sim.StaticSynapse(weight=sim.RandomDistribution("uniform",
                                                                             (0.0, 0.01))))
    assert len(generic) == 9  # inhomogeneous weights: PyNN's generic connector path


def _stp_trace(U: float, tau_rec: float, tau_facil: float) -> np.ndarray:
    sim.setup(fixedPatternNoise=False, temporalNoise=False)
    times = 20.0 + 25.0 * np.arange(8)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=times))
    p = sim.Population(1, sim.IF_facets_hardware1(v_thresh=-40.0))
    sim.Projection(src, p, sim.AllToAllConnector(),
                   sim.TsodyksMarkramSynapse(weight=15 * sim.minExcWeight(), U=U,
                                             tau_rec=tau_rec, tau_facil=tau_facil))
    p.record("gsyn_exc")
    sim.run(220.0)
    g = np.asarray(p.get_data().segments[0].filter(name="gsyn_exc")[0]).ravel()
    return np.array([g[int(round((t + 1.0) / 0.1)) + 1] for t in times])  # peaks after arrival


def test_stp_depressing_vs_facilitating_traces():
    dep = _stp_trace(0.6, 150.0, 0.0)
    fac = _stp_trace(0.1, 0.0, 150.0)
    assert np.all(np.diff(dep) < 0), dep
    assert np.all(np.diff(fac) > 0), fac
    assert dep[-1] < 0.5 * dep[0] and fac[-1] > 2 * fac[0]


def test_stdp_weight_steps():
    def final_weight(offset: float) -> float:
        sim.setup(fixedPatternNoise=False, temporalNoise=False)
        n = 40
        t_post = 20.0 + 100.0 * np.arange(n)
        drive = sim.Population(8, sim.SpikeSourceArray(spike_times=t_post - 1.5))
        pre = sim.Population(1, sim.SpikeSourceArray(spike_times=t_post + offset))
        p = sim.Population(1, sim.IF_facets_hardware1(tau_refrac=20.0))  # one spike per volley
        sim.Projection(drive, p, sim.AllToAllConnector(),
                       sim.StaticSynapse(weight=15 * sim.minExcWeight()))
        stdp = sim.STDPMechanism(
            timing_dependence=sim.SpikePairRule(tau_plus=20.0, tau_minus=20.0, A_plus=0.01,
                                                A_minus=0.01),
            weight_dependence=sim.AdditiveWeightDependence(w_min=0.0,
                                                           w_max=15 * sim.minExcWeight()),
            weight=7 * sim.minExcWeight())
        prj = sim.Projection(pre, p, sim.AllToAllConnector(), stdp)
        p.record("spikes")
        sim.run(100.0 * n)
        assert sum(p.get_spike_counts().values()) == n  # each volley: exactly one spike
        return float(prj.get("weight", format="list", with_address=False)[0])

    up, down = final_weight(-3.0), final_weight(+3.0)
    lsb = sim.minExcWeight()
    for w in (up, down):
        assert abs(w / lsb - round(w / lsb)) < 1e-9  # 4-bit steps
    assert up > 7 * lsb and down < 7 * lsb
    # A = 0.01 of w_max per pair at dt -> 0: one level per ~7 pairs (exp(-3/20) = 0.86)
    assert 3 <= round(up / lsb) - 7 <= 6, up / lsb


def _psc(fall=None, out=None) -> np.ndarray:
    sim.setup(fixedPatternNoise=False, temporalNoise=False)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=[10.0]))
    p = sim.Population(1, sim.IF_facets_hardware1(v_thresh=-40.0))
    prj = sim.Projection(src, p, sim.AllToAllConnector(),
                         sim.StaticSynapse(weight=8 * sim.minExcWeight()))
    if fall is not None:
        prj.setDrvifallFactors([fall])
    if out is not None:
        prj.setDrvioutFactors(out)
    p.record("gsyn_exc")
    sim.run(40.0)
    return np.asarray(p.get_data().segments[0].filter(name="gsyn_exc")[0]).ravel()


def test_driver_fall_and_amplitude_factors():
    base, faster, stronger = _psc(), _psc(fall=2.0), _psc(out=1.5)
    assert stronger.max() == pytest.approx(1.5 * base.max(), rel=1e-9)
    k = int(np.argmax(base))
    # 5 ms after the peak: exp(-5/5) of the peak vs exp(-5/2.5) with doubled fall current
    assert base[k + 50] / base[k] == pytest.approx(np.exp(-1.0), rel=1e-6)
    assert faster[k + 50] / faster[k] == pytest.approx(np.exp(-2.0), rel=1e-6)


def test_batched_trials_api():
    src = sim.Population(16, sim.SpikeSourcePoisson(rate=60.0))
    p = sim.Population(16, sim.IF_facets_hardware1())
    sim.Projection(src, p, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.015))
    res = sim.run_trials(1000.0, trials=8)
    counts = res.spike_counts()
    assert counts.shape == (8, 16) and counts.sum() > 0
    assert len({tuple(r) for r in counts}) > 1  # independent trials
    assert sim.hardware_time() == pytest.approx(8 * 1.0 / 1e4)


NEST_STYLE_SCRIPT = '''
import sys
from importlib import import_module
import numpy as np
sim = import_module("pyNN." + sys.argv[1])
extra = {"fixedPatternNoise": False, "temporalNoise": False} if "spikey" in sys.argv[1] else {}
sim.setup(timestep=0.1, **extra)
cells = dict(cm=0.2, tau_m=20.0, v_rest=-70.0, v_reset=-70.0, v_thresh=-55.0, e_rev_E=0.0,
             e_rev_I=-80.0, tau_refrac=2.0, tau_syn_E=5.0, tau_syn_I=5.0)
inp = sim.Population(40, sim.SpikeSourcePoisson(rate=np.linspace(20.0, 120.0, 40)))
exc = sim.Population(40, sim.IF_cond_exp(**cells), initial_values={"v": -70.0})
sim.Projection(inp, exc, sim.OneToOneConnector(),
               sim.StaticSynapse(weight=0.012, delay=1.0), receptor_type="excitatory")
exc.record("spikes")
sim.run(5000.0)
print("TOTAL", sum(exc.get_spike_counts().values()))
'''


def test_nest_script_runs_unmodified_and_matches_nest(tmp_path):
    """The same script (weights on the 4-bit grid, no noise: where the chip's constraints do not
    apply) gives total spike counts within 10 % of NEST; Poisson realisations differ, so the
    comparison is statistical (40 neurons x 5 s, ~1000+ spikes)."""
    pytest.importorskip("nest")
    script = tmp_path / "run.py"
    script.write_text(NEST_STYLE_SCRIPT)
    totals = {}
    for backend in ("nest", "nmcluster.spikey"):
        out = subprocess.run([sys.executable, str(script), backend], capture_output=True,
                             text=True, timeout=120, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-2000:]
        totals[backend] = int(out.stdout.split("TOTAL")[-1].split()[0])
    assert totals["nest"] > 500
    assert abs(totals["nmcluster.spikey"] - totals["nest"]) <= 0.1 * totals["nest"], totals


def test_examples_run_with_emulator(tmp_path):
    for name in ("synfire_chain.py", "spikey_poisson.py"):  # they write data (and plots) into cwd
        out = subprocess.run([sys.executable, str(REPO / "examples" / name), "nmcluster.spikey"],
                             capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "nmcluster.spikey" in out.stdout
