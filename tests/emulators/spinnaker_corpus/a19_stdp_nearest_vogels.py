# accepts: extra_models.SpikeNearestPairRule and Vogels2011Rule
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
pre = sim.Population(10, sim.SpikeSourcePoisson(rate=20.0))
post = sim.Population(10, sim.IF_curr_exp())
post2 = sim.Population(10, sim.IF_curr_exp())
nearest = sim.STDPMechanism(
    timing_dependence=sim.extra_models.SpikeNearestPairRule(tau_plus=20., tau_minus=20.,
                                                            A_plus=0.01, A_minus=0.01),
    weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=2.0), weight=1.0, delay=1.0)
vogels = sim.STDPMechanism(
    timing_dependence=sim.extra_models.Vogels2011Rule(alpha=0.12, tau=20.0, A_plus=0.01,
                                                      A_minus=0.01),
    weight_dependence=sim.AdditiveWeightDependence(w_min=0.0, w_max=2.0), weight=0.5, delay=1.0)
sim.Projection(pre, post, sim.AllToAllConnector(), synapse_type=nearest)
sim.Projection(pre, post2, sim.AllToAllConnector(), synapse_type=vogels,
               receptor_type="inhibitory")
sim.run(100.0)
sim.end()
