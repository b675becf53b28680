"""SpiNNaker emulator (pyNN.nmcluster.spinnaker): partitioning, fixed point, weights, delays,
strict mode, and spike statistics against NEST."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

sim = pytest.importorskip("pyNN.nmcluster.spinnaker")
from nmcluster.config import Board  # noqa: E402
from nmcluster.hwdrivers.spinnaker.boards import boards_for_report  # noqa: E402


@pytest.fixture(autouse=True)
def _setup():
    sim.setup(timestep=1.0)
    yield
    sim.end()


@pytest.mark.parametrize("n,cores", [(1, 1), (255, 1), (256, 2), (10000, 40)])
def test_partitioning_counts(n, cores):
    sim.Population(n, sim.IF_curr_exp())
    rep = sim.partitioning_report()
    assert rep["neuron_cores"] == cores
    assert rep["cores"] == cores
    assert rep["chips"] == -(-cores // 16)
    assert rep["boards"] == 1
    assert rep["populations"][0]["neurons_per_core"] == 255


def test_partitioning_constraints_and_boards(tmp_path):
    a = sim.Population(1000, sim.IF_curr_exp(), label="a")
    a.add_constraint(sim.PartitionerMaximumSizeConstraint(100))
    sim.Population(300, sim.SpikeSourcePoisson(rate=5.0), label="src")
    rep = sim.partitioning_report()
    assert [p["cores"] for p in rep["populations"]] == [10, 2]
    with pytest.raises(sim.SpinnakerConfigError, match="after a Population"):
        sim.set_number_of_neurons_per_core(sim.SpikeSourcePoisson, 50)  # as sPyNNaker 7.4.1
    sim.Population(300, sim.SpikeSourcePoisson(rate=5.0), label="src2", neurons_per_core=50)
    rep = sim.partitioning_report(str(tmp_path / "report.json"))
    assert rep["cores"] == 10 + 2 + 6
    # 20000 neurons at 10 per core: 2000 cores -> 127 chips with the rest -> 3 boards
    sim.Population(20000, sim.IF_curr_exp(), label="big").set_max_atoms_per_core(10)
    rep = sim.partitioning_report(str(tmp_path / "report.json"))
    assert rep["cores"] == 2018 and rep["chips"] == 127 and rep["boards"] == 3
    boards = [Board(name=f"b{i}", host=f"10.0.0.{i}", chips=48) for i in range(4)]
    req = boards_for_report(boards, tmp_path / "report.json")
    assert req.count == 3
    assert json.loads((tmp_path / "report.json").read_text())["chips"] == 127


def test_delay_limits_and_extension_cores():
    src = sim.Population(10, sim.SpikeSourceArray(spike_times=[5.0]))
    cells = sim.Population(10, sim.IF_curr_exp())
    with pytest.raises(sim.SpinnakerConfigError, match="1..144 time steps"):
        sim.Projection(src, cells, sim.OneToOneConnector(),
                       sim.StaticSynapse(weight=1.0, delay=145.0))
    # shorter than one step: raised to one step with a warning, as sPyNNaker does
    short = sim.Projection(src, cells, sim.OneToOneConnector(),
                           sim.StaticSynapse(weight=1.0, delay=0.4))
    assert np.allclose(short.get("delay", format="list", with_address=False), 1.0)
    sim.Projection(src, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=1.0, delay=16.0))
    assert sim.partitioning_report()["delay_extension_cores"] == 0
    prj = sim.Projection(src, cells, sim.OneToOneConnector(),
                         sim.StaticSynapse(weight=1.0, delay=144.0))
    rep = sim.partitioning_report()
    assert rep["delay_extension_cores"] == 1 and rep["cores"] == 3
    assert np.allclose(prj.get("delay", format="list", with_address=False), 144.0)


def test_weights_16bit_per_target_scale():
    src = sim.Population(3, sim.SpikeSourceArray(spike_times=[5.0]))
    cells = sim.Population(3, sim.IF_curr_exp(), label="cells")
    w = np.array([0.1234567, 2.5, 3.3333333])
    prj = sim.Projection(src, cells, sim.FromListConnector(
        [(i, i, float(w[i]), 1.0) for i in range(3)], column_names=["weight", "delay"]),
        sim.StaticSynapse())
    sim.run(1.0)
    scale = sim.weight_scales()[("cells", "excitatory")]
    assert scale == 2.0 ** 14  # 3.33 * 2^14 < 65535 < 3.33 * 2^15
    got = np.array(prj.get("weight", format="list", with_address=False))
    assert np.allclose(got, np.rint(w * scale) / scale)
    assert not np.allclose(got, w)  # quantisation visible
    assert np.all(np.abs(got - w) <= 0.5 / scale + 1e-15)


def _subthreshold_v(fixed: bool) -> np.ndarray:
    sim.setup(timestep=1.0, fixed_point=fixed)
    src = sim.Population(1, sim.SpikeSourceArray(spike_times=np.arange(5.0, 300.0, 7.0)))
    cells = sim.Population(1, sim.IF_curr_exp(i_offset=0.3, v_thresh=0.0, tau_m=15.0))
    sim.Projection(src, cells, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.7, delay=1.0))
    cells.record("v")
    sim.run(300.0)
    return np.asarray(cells.get_data().segments[0].analogsignals[0]).ravel()


def test_fixed_point_error_bounded_and_visible():
    v_fix = _subthreshold_v(True)
    v_flt = _subthreshold_v(False)
    err = np.abs(v_fix - v_flt)
    assert err.max() > 0.0  # s16.15 arithmetic is visible ...
    # ... and bounded: a few 2^-15 nA of truncated synaptic current times R = 15 MOhm
    assert err.max() < 5e-3
    assert np.allclose(v_fix * 32768, np.rint(v_fix * 32768))  # on the s16.15 grid


def test_strict_mode():
    """sPyNNaker refuses Assemblies and non-contiguous views as projection ends and accepts
    contiguous views and set() between runs; strict=False lifts the refusals."""
    a = sim.Population(10, sim.IF_curr_exp())
    b = sim.Population(10, sim.IF_curr_exp())
    with pytest.raises(sim.SpinnakerConfigError, match="contiguous"):
        sim.Projection(a[[0, 2, 4]], b, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.1))
    with pytest.raises(sim.SpinnakerConfigError, match="Assembly"):
        sim.Projection(a + b, b, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.1))
    prj = sim.Projection(a[0:5], b[5:10], sim.AllToAllConnector(), sim.StaticSynapse(weight=0.1))
    assert len(prj) == 25
    sim.run(5.0)
    a.set(tau_m=10.0)  # between runs, as sPyNNaker allows
    sim.run(5.0)
    assert sim.get_current_time() == 10.0
    sim.setup(timestep=1.0, strict=False)
    a = sim.Population(10, sim.IF_curr_exp())
    b = sim.Population(10, sim.IF_curr_exp())
    sim.Projection(a[[0, 2, 4]], b, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.1))
    sim.run(5.0)


def test_models_run():
    for cell, kw in ((sim.Izhikevich, {"i_offset": 10.0}), (sim.IF_cond_exp, {"i_offset": 1.0}),
                     (sim.IF_curr_dual_exp, {"i_offset": 1.5})):
        sim.setup(timestep=1.0)
        p = sim.Population(2, cell(**kw))
        src = sim.Population(1, sim.SpikeSourcePoisson(rate=50.0))
        rt = "excitatory2" if cell is sim.IF_curr_dual_exp else "excitatory"
        sim.Projection(src, p, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.01),
                       receptor_type=rt)
        p.record("spikes")
        sim.run(500.0)
        assert sum(p.get_spike_counts().values()) > 5, cell


def _balanced_rate(backend, seed: int) -> tuple[float, float]:
    from importlib import import_module

    s = import_module("pyNN." + backend)
    if backend == "nest":
        s.setup(timestep=1.0, rng_seed=seed, spike_precision="on_grid")
    else:
        s.setup(timestep=1.0, seed=seed)
    n = 400
    cells = s.Population(n, s.IF_curr_exp(tau_m=20.0, v_thresh=-50.0, tau_refrac=2.0))
    src = s.Population(n, s.SpikeSourcePoisson(rate=500.0))
    s.Projection(src, cells, s.OneToOneConnector(), s.StaticSynapse(weight=0.6, delay=1.0),
                 receptor_type="excitatory")
    s.Projection(cells, cells, s.FixedProbabilityConnector(0.05, rng=s.NumpyRNG(3)),
                 s.StaticSynapse(weight=-0.4, delay=2.0), receptor_type="inhibitory")
    cells.record("spikes")
    s.run(2000.0)
    trains = cells.get_data().segments[0].spiketrains
    s.end()
    counts = np.array([len(t) for t in trains])
    isis = np.concatenate([np.diff(np.asarray(t)) for t in trains if len(t) > 2])
    return counts.mean() / 2.0, float(isis.std() / isis.mean())


def test_spike_statistics_within_5_percent_of_nest():
    pytest.importorskip("pyNN.nest")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = _balanced_rate("nmcluster.spinnaker", 1)
        ref = _balanced_rate("nest", 1)
    assert ref[0] > 5.0
    assert abs(ours[0] - ref[0]) / ref[0] < 0.05, (ours, ref)
    assert abs(ours[1] - ref[1]) / ref[1] < 0.05, (ours, ref)
