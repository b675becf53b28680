# accepts: spynnaker's neo_convertor helpers
import pyNN.spiNNaker as sim
from spynnaker.pyNN.utilities import neo_convertor
sim.setup(timestep=1.0)
p = sim.Population(4, sim.IF_curr_exp(i_offset=2.0))
p.record(["spikes", "v"])
sim.run(50.0)
data = p.get_data()
print(neo_convertor.count_spikes(data), neo_convertor.convert_spikes(data).shape)
sim.end()
