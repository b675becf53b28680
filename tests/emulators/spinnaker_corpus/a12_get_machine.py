# accepts: get_machine()
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
p = sim.Population(10, sim.IF_curr_exp())
sim.run(1.0)
machine = sim.get_machine()
print(machine)
sim.end()
