# refuses: as a class
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
sim.set_number_of_neurons_per_core("IF_curr_exp", 10)
sim.end()
