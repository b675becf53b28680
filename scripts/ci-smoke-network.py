"""A 10-neuron network on one PyNN backend; prints ``<backend> <neurons> <spikes>`` (scripts/ci-wheel-smoke).

Run from outside the checkout against an installed nmcluster: 10 Poisson sources drive 10 conductance
LIF neurons one-to-one for 500 ms.  Exits non-zero if the backend does not import or nothing spikes.
"""

import sys
from importlib import import_module

backend = sys.argv[1]
sim = import_module("pyNN." + backend)
sim.setup(timestep=0.1)
weight = 15 * sim.minExcWeight() if hasattr(sim, "minExcWeight") else 0.02
stim = sim.Population(10, sim.SpikeSourcePoisson(rate=200.0))
cells = sim.Population(10, sim.IF_cond_exp(cm=0.2))  # Spikey's fixed capacitance
sim.Projection(stim, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=weight, delay=1.0),
               receptor_type="excitatory")
cells.record("spikes")
sim.run(500.0)
trains = cells.get_data().segments[0].spiketrains
spikes = sum(len(t) for t in trains)
sim.end()
print(backend, len(trains), spikes)
sys.exit(0 if len(trains) == 10 and spikes > 0 else 1)
