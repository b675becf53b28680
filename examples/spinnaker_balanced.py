"""A small balanced network (IF_curr_exp, Poisson drive) on the SpiNNaker emulator.

Prints the partitioning report (cores, chips, boards: what the spinnaker partition requests)
and the mean firing rate; writes both to ``spinnaker_result.json``, the excitatory
spikes to ``spinnaker_balanced.nix`` (NIX; ``.pkl`` without nixio) (``write_data``) and, with matplotlib, their
raster plot.

    python examples/spinnaker_balanced.py nmcluster.spinnaker
    nmcluster run --local -p spinnaker -- python examples/spinnaker_balanced.py {system}
"""

import json
import sys
from importlib import import_module

try:  # NIX (HDF5) is neo's durable format; its pickle is not meant for long-term storage
    import nixio  # noqa: F401
    DATA_SUFFIX = ".nix"
except ImportError:  # the nix extra is not installed: neo's pickle, readable without extra packages
    DATA_SUFFIX = ".pkl"
backend = sys.argv[1] if len(sys.argv) > 1 else "nmcluster.spinnaker"
sim = import_module("pyNN." + backend)
sim.setup(timestep=1.0)

n_exc, n_inh = 400, 100
cell = sim.IF_curr_exp(tau_m=20.0, v_thresh=-50.0, v_reset=-65.0, tau_refrac=2.0)
exc = sim.Population(n_exc, cell, label="exc")
inh = sim.Population(n_inh, cell, label="inh")
rng = sim.NumpyRNG(seed=7)
conn = sim.FixedProbabilityConnector(0.05, rng=rng)
for pop in (exc, inh):  # one Poisson source per neuron (no Assembly in projections on SpiNNaker)
    noise = sim.Population(pop.size, sim.SpikeSourcePoisson(rate=600.0))
    sim.Projection(noise, pop, sim.OneToOneConnector(),
                   sim.StaticSynapse(weight=0.6, delay=1.0), receptor_type="excitatory")
for pre, w, rt in ((exc, 0.2, "excitatory"), (inh, -1.0, "inhibitory")):
    for post in (exc, inh):
        sim.Projection(pre, post, conn, sim.StaticSynapse(weight=w, delay=2.0), receptor_type=rt)
exc.record("spikes")
sim.run(1000.0)
rate = sum(exc.get_spike_counts().values()) / n_exc
out = {"backend": backend, "rate_hz": rate}
if backend == "nmcluster.spinnaker":
    out["partitioning"] = sim.partitioning_report("partitioning_report.json")
    print("partitioning:", {k: out["partitioning"][k] for k in ("cores", "chips", "boards")})
print(f"mean excitatory rate: {rate:.2f} Hz")
json.dump(out, open("spinnaker_result.json", "w"), indent=1)
exc.write_data("spinnaker_balanced" + DATA_SUFFIX,
               annotations={"script": "spinnaker_balanced", "backend": backend})
sim.end()

try:
    from nmcluster.plotting import example_figures
except ImportError:  # PyNN without nmcluster: the data file is the result
    example_figures = None
if example_figures is not None:
    for png in example_figures("spinnaker_balanced" + DATA_SUFFIX):
        print(f"plot: {png}")
