# accepts: sim.name()
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
print("running on", sim.name())
p = sim.Population(5, sim.IF_curr_exp(i_offset=1.0))
p.record("v")
sim.run(20.0)
sim.end()
