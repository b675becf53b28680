# accepts: structural plasticity on static synapses (sPyNNaker's names)
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
pre = sim.Population(16, sim.SpikeSourcePoisson(rate=10.0))
post = sim.Population(16, sim.IF_curr_exp(), label="post")
syn = sim.StructuralMechanismStatic(
    partner_selection=sim.LastNeuronSelection(),
    formation=sim.DistanceDependentFormation(grid=[4, 4], sigma_form_forward=0.5),
    elimination=sim.RandomByWeightElimination(threshold=0.2),
    f_rew=1000, initial_weight=0.5, initial_delay=1.0, s_max=16)
sim.Projection(pre, post, sim.FixedNumberPreConnector(2), synapse_type=syn)
post.record("spikes")
sim.run(100.0)
sim.end()
