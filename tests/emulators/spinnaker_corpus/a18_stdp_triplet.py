# accepts: extra_models.PfisterSpikeTriplet with WeightDependenceAdditiveTriplet
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
pre = sim.Population(10, sim.SpikeSourcePoisson(rate=20.0))
post = sim.Population(10, sim.IF_curr_exp())
stdp = sim.STDPMechanism(
    timing_dependence=sim.extra_models.PfisterSpikeTriplet(
        tau_plus=16.8, tau_minus=33.7, tau_x=101, tau_y=125, A_plus=0.005, A_minus=0.005),
    weight_dependence=sim.extra_models.WeightDependenceAdditiveTriplet(
        w_min=0.0, w_max=2.0, A3_plus=0.0062, A3_minus=0.00023),
    weight=1.0, delay=1.0)
sim.Projection(pre, post, sim.AllToAllConnector(), synapse_type=stdp)
sim.run(100.0)
sim.end()
