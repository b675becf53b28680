# accepts: Population.set between runs (new Poisson rate) and Projection.get
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
src = sim.Population(10, sim.SpikeSourcePoisson(rate=10.0))
cells = sim.Population(10, sim.IF_curr_exp())
prj = sim.Projection(src, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=2.0, delay=1.0))
cells.record("spikes")
sim.run(50.0)
src.set(rate=50.0)
sim.run(50.0)
print(prj.get("weight", format="list")[:2])
sim.end()
