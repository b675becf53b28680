# accepts: ACSource, StepCurrentSource and NoisyCurrentSource, into a view too
import pyNN.spiNNaker as sim
sim.setup(timestep=1.0)
cells = sim.Population(6, sim.IF_curr_exp(), label="cells")
sim.ACSource(amplitude=0.5, offset=0.5, frequency=20.0, phase=0.0, start=0.0,
             stop=100.0).inject_into(cells[0:2])
sim.StepCurrentSource(times=[10.0, 50.0], amplitudes=[1.0, 0.2]).inject_into(cells[2:4])
sim.NoisyCurrentSource(mean=0.8, stdev=0.3, start=0.0, stop=100.0, dt=1.0).inject_into(cells[4:6])
cells.record("v")
sim.run(100.0)
sim.end()
