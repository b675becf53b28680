"""Rate response: N neurons, neuron i driven by an excitatory Poisson source of rate (i+1)*max_rate/N.
Measures: the slope of output rate against input rate (quality, Hz/Hz), how monotonic the response is
(Spearman rank correlation), setup/run/closing times."""

import numpy as np
from common import Timer, cell_type, simulator, write_report

N, MAX_RATE, TSTOP, WEIGHT = 20, 200.0, 2000.0, 0.015

backend, sim = simulator()
timer = Timer()
sim.setup(timestep=0.1 if "spinnaker" not in backend.lower() else 1.0)
cells = sim.Population(N, cell_type(sim)())
rates = (np.arange(N) + 1) * MAX_RATE / N
sources = sim.Population(N, sim.SpikeSourcePoisson(rate=rates))
sim.Projection(sources, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=WEIGHT, delay=1.0),
               receptor_type="excitatory")
for _ in range(4):  # several inputs per neuron so that the response is not all-or-nothing
    sim.Projection(sources, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=WEIGHT, delay=1.0),
                   receptor_type="excitatory")
cells.record("spikes")
timer.mark("setup_time")
sim.run(TSTOP)
timer.mark("run_time")
trains = cells.get_data().segments[0].spiketrains
out_rates = np.array([len(st) for st in trains]) * 1000.0 / TSTOP
sim.end()
timer.mark("closing_time")
slope = float(np.polyfit(rates, out_rates, 1)[0])
ranks_in, ranks_out = np.argsort(np.argsort(rates)), np.argsort(np.argsort(out_rates))
spearman = float(np.corrcoef(ranks_in, ranks_out)[0, 1]) if out_rates.std() > 0 else 0.0
write_report("IF_cond_exp", "rate_response", backend, [
    {"type": "quality", "name": "rate_response#slope", "value": slope, "units": "Hz/Hz", "measure": "slope"},
    {"type": "quality", "name": "rate_response#monotonicity", "value": spearman, "measure": "correlation"},
    {"type": "quality", "name": "rate_response#mean_rate", "value": float(out_rates.mean()),
     "std_dev": float(out_rates.std()), "min": float(out_rates.min()), "max": float(out_rates.max()),
     "units": "Hz", "measure": "rate"},
], timer, {"N": N, "max_rate": MAX_RATE, "tstop": TSTOP, "weight": WEIGHT})
