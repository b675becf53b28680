# accepts: gsyn recorded from a current-based cell (warning: currents instead)
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
src = sim.Population(1, sim.SpikeSourceArray(spike_times=[5, 10, 15]))
cell = sim.Population(1, sim.IF_curr_exp())
sim.Projection(src, cell, sim.AllToAllConnector(), sim.StaticSynapse(weight=1.0, delay=1.0))
cell.record(["gsyn_exc", "gsyn_inh", "v"])
sim.run(30.0)
sim.end()
