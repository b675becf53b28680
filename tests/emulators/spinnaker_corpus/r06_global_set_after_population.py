# refuses: Global set is not supported after a Population has been created
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
cells = sim.Population(100, sim.IF_curr_exp())
sim.set_number_of_neurons_per_core(sim.IF_curr_exp, 50)
sim.run(10.0)
sim.end()
