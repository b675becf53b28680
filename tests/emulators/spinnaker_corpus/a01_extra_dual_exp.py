# accepts: extra_models.IF_curr_dual_exp with its second excitatory receptor
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
cells = sim.Population(10, sim.extra_models.IF_curr_dual_exp(tau_syn_E2=2.0), label="cells")
src = sim.Population(10, sim.SpikeSourcePoisson(rate=50.0))
sim.Projection(src, cells, sim.OneToOneConnector(), sim.StaticSynapse(weight=1.0, delay=1.0),
               receptor_type="excitatory2")
cells.record("spikes")
sim.run(100.0)
print(len(cells.get_data().segments[0].spiketrains))
sim.end()
