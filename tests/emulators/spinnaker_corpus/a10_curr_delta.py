# accepts: IF_curr_delta at top level
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
src = sim.Population(5, sim.SpikeSourcePoisson(rate=30.0))
cells = sim.Population(5, sim.IF_curr_delta())
sim.Projection(src, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=5.0, delay=1.0))
cells.record("spikes")
sim.run(100.0)
sim.end()
