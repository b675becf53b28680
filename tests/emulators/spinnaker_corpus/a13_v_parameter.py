# accepts: v given as a cell parameter (warning)
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
cells = sim.Population(2, sim.IF_curr_exp(v=-70.0, i_offset=0.5))
cells.record("v")
sim.run(20.0)
sim.end()
