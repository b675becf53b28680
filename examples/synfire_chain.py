"""The guidebook's "simple example" synfire chain (ch. 2.2) in PyNN 0.13 syntax.

Usage: ``python examples/synfire_chain.py nest`` or ``python examples/synfire_chain.py
nmcluster.spikey`` (the main job: ``nmcluster run -p spikey -- python examples/synfire_chain.py
{system}``).  Eleven excitatory/inhibitory population pairs; each excitatory population drives the
next pair, each inhibitory one its own excitatory partner (feed-forward inhibition).  A Gaussian
burst starts the chain; the script prints when each link fired, writes all spikes and the membrane
of the first neuron with ``write_data`` to ``synfire_chain.nix`` (NIX; ``.pkl`` without nixio) (a neo Block) and, when matplotlib
is installed, draws ``synfire_chain_raster.png`` and ``synfire_chain_membrane.png``
(``nmcluster plot`` draws them from the data file later, too).

Changes against the guidebook's script, all needed for PyNN >= 0.8: connectors take no weights (a
StaticSynapse does), ``target=`` became ``receptor_type=``, ``getSpikes()`` became ``get_data()``.

On Spikey (any backend with ``minExcWeight()``: the emulator ``nmcluster.spikey`` and the chip) the
weights are set the way the guidebook's Spikey school does it (lesson 3, the synfire chain): as
integer 4-bit levels 0..15 times ``minExcWeight()`` / ``minInhWeight()``.  The guidebook's 0.005 uS
is 5 levels, which a simulator realises exactly but a chip does not: its fixed-pattern noise (line
driver strengths, leak and threshold spread of tens of percent, partly left after calibration)
leaves some neurons of a link below threshold and the chain dies after one or two links.  So Spikey
uses 8 levels within the chain, the strongest inhibition (15 levels), and a 15-level stimulus that
makes sure the whole first link fires.  8 neurons per link is also the most that fit into one block
of 192 neurons (22 populations), where every neuron's line driver is free.  Elsewhere (NEST ...) the
guidebook's weights are used unchanged, except the inhibitory weight: 0.045 uS (the chip's largest)
instead of 0.5 uS, which is far beyond what silences these neurons.
"""

import sys
from importlib import import_module

import numpy

try:  # NIX (HDF5) is neo's durable format; its pickle is not meant for long-term storage
    import nixio  # noqa: F401
    DATA_SUFFIX = ".nix"
except ImportError:  # the nix extra is not installed: neo's pickle, readable without extra packages
    DATA_SUFFIX = ".pkl"
backend = sys.argv[1] if len(sys.argv) > 1 else "nest"
sim = import_module("pyNN." + backend)

n_populations = 11
population_size = 8
neuron_parameters = {"cm": 0.2, "v_reset": -70, "v_rest": -70, "v_thresh": -47,
                     "e_rev_I": -70, "e_rev_E": 0.0}
if hasattr(sim, "minExcWeight"):  # Spikey: 4-bit weights, in levels of the smallest weight
    weight_exc_exc = 8 * sim.minExcWeight()
    weight_exc_inh = 8 * sim.minExcWeight()
    weight_inh_exc = 15 * sim.minInhWeight()
    weight_stimulus = 15 * sim.minExcWeight()
else:
    weight_exc_exc = 0.005
    weight_exc_inh = 0.005
    weight_inh_exc = 0.045
    weight_stimulus = weight_exc_exc
delay = 3.0  # Spikey realises its intrinsic 1 ms (delays are not configurable on the chip)
rng_seed = 42
stimulus_onset = 25.0
stimulus_sigma = 0.5
runtime = 150.0
data_file = "synfire_chain" + DATA_SUFFIX

sim.setup(timestep=0.1)

populations = {syn_type: [sim.Population(population_size, sim.IF_cond_exp(**neuron_parameters),
                                         label=f"{syn_type} {k}")
                          for k in range(n_populations)]
               for syn_type in ("exc", "inh")}

exc_exc = sim.StaticSynapse(weight=weight_exc_exc, delay=delay)
exc_inh = sim.StaticSynapse(weight=weight_exc_inh, delay=delay)
inh_exc = sim.StaticSynapse(weight=weight_inh_exc, delay=delay)
all_to_all = sim.AllToAllConnector()
for i in range(n_populations):
    j = (i + 1) % n_populations
    sim.Projection(populations["exc"][i], populations["exc"][j], all_to_all, exc_exc,
                   receptor_type="excitatory")
    sim.Projection(populations["exc"][i], populations["inh"][j], all_to_all, exc_inh,
                   receptor_type="excitatory")
    sim.Projection(populations["inh"][i], populations["exc"][i], all_to_all, inh_exc,
                   receptor_type="inhibitory")

numpy.random.seed(rng_seed)
stim_spikes = numpy.sort(numpy.random.normal(loc=stimulus_onset, scale=stimulus_sigma,
                                             size=population_size))
stimulus = sim.Population(1, sim.SpikeSourceArray(spike_times=stim_spikes), label="stimulus")
stim_syn = sim.StaticSynapse(weight=weight_stimulus, delay=delay)
sim.Projection(stimulus, populations["exc"][0], all_to_all, stim_syn, receptor_type="excitatory")
sim.Projection(stimulus, populations["inh"][0], all_to_all, stim_syn, receptor_type="excitatory")

network = sim.Assembly(*populations["exc"], *populations["inh"])
network.record("spikes")
populations["exc"][0][0:1].record("v")  # Spikey reads out one membrane at a time

sim.run(runtime)

total = 0
for k, population in enumerate(populations["exc"]):
    trains = population.get_data().segments[0].spiketrains
    times = numpy.concatenate([numpy.asarray(st) for st in trains]) if trains else []
    total += len(times)
    first = f"{numpy.min(times):6.1f} ms" if len(times) else "   --   "
    print(f"exc link {k:2d}: {len(times):3d} spikes, first at {first}")
n_inh = sum(sum(p.get_spike_counts().values()) for p in populations["inh"])
print(f"{backend}: {total} excitatory, {n_inh} inhibitory spikes")
network.write_data(data_file, annotations={"script": "synfire_chain", "backend": backend})
print(f"data: {data_file}")
sim.end()

try:
    from nmcluster.plotting import example_figures
except ImportError:  # PyNN without nmcluster (e.g. on a chip's own host): the data file is the result
    example_figures = None
if example_figures is not None:
    for png in example_figures(data_file):
        print(f"plot: {png}")
