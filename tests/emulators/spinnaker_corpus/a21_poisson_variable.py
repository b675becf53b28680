# accepts: extra_models.SpikeSourcePoissonVariable
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
src = sim.Population(5, sim.extra_models.SpikeSourcePoissonVariable(
    rates=[10.0, 50.0, 10.0], starts=[0.0, 100.0, 200.0], durations=[100.0, 100.0, 100.0]))
cells = sim.Population(5, sim.IF_curr_exp())
sim.Projection(src, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=2.0, delay=1.0))
src.record("spikes")
sim.run(300.0)
sim.end()
