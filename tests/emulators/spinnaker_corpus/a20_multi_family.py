# accepts: several model families in one network (LIF current and conductance, Izhikevich)
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
src = sim.Population(10, sim.SpikeSourcePoisson(rate=50.0))
curr = sim.Population(10, sim.IF_curr_exp())
cond = sim.Population(10, sim.IF_cond_exp())
izh = sim.Population(10, sim.Izhikevich(i_offset=5.0))
izc = sim.Population(10, sim.extra_models.Izhikevich_cond(i_offset=5.0))
for post, w in ((curr, 2.0), (cond, 0.05), (izh, 5.0), (izc, 0.05)):
    sim.Projection(src, post, sim.OneToOneConnector(), sim.StaticSynapse(weight=w, delay=1.0))
    post.record("spikes")
sim.Projection(curr, cond, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.02, delay=2.0))
sim.run(100.0)
sim.end()
