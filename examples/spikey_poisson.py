"""Firing rate versus leak conductance (Spikey school, lesson 1) with any PyNN backend.

Usage: ``python examples/spikey_poisson.py nmcluster.spikey`` (or ``nest``).  Three groups of
neurons with different leak conductances are driven one-to-one by Poisson sources; the mean
output rate falls as g_leak rises (on the emulated chip also the fixed-pattern noise shows: the
per-neuron spread).  Weights are integer multiples of the chip's smallest weight, so Spikey
realises them exactly; other backends use 0.001 uS per level.  Writes the spikes and one neuron's
membrane to ``spikey_poisson.nix`` (NIX; ``.pkl`` without nixio) (``write_data``) and, with matplotlib, a raster plot and the
membrane trace next to it.
"""

import sys
from importlib import import_module

import numpy as np

try:  # NIX (HDF5) is neo's durable format; its pickle is not meant for long-term storage
    import nixio  # noqa: F401
    DATA_SUFFIX = ".nix"
except ImportError:  # the nix extra is not installed: neo's pickle, readable without extra packages
    DATA_SUFFIX = ".pkl"
backend = sys.argv[1] if len(sys.argv) > 1 else "nest"
sim = import_module("pyNN." + backend)
min_exc = sim.minExcWeight() if hasattr(sim, "minExcWeight") else 0.001

sim.setup(timestep=0.1)
n, duration = 16, 2000.0
params = {"cm": 0.2, "v_rest": -75.0, "v_reset": -80.0, "v_thresh": -55.0, "e_rev_E": 0.0,
          "e_rev_I": -80.0, "tau_refrac": 1.0, "tau_syn_E": 5.0, "tau_syn_I": 5.0}
groups = {}
for g_leak in (10.0, 20.0, 40.0):  # nS; tau_m = cm / g_leak
    stim = sim.Population(n, sim.SpikeSourcePoisson(rate=80.0))
    cells = sim.Population(n, sim.IF_cond_exp(tau_m=1000.0 * 0.2 / g_leak, **params),
                           label=f"g_leak {g_leak:g} nS")
    sim.Projection(stim, cells, sim.OneToOneConnector(),
                   sim.StaticSynapse(weight=15 * min_exc, delay=1.0), receptor_type="excitatory")
    cells.record("spikes")
    groups[g_leak] = cells
groups[10.0][0:1].record("v")  # one membrane at a time on Spikey
sim.run(duration)
print(f"{backend}: g_leak (nS) -> rate (Hz), mean +- std over {n} neurons")
for g_leak, cells in groups.items():
    rates = np.array(list(cells.get_spike_counts().values())) / (duration / 1000.0)
    print(f"  {g_leak:5.1f} -> {rates.mean():6.1f} +- {rates.std():5.1f}")
sim.Assembly(*groups.values()).write_data("spikey_poisson" + DATA_SUFFIX,
                                          annotations={"script": "spikey_poisson", "backend": backend})
sim.end()

try:
    from nmcluster.plotting import example_figures
except ImportError:  # PyNN without nmcluster: the data file is the result
    example_figures = None
if example_figures is not None:
    for png in example_figures("spikey_poisson" + DATA_SUFFIX):
        print(f"plot: {png}")
