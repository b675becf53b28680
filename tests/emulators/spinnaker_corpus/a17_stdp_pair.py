# accepts: STDP with SpikePairRule, additive and multiplicative rules onto two populations
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
pre = sim.Population(10, sim.SpikeSourcePoisson(rate=20.0))
for wd in (sim.AdditiveWeightDependence(w_min=0.0, w_max=2.0),
           sim.MultiplicativeWeightDependence(w_min=0.0, w_max=2.0)):
    post = sim.Population(10, sim.IF_curr_exp())
    stdp = sim.STDPMechanism(
        timing_dependence=sim.SpikePairRule(tau_plus=16.7, tau_minus=33.7, A_plus=0.005,
                                            A_minus=0.005),
        weight_dependence=wd, weight=1.0, delay=1.0)
    sim.Projection(pre, post, sim.AllToAllConnector(), synapse_type=stdp)
    sim.Projection(pre, post, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.5))
sim.run(100.0)
sim.end()
