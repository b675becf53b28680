# accepts: DCSource at top level, injected into a population
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
cells = sim.Population(3, sim.IF_curr_exp())
dc = sim.DCSource(amplitude=1.5, start=10.0, stop=80.0)
cells.inject(dc)
cells.record(["spikes", "v"])
sim.run(100.0)
sim.end()
