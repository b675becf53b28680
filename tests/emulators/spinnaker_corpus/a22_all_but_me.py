# accepts: extra_models.AllButMeConnector
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
cells = sim.Population(10, sim.IF_curr_exp(i_offset=1.0))
sim.Projection(cells, cells, sim.extra_models.AllButMeConnector(),
               sim.StaticSynapse(weight=0.1, delay=1.0), receptor_type="inhibitory")
sim.run(50.0)
sim.end()
