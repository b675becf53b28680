# refuses: HH_cond_exp
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
cells = sim.Population(2, sim.HH_cond_exp())
sim.run(10.0)
sim.end()
