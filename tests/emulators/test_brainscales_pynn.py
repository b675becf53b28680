"""BrainScaleS wafer emulator (pyNN.nmcluster.brainscales): mapping with synapse loss, placement
on the job's HICANNs, defects, ESS weight distortion and pulse statistics, AdEx dynamics."""

from __future__ import annotations

import runpy

import numpy as np
import pytest

sim = pytest.importorskip("pyNN.nmcluster.brainscales")
from nmcluster.emulators.brainscales import ess, wafer  # noqa: E402
from nmcluster.hwdrivers.wafer.defects import parse_defects  # noqa: E402


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    for k in ("SLURM_HICANNS", "SLURM_DEFECTS_PATH", "NMCLUSTER_WAFER"):
        monkeypatch.delenv(k, raising=False)
    yield
    sim.end()


def _loss_network(continue_despite_loss=True, chain=5):
    marocco = sim.PyMarocco()
    marocco.neuron_placement.default_neuron_size(4)
    marocco.synapse_routing.driver_chain_length(chain)
    marocco.continue_despite_synapse_loss = continue_despite_loss
    sim.setup(marocco=marocco)
    neuron = sim.Population(50, sim.IF_cond_exp())
    source = sim.Population(50, sim.SpikeSourcePoisson(rate=2.0))
    conn = sim.FixedProbabilityConnector(p_connect=0.5, allow_self_connections=True,
                                         rng=sim.NumpyRNG(seed=1))
    syn = sim.StaticSynapse(weight=0.00425)
    projs = [sim.Projection(source, neuron, conn, syn, receptor_type="excitatory"),
             sim.Projection(neuron, neuron, conn, syn, receptor_type="excitatory")]
    return marocco, projs


def test_guidebook_synapse_loss_example():
    marocco, projs = _loss_network()
    sim.run(10.0)
    st = marocco.stats
    assert st is sim.mapping_stats()
    assert st.synapses_lost > 0 and 5.0 < st.synapse_loss < 50.0
    assert st.synapses_lost + st.synapses_set == st.synapses
    assert (st.neurons, st.populations, st.projections) == (50, 2, 2)
    total = lost = 0
    for p in projs:
        orig = p.get("weight", format="array")
        mapped = st.getWeights(p)
        assert mapped.shape == (50, 50)
        assert not np.any(np.isfinite(mapped) & np.isnan(orig))
        t = int(np.isfinite(orig).sum())
        total += t
        lost += t - int(np.isfinite(mapped).sum())
    assert total == st.getSynapses() and lost == st.getSynapseLoss()
    assert "synapse_loss" in str(st)


def test_loss_is_an_error_by_default():
    _loss_network(continue_despite_loss=False)
    with pytest.raises(sim.SynapseLossError, match=r"lost \d+ of \d+ synapses"):
        sim.run(10.0)


def test_long_chains_lose_nothing():
    marocco, _ = _loss_network(continue_despite_loss=False, chain=56)
    sim.run(10.0)
    assert marocco.stats.synapses_lost == 0


def test_placement_on_slurm_hicanns_and_neuron_size(monkeypatch):
    monkeypatch.setenv("SLURM_HICANNS", "W33H297,W33H298")
    sim.setup(neuron_size=16)  # 256 columns / 8 = 32 neurons of 16 denmems per HICANN
    p = sim.Population(40, sim.IF_cond_exp())
    sim.run(1.0)
    assert sim.simulator.state.config.wafer == 33
    assert list(np.bincount(p.hicanns, minlength=299)[297:299]) == [32, 8]
    sim.setup(neuron_size=16)
    sim.Population(65, sim.IF_cond_exp())
    with pytest.raises(sim.WaferConfigError, match="not enough neurons"):
        sim.run(1.0)
    with pytest.raises(sim.WaferConfigError, match="neuron_size"):
        sim.setup(neuron_size=5)


def test_defects_and_manual_placement():
    defects = parse_defects({"unavailable_hicanns": [297],
                             "hicanns": {"298": {"denmems": list(range(0, 8)) + [300]}}}, 33)
    marocco = sim.PyMarocco()
    sim.setup(marocco=marocco, hicanns=[297, 298, 299], defects=defects)
    a = sim.Population(150, sim.IF_cond_exp())
    b = sim.Population(3, sim.IF_cond_exp())
    marocco.manual_placement.on_hicann(b, 299, 2)
    sim.run(1.0)
    pl = sim.simulator.state.placement
    assert set(a.hicanns) == {298, 299} and set(b.hicanns) == {299}
    # HICANN 298: columns 0..7 and 44 blacklisted -> 256/2 - 5 blocks of 2 columns usable
    assert np.sum(a.hicanns == 298) == 128 - 5
    assert not np.any(np.isin(pl.column[a._engine[a.hicanns == 298]], [0, 2, 4, 6, 44]))
    sim.setup(hicanns=[297], defects=defects)
    p = sim.Population(1, sim.IF_cond_exp())
    m = sim.PyMarocco()
    m.manual_placement.on_hicann(p, 297)
    sim.setup(marocco=m, hicanns=[297], defects=defects)
    q = sim.Population(1, sim.IF_cond_exp())
    m.manual_placement.on_hicann(q, "W33H297")
    with pytest.raises(sim.WaferConfigError, match="unavailable"):
        sim.run(1.0)


def _pulse_stats(rate: float, tmp_path=None) -> dict:
    kw = {"pulse_statistics_file": str(tmp_path / "pulse_stats.py")} if tmp_path else {}
    sim.setup(hicanns=[297], seed=2, **kw)
    src = sim.Population(100, sim.SpikeSourcePoisson(rate=rate))
    cells = sim.Population(20, sim.IF_cond_exp())
    sim.Projection(src, cells, sim.FixedProbabilityConnector(0.1, rng=sim.NumpyRNG(2)),
                   sim.StaticSynapse(weight=0.01), receptor_type="excitatory")
    cells.record("spikes")
    sim.run(1000.0)
    return sim.pulse_statistics()


def test_pulse_loss_rises_with_input_rate(tmp_path):
    stats = [_pulse_stats(r) for r in (5.0, 40.0, 200.0)]
    for s in stats:
        assert set(s) == set(ess.PULSE_KEYS)
        assert s["l2_down_before_sim"] == s["l2_down_sent"] + s["l2_down_dropped_before_sim"]
        assert s["l2_down_lost"] <= s["l2_down_sent"]
    dropped = [s["l2_down_dropped_before_sim"] + s["l2_down_lost"] for s in stats]
    assert dropped[0] == 0 and dropped[0] < dropped[1] < dropped[2]
    assert stats[2]["l2_down_before_sim"] > 15000
    s = _pulse_stats(200.0, tmp_path)
    ns: dict = {}
    exec((tmp_path / "pulse_stats.py").read_text(), ns)
    assert ns["pulse_statistics"] == s


def test_recording_loss_hides_spikes(tmp_path):
    bw = sim.Bandwidth(l2_up_rate=2e5, l2_up_burst=4)  # 20 bio events/s at 1e4
    sim.setup(hicanns=[297], bandwidth=bw)
    # no offset current on the wafer: tonic firing from a rest potential above threshold
    cells = sim.Population(10, sim.IF_cond_exp(v_rest=-45.0, v_thresh=-55.0))
    cells.record("spikes")
    sim.run(500.0)
    s = sim.pulse_statistics()
    recorded = sum(cells.get_spike_counts().values())
    assert s["l2_up_lost"] > 0
    assert recorded == s["l2_up_sent"] - s["l2_up_lost"]
    assert s["l1_neuron_sent"] == s["l2_up_sent"]


def test_weight_distortion_and_4bit_weights():
    sim.setup(hicanns=[297], enable_weight_distortion=True, weight_distortion=0.2, seed=4)
    src = sim.Population(30, sim.SpikeSourceArray(spike_times=[1.0]))
    cells = sim.Population(30, sim.IF_cond_exp())
    w = np.linspace(0.001, 0.015, 30)
    prj = sim.Projection(src, cells, sim.FromListConnector(
        [(i, i, float(w[i]), 1.0) for i in range(30)], column_names=["weight", "delay"]),
        sim.StaticSynapse(), receptor_type="excitatory")
    levels = np.rint(w / (0.015 / 15)) * (0.015 / 15)
    sim.run(1.0)
    got = np.diag(sim.mapping_stats().getWeights(prj))
    assert np.all(got >= 0) and not np.allclose(got, levels)
    assert 0.1 < np.std(got / levels - 1) < 0.3
    sim.setup(hicanns=[297])
    src = sim.Population(30, sim.SpikeSourceArray(spike_times=[1.0]))
    cells = sim.Population(30, sim.IF_cond_exp())
    prj = sim.Projection(src, cells, sim.FromListConnector(
        [(i, i, float(w[i]), 1.0) for i in range(30)], column_names=["weight", "delay"]),
        sim.StaticSynapse(), receptor_type="excitatory")
    sim.run(1.0)
    assert np.allclose(np.diag(sim.mapping_stats().getWeights(prj)), levels)


def test_adex_neuron_adapts_and_speedup():
    sim.setup(hicanns=[297], speedup=1e4)
    p = sim.Population(1, sim.EIF_cond_exp_isfa_ista(v_rest=-45.0, a=4.0, b=0.0805, tau_w=144.0))
    p.record(["spikes", "v"])
    sim.run(1000.0)
    st = np.asarray(p.get_data().segments[0].spiketrains[0])
    isi = np.diff(st)
    assert st.size > 5 and isi[-1] > 1.5 * isi[0]  # spike-frequency adaptation
    assert sim.hardware_time() == pytest.approx(1000.0 / 1000.0 / 1e4)
    v = np.asarray(p.get_data().segments[0].analogsignals[0])
    assert v.min() > -80 and v.max() < 0


def test_guidebook_example_script(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    import pathlib
    script = pathlib.Path(__file__).parents[2] / "examples" / "brainscales_synapse_loss.py"
    monkeypatch.setattr("sys.argv", [str(script), "nmcluster.brainscales"])
    runpy.run_path(str(script), run_name="__main__")
    assert (tmp_path / "mapping_stats.json").exists()
    assert (tmp_path / "pulse_stats.py").exists()


def test_realised_weights_are_kept_sparse_and_made_dense_on_read():
    """The mapping statistics keep each projection's synapses, not a dense pre x post matrix (215 MB of every
    4000-cell job before); reading gives the dense matrix, NaN where there is no synapse, a new array each time."""
    import numpy as np

    from nmcluster.emulators.brainscales.wafer import SparseWeights

    w = SparseWeights()
    w.put(3, (2000, 3000), np.array([0, 5, 1999]), np.array([7, 7, 2999]), np.array([0.5, np.nan, 0.25]))
    stored = dict.__getitem__(w, 3)
    assert sum(a.nbytes for a in stored[1:]) < 100  # three synapses, not 2000 x 3000 floats
    dense = w[3]
    assert dense.shape == (2000, 3000) and np.count_nonzero(np.isfinite(dense)) == 2
    assert dense[0, 7] == 0.5 and np.isnan(dense[5, 7]) and dense[1999, 2999] == 0.25 and np.isnan(dense[1, 1])
    dense[0, 7] = 9.0
    assert w[3][0, 7] == 0.5  # a read cannot change the statistics
    assert [k for k, _ in w.items()] == [3] and 3 in w
