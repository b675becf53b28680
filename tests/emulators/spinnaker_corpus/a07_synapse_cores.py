# accepts: set_number_of_synapse_cores and set_number_of_neurons_per_core
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
sim.set_number_of_synapse_cores(sim.IF_curr_exp, 1)
sim.set_number_of_neurons_per_core(sim.IF_curr_exp, 64)
p = sim.Population(200, sim.IF_curr_exp(i_offset=1.0))
sim.run(10.0)
sim.end()
