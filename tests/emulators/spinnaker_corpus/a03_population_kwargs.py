# accepts: Population(..., seed=, additional_parameters=)
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
src = sim.Population(20, sim.SpikeSourcePoisson(rate=20.0), seed=42)
src2 = sim.Population(20, sim.SpikeSourcePoisson(rate=20.0), additional_parameters={"seed": 7})
cells = sim.Population(20, sim.IF_curr_exp(), label="cells")
for s in (src, src2):
    sim.Projection(s, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=2.0, delay=1.0))
cells.record("spikes")
sim.run(100.0)
sim.end()
