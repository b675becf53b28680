# accepts: the procedural API, initialize and list_standard_models
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0, min_delay=1.0)
print(sim.list_standard_models())
cells = sim.create(sim.IF_curr_exp, {"i_offset": 0.5}, n=4)
src = sim.create(sim.SpikeSourcePoisson, {"rate": 20.0}, n=4)
sim.connect(src, cells, weight=1.0, delay=1.0, receptor_type="excitatory", p=0.5)
cells.initialize(v=-60.0)
sim.record(["spikes"], cells, "spikes.pkl")
sim.run(20.0)
print(sim.get_current_time(), sim.get_time_step(), sim.num_processes(), sim.rank())
sim.end()
