# accepts: new SpikeSourceArray times between runs
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
src = sim.Population(2, sim.SpikeSourceArray(spike_times=[[5.0, 10.0], [7.0]]))
cells = sim.Population(2, sim.IF_curr_exp())
sim.Projection(src, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=5.0, delay=1.0))
src.record("spikes")
sim.run(50.0)
src.set(spike_times=[60.0, 70.0, 80.0])
sim.run(50.0)
sim.end()
