# accepts: structural plasticity with STDP
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
pre = sim.Population(16, sim.SpikeSourcePoisson(rate=10.0))
post = sim.Population(16, sim.IF_curr_exp())
syn = sim.StructuralMechanismSTDP(
    partner_selection=sim.RandomSelection(),
    formation=sim.DistanceDependentFormation(grid=[4, 4]),
    elimination=sim.RandomByWeightElimination(threshold=0.2),
    timing_dependence=sim.SpikePairRule(tau_plus=20., tau_minus=20., A_plus=0.01, A_minus=0.01),
    weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=1.0),
    f_rew=1000, initial_weight=0.5, initial_delay=1.0, s_max=16)
sim.Projection(pre, post, sim.FixedNumberPreConnector(2), synapse_type=syn)
sim.run(100.0)
sim.end()
