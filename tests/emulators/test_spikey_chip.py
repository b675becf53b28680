"""Spikey chip rules: limits, 4-bit weights, noise, calibration seam."""

from __future__ import annotations

import numpy as np
import pytest

import pyNN.nmcluster.spikey as sim
from nmcluster.emulators.spikey import calibration, chip


@pytest.fixture(autouse=True)
def _fresh():
    sim.setup(timestep=0.1, workStationName="station500")
    yield
    sim.end()


# --- 4-bit weights ---------------------------------------------------------------------------------
def test_stochastic_rounding_statistics():
    rng = np.random.default_rng(1)
    w = np.full(20000, 3.3 * chip.MIN_EXC_WEIGHT)
    levels, clipped = chip.quantise_weights(w, chip.MIN_EXC_WEIGHT, rng)
    assert clipped == 0
    assert set(np.unique(levels)) == {3, 4}
    assert abs(levels.mean() - 3.3) < 4 * np.sqrt(0.3 * 0.7 / w.size)  # unbiased
    exact, _ = chip.quantise_weights(np.arange(16) * chip.MIN_EXC_WEIGHT, chip.MIN_EXC_WEIGHT,
                                     np.random.default_rng(0))
    np.testing.assert_array_equal(exact, np.arange(16))  # multiples stay exact
    big, clipped = chip.quantise_weights(np.array([20 * chip.MIN_EXC_WEIGHT]),
                                         chip.MIN_EXC_WEIGHT, rng)
    assert big[0] == 15 and clipped == 1


def test_projection_returns_realised_weights_reproducibly():
    def realised(seed):
        sim.setup(seed=seed)
        src = sim.Population(50, sim.SpikeSourcePoisson(rate=10.0))
        p = sim.Population(50, sim.IF_facets_hardware1())
        prj = sim.Projection(src, p, sim.AllToAllConnector(),
                             sim.StaticSynapse(weight=2.5 * sim.minExcWeight()))
        return prj.get("weight", format="array")

    a, b, c = realised(1), realised(1), realised(2)
    levels = a / sim.minExcWeight()
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-9)
    assert set(np.unique(np.round(levels))) == {2.0, 3.0}
    assert abs(levels.mean() - 2.5) < 0.05
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert sim.maxExcWeight() == pytest.approx(15 * sim.minExcWeight())
    assert sim.maxInhWeight() == pytest.approx(15 * sim.minInhWeight())


def test_weight_zero_means_no_synapse():
    src = sim.Population(4, sim.SpikeSourceArray(spike_times=[5.0]))
    p = sim.Population(4, sim.IF_facets_hardware1())
    prj = sim.Projection(src, p, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.0))
    sim.run(10.0)
    assert sim.simulator.state.net.n_synapses == 0
    assert all(w == 0.0 for w in prj.get("weight", format="list", with_address=False))


# --- limits ----------------------------------------------------------------------------------------
def test_neuron_limit():
    sim.Population(300, sim.IF_facets_hardware1())
    with pytest.raises(chip.ChipLimitError, match="neurons") as e:
        sim.Population(85, sim.IF_facets_hardware1())
    assert e.value.limit == "neurons"
    sim.Population(84, sim.IF_facets_hardware1())  # exactly 384 fit


def test_external_source_limit():
    p = sim.Population(1, sim.IF_facets_hardware1())
    src = sim.Population(257, sim.SpikeSourcePoisson(rate=1.0))
    with pytest.raises(chip.ChipLimitError) as e:
        sim.Projection(src, p, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.001))
    assert e.value.limit == "external sources"
    ok = sim.Population(256, sim.SpikeSourcePoisson(rate=1.0))
    sim.setup()
    p = sim.Population(1, sim.IF_facets_hardware1())
    ok = sim.Population(256, sim.SpikeSourcePoisson(rate=1.0))
    sim.Projection(ok, p, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.001))


def test_line_driver_shared_by_partner_neurons():
    # right-block neuron 192 and left-block neuron 1 both need driver 1 of the left block
    sim.setup(neuronPermutation=[192, 1, 0])
    a = sim.Population(1, sim.IF_facets_hardware1())  # hw 192
    b = sim.Population(1, sim.IF_facets_hardware1())  # hw 1
    target = sim.Population(1, sim.IF_facets_hardware1())  # hw 0, left block
    sim.Projection(a, target, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.001))
    with pytest.raises(chip.ChipLimitError) as e:
        sim.Projection(b, target, sim.AllToAllConnector(), sim.StaticSynapse(weight=0.001))
    assert e.value.limit == "line driver"


def test_driver_has_one_synapse_type_and_one_stp_setting():
    src = sim.Population(1, sim.SpikeSourcePoisson(rate=1.0))
    p = sim.Population(2, sim.IF_facets_hardware1())
    sim.Projection(src, p[0:1], sim.AllToAllConnector(), sim.StaticSynapse(weight=0.001),
                   receptor_type="excitatory")
    with pytest.raises(chip.ChipLimitError, match="synapse type"):
        sim.Projection(src, p[1:2], sim.AllToAllConnector(), sim.StaticSynapse(weight=0.003),
                       receptor_type="inhibitory")
    with pytest.raises(chip.ChipLimitError) as e:
        sim.Projection(src, p[1:2], sim.AllToAllConnector(),
                       sim.TsodyksMarkramSynapse(weight=0.001, U=0.5, tau_rec=100.0),
                       receptor_type="excitatory")
    assert e.value.limit == "short-term plasticity"


def test_stp_cannot_depress_and_facilitate():
    src = sim.Population(1, sim.SpikeSourcePoisson(rate=1.0))
    p = sim.Population(1, sim.IF_facets_hardware1())
    with pytest.raises(chip.ChipLimitError, match="not both") as e:
        sim.Projection(src, p, sim.AllToAllConnector(),
                       sim.TsodyksMarkramSynapse(weight=0.001, U=0.2, tau_rec=50.0,
                                                 tau_facil=50.0))
    assert e.value.limit == "short-term plasticity"


def test_one_membrane_at_a_time_strict_only():
    p = sim.Population(3, sim.IF_facets_hardware1())
    p[0:1].record("v")
    with pytest.raises(chip.ChipLimitError) as e:
        p[1:2].record("v")
    assert e.value.limit == "membrane recording"
    sim.run(2.0)  # the refused request left no trace: one membrane recorded
    assert p.get_data().segments[0].filter(name="v")[0].shape == (21, 1)
    sim.setup(strict=False)
    p = sim.Population(3, sim.IF_facets_hardware1())
    p.record(["v", "gsyn_exc"])
    sim.run(5.0)
    assert p.get_data().segments[0].filter(name="v")[0].shape == (51, 3)


def test_membrane_readout_only_on_right_block():
    sim.setup(mappingOffset=192)  # default order: 192..383 then 0..191 -> starts in left block
    p = sim.Population(1, sim.IF_facets_hardware1())
    assert p.hardware_neurons[0] == 0
    with pytest.raises(chip.ChipLimitError, match="readout"):
        p.record("v")


def test_block_shared_parameters():
    a = sim.Population(2, sim.IF_facets_hardware1(v_thresh=-55.0))
    b = sim.Population(2, sim.IF_facets_hardware1(v_thresh=-50.0))  # same block
    with pytest.raises(chip.ChipLimitError, match="v_thresh") as e:
        sim.run(1.0)
    assert e.value.limit == "shared parameter"
    sim.setup(strict=False)
    a = sim.Population(2, sim.IF_facets_hardware1(v_thresh=-55.0))
    b = sim.Population(2, sim.IF_facets_hardware1(v_thresh=-50.0, g_leak=40.0))
    sim.run(1.0)  # hardware behaviour: one value per block
    sim.setup()  # per-neuron g_leak / tau_refrac are fine
    sim.Population(2, sim.IF_facets_hardware1(g_leak=10.0, tau_refrac=2.0))
    sim.Population(2, sim.IF_facets_hardware1(g_leak=40.0, tau_refrac=1.0))
    sim.run(1.0)


def test_cell_type_mapping_limits():
    sim.Population(1, sim.IF_cond_exp(e_rev_E=-10.0))
    with pytest.raises(chip.ChipLimitError, match="e_rev_E"):
        sim.run(1.0)
    sim.setup()
    sim.Population(1, sim.IF_cond_exp(i_offset=0.5))
    with pytest.raises(chip.ChipLimitError, match="current input"):
        sim.run(1.0)


def test_setup_options_validated():
    with pytest.raises(chip.ChipConfigError, match="calibIcb"):
        sim.setup(calibIcb=True)
    sim.setup(calibIcb=False, calibTauMem=True, calibSynDrivers=False, calibVthresh=True)
    with pytest.raises(chip.ChipConfigError, match="workStationName"):
        sim.setup(workStationName="my-chip")
    with pytest.raises(chip.ChipConfigError):
        sim.setup(neuronPermutation=[1, 1])


def test_station_from_environment(monkeypatch):
    monkeypatch.setenv("MY_STAGE1_STATION", "station603")
    sim.setup()
    assert sim.simulator.state.config.station_no == 603


# --- noise and calibration -------------------------------------------------------------------------
def _rates(**setup):
    sim.setup(**setup)
    src = sim.Population(64, sim.SpikeSourcePoisson(rate=60.0))
    p = sim.Population(64, sim.IF_facets_hardware1())
    sim.Projection(src, p, sim.OneToOneConnector(), sim.StaticSynapse(weight=15 * 0.001))
    p.record("spikes")
    sim.run(2000.0)
    counts = np.array([c for _, c in sorted(p.get_spike_counts().items())])
    return counts


def test_fixed_pattern_noise_stable_per_station_temporal_noise_per_trial():
    a = _rates(workStationName="station500", seed=3)
    b = _rates(workStationName="station500", seed=3)
    np.testing.assert_array_equal(a, b)  # same station, same seed: identical
    other_seed = _rates(workStationName="station500", seed=4)
    other_station = _rates(workStationName="station501", seed=3)
    # fixed pattern: neuron-to-neuron pattern correlates across trials of one station ...
    assert np.corrcoef(a, other_seed)[0, 1] > 0.6
    # ... but not across stations
    assert abs(np.corrcoef(a, other_station)[0, 1]) < 0.5
    quiet = _rates(workStationName="station500", fixedPatternNoise=False, temporalNoise=False)
    assert quiet.std() < a.std()


def test_calibration_seam_reduces_spread_and_records_version():
    raw = _rates(workStationName="station500")
    assert sim.simulator.state.calibration_version is None
    provider = calibration.StaticProvider({500: calibration.ideal_calibration(500)})
    cal = _rates(workStationName="station500", calibrationProvider=provider)
    assert sim.simulator.state.calibration_version == "ideal-station500"
    assert cal.std() < 0.8 * raw.std()  # what remains: Poisson input, synapse and threshold FPN
    off = _rates(workStationName="station500", calibrationProvider=provider, calibTauMem=False,
                 calibSynDrivers=False, calibVthresh=False)
    assert off.std() > cal.std()


def test_calibration_provider_from_environment(monkeypatch):
    monkeypatch.setenv(calibration.ENV_VAR, "nmcluster.emulators.spikey.calibration:NoCalibration")
    sim.setup()
    assert isinstance(sim.simulator.state.provider, calibration.NoCalibration)
    monkeypatch.setenv(calibration.ENV_VAR, "no.such.module:x")
    with pytest.raises(chip.ChipConfigError):
        sim.setup()


def test_hardware_time_is_bio_time_over_1e4():
    sim.Population(1, sim.IF_facets_hardware1())
    sim.run(1000.0)
    sim.run(500.0)
    assert sim.hardware_time() == pytest.approx(1.5 / 1e4)
    assert sim.simulator.state.last_run["hardware_s"] == pytest.approx(0.5 / 1e4)
    assert sim.simulator.state.last_run["emulator_s"] > 0
