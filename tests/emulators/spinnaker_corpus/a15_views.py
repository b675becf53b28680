# accepts: contiguous PopulationViews as both ends of a Projection
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
src = sim.Population(20, sim.SpikeSourcePoisson(rate=20.0))
cells = sim.Population(20, sim.IF_curr_exp())
sim.Projection(src[0:10], cells[10:20], sim.AllToAllConnector(),
               sim.StaticSynapse(weight=0.5, delay=1.0))
cells[10:20].record("spikes")
sim.run(50.0)
sim.end()
