# refuses: absolute maximum
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
sim.set_number_of_neurons_per_core(sim.SpikeSourcePoisson, 1000)
sim.end()
