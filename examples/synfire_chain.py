"""The guidebook's "simple example" synfire chain (ch. 2.2) in PyNN 0.13 syntax.

Usage: ``python examples/synfire_chain.py nest`` or ``python examples/synfire_chain.py
nmcluster.spikey``.  Eleven excitatory/inhibitory population pairs; each excitatory population
drives the next pair, each inhibitory one its own excitatory partner (feed-forward inhibition).
A Gaussian burst starts the chain; the script prints when each link fired.

Changes against the guidebook's script, all needed for PyNN >= 0.8 and none backend-specific:
connectors take no weights (a StaticSynapse does), ``target=`` became ``receptor_type=``,
``getSpikes()`` became ``get_data()``.  The inhibitory weight is 0.045 uS instead of 0.5 uS (the
chip's largest inhibitory weight; 0.5 uS would be clipped on Spikey anyway and is far beyond
what silences these neurons).
"""

import sys
from importlib import import_module

import numpy

backend = sys.argv[1] if len(sys.argv) > 1 else "nest"
sim = import_module("pyNN." + backend)

n_populations = 11
population_size = 8
neuron_parameters = {"cm": 0.2, "v_reset": -70, "v_rest": -70, "v_thresh": -47,
                     "e_rev_I": -70, "e_rev_E": 0.0}
weight_exc_exc = 0.005
weight_exc_inh = 0.005
weight_inh_exc = 0.045
delay = 3.0
rng_seed = 42
stimulus_onset = 25.0
stimulus_sigma = 0.5
runtime = 150.0

sim.setup(timestep=0.1)

populations = {syn_type: [sim.Population(population_size, sim.IF_cond_exp(**neuron_parameters))
                          for _ in range(n_populations)]
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
stimulus = sim.Population(1, sim.SpikeSourceArray(spike_times=stim_spikes))
sim.Projection(stimulus, populations["exc"][0], all_to_all, exc_exc, receptor_type="excitatory")
sim.Projection(stimulus, populations["inh"][0], all_to_all, exc_inh, receptor_type="excitatory")

for syn_type in ("exc", "inh"):
    for population in populations[syn_type]:
        population.record("spikes")

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
sim.end()
