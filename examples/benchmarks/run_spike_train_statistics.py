"""Spike train statistics: neurons driven by strong Poisson input fire irregularly; measures the mean
rate and the coefficient of variation of the inter-spike intervals (quality), and the phase times."""

import numpy as np
from common import Timer, cell_type, simulator, write_report

N, RATE, TSTOP, WEIGHT = 30, 80.0, 5000.0, 0.012

backend, sim = simulator()
timer = Timer()
sim.setup(timestep=0.1 if "spinnaker" not in backend.lower() else 1.0)
cells = sim.Population(N, cell_type(sim)())
sources = sim.Population(N * 4, sim.SpikeSourcePoisson(rate=RATE))
sim.Projection(sources, cells, sim.FixedNumberPreConnector(8), sim.StaticSynapse(weight=WEIGHT, delay=1.0),
               receptor_type="excitatory")
cells.record("spikes")
timer.mark("setup_time")
sim.run(TSTOP)
timer.mark("run_time")
trains = cells.get_data().segments[0].spiketrains
sim.end()
timer.mark("closing_time")
rates = np.array([len(st) for st in trains]) * 1000.0 / TSTOP
cvs = [float(np.std(np.diff(st.magnitude)) / np.mean(np.diff(st.magnitude))) for st in trains if len(st) > 2]
write_report("SpikeSourcePoisson", "run5s", backend, [
    {"type": "quality", "name": "spike_train_statistics#rate", "value": float(rates.mean()),
     "std_dev": float(rates.std()), "units": "Hz", "measure": "rate"},
    {"type": "quality", "name": "spike_train_statistics#cv_isi", "value": float(np.mean(cvs)) if cvs else 0.0,
     "measure": "cv"},
], timer, {"N": N, "rate": RATE, "tstop": TSTOP, "weight": WEIGHT})
