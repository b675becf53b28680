"""The guidebook's synapse-loss example (4.2.3) on the BrainScaleS wafer emulator.

50 neurons of 4 denmems and 50 Poisson sources, FixedProbability(0.5) stimulus and recurrent
projections, synapse-driver chains of at most 5: the mapping loses synapses; the script prints
the mapping statistics and checks that per-projection losses add up.  Writes the spikes to
``synapse_loss.nix`` (NIX; ``.pkl`` without nixio) (``write_data``) and, with matplotlib, their raster plot.

    python examples/brainscales_synapse_loss.py nmcluster.brainscales
    nmcluster run --local -p BrainScaleS-ESS -- python examples/brainscales_synapse_loss.py {system}
"""

import json
import sys
from importlib import import_module

import numpy as np

try:  # NIX (HDF5) is neo's durable format; its pickle is not meant for long-term storage
    import nixio  # noqa: F401
    DATA_SUFFIX = ".nix"
except ImportError:  # the nix extra is not installed: neo's pickle, readable without extra packages
    DATA_SUFFIX = ".pkl"
backend = sys.argv[1] if len(sys.argv) > 1 else "nmcluster.brainscales"
pynn = import_module("pyNN." + backend)

marocco = pynn.PyMarocco()
marocco.neuron_placement.default_neuron_size(4)
marocco.synapse_routing.driver_chain_length(5)
marocco.continue_despite_synapse_loss = True
marocco.ess_config.pulse_statistics_file = "pulse_stats.py"
pynn.setup(marocco=marocco)

neuron = pynn.Population(50, pynn.IF_cond_exp(), label="neurons")
source = pynn.Population(50, pynn.SpikeSourcePoisson(rate=2.0))
connector = pynn.FixedProbabilityConnector(p_connect=0.5, allow_self_connections=True,
                                           rng=pynn.NumpyRNG(seed=1))
syn = pynn.StaticSynapse(weight=0.00425)
proj_stim = pynn.Projection(source, neuron, connector, syn, receptor_type="excitatory")
proj_rec = pynn.Projection(neuron, neuron, connector, syn, receptor_type="excitatory")
neuron.record("spikes")
pynn.run(1000.0)

print(marocco.stats)
total = lost = 0
for proj in (proj_stim, proj_rec):
    orig = proj.get("weight", format="array")
    mapped = marocco.stats.getWeights(proj)
    t = int(np.isfinite(orig).sum())
    r = int(np.isfinite(mapped).sum())
    print(f"Projection-wise synapse loss {proj.label}: {(t - r) * 100.0 / t:.2f}%")
    total += t
    lost += t - r
assert total == marocco.stats.getSynapses()
assert lost == marocco.stats.getSynapseLoss()
result = dict(marocco.stats.to_dict(), backend=backend, hicanns_allocated=len(
    pynn.simulator.state.config.hicanns), pulse_statistics=pynn.pulse_statistics())
json.dump(result, open("mapping_stats.json", "w"), indent=1)
neuron.write_data("synapse_loss" + DATA_SUFFIX, annotations={"script": "brainscales_synapse_loss",
                                                  "backend": backend})
pynn.end()

try:
    from nmcluster.plotting import example_figures
except ImportError:  # PyNN without nmcluster: the data file is the result
    example_figures = None
if example_figures is not None:
    for png in example_figures("synapse_loss" + DATA_SUFFIX):
        print(f"plot: {png}")
