# refuses: TsodyksMarkramSynapse
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
a = sim.Population(2, sim.SpikeSourcePoisson(rate=10.0))
b = sim.Population(2, sim.IF_curr_exp())
sim.Projection(a, b, sim.AllToAllConnector(), sim.TsodyksMarkramSynapse(U=0.5))
sim.run(10.0)
sim.end()
