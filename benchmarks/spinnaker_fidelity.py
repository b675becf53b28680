"""SpiNNaker emulator (``pyNN.nmcluster.spinnaker``) against NEST (``pyNN.nest``): the same
PyNN scripts, spike statistics compared (issue 24's fidelity targets).

Cases (seeds fixed; NEST ``rng_seed`` and the emulator's ``seed`` differ in their streams, so
the comparisons are statistical):

* ``curr`` / ``cond``: 200 IF_curr_exp / IF_cond_exp neurons, each driven by its own excitatory
  and inhibitory Poisson sources (fluctuation-driven, ~10 Hz), 10 s: mean rate and mean CV of
  the inter-spike intervals;
* ``balanced``: 1000 IF_curr_exp neurons, 80/20 E/I, 10% connectivity, Poisson drive, 2 s:
  rates of the two populations;
* ``if``: I-f curve, IF_curr_exp with ``DCSource`` 0.8 .. 3.0 nA, 2 s per point.

Usage: ``python benchmarks/spinnaker_fidelity.py [--dt 0.1] [--case curr cond balanced if]``
prints one line per figure (emulator, NEST, difference in %).
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib import import_module

import numpy as np

EMU = "nmcluster.spinnaker"


def _setup(sim, backend: str, dt: float, seed: int) -> None:
    if backend == "nest":
        sim.setup(timestep=dt, rng_seed=seed, spike_precision="on_grid")
    else:
        sim.setup(timestep=dt, seed=seed)


def _stats(trains, T: float) -> tuple[float, float]:
    counts = np.array([len(t) for t in trains])
    cvs = []
    for t in trains:
        t = np.asarray(t)
        if t.size > 3:
            isi = np.diff(t)
            cvs.append(isi.std() / isi.mean())
    return counts.mean() / (T / 1000.0), float(np.mean(cvs)) if cvs else float("nan")


def poisson_driven(backend: str, dt: float, cond: bool, seed: int = 1, n: int = 200,
                   T: float = 10000.0) -> tuple[float, float]:
    sim = import_module("pyNN." + backend)
    _setup(sim, backend, dt, seed)
    if cond:
        cell = sim.IF_cond_exp(tau_refrac=2.0)
        w_e, w_i = 0.0011, 0.004
    else:
        cell = sim.IF_curr_exp(tau_refrac=2.0)
        w_e, w_i = 0.06, -0.1
    pop = sim.Population(n, cell)
    exc = sim.Population(n, sim.SpikeSourcePoisson(rate=4000.0))
    inh = sim.Population(n, sim.SpikeSourcePoisson(rate=1000.0))
    sim.Projection(exc, pop, sim.OneToOneConnector(), sim.StaticSynapse(weight=w_e, delay=1.0),
                   receptor_type="excitatory")
    sim.Projection(inh, pop, sim.OneToOneConnector(),
                   sim.StaticSynapse(weight=abs(w_i) if cond else w_i, delay=1.0),
                   receptor_type="inhibitory")
    pop.record("spikes")
    sim.run(T)
    out = _stats(pop.get_data().segments[0].spiketrains, T)
    sim.end()
    return out


def balanced(backend: str, dt: float, seed: int = 1, T: float = 2000.0) -> tuple[float, float]:
    sim = import_module("pyNN." + backend)
    _setup(sim, backend, dt, seed)
    n_e, n_i = 800, 200
    cell = sim.IF_curr_exp(cm=0.25, tau_m=20.0, v_rest=-65.0, v_reset=-65.0, v_thresh=-50.0,
                           tau_refrac=2.0, tau_syn_E=5.0, tau_syn_I=5.0)
    exc = sim.Population(n_e, cell)
    inh = sim.Population(n_i, cell)
    for pop in (exc, inh):
        src = sim.Population(pop.size, sim.SpikeSourcePoisson(rate=800.0))
        sim.Projection(src, pop, sim.OneToOneConnector(), sim.StaticSynapse(weight=0.35, delay=1.0))
    conn = sim.FixedProbabilityConnector(0.1, rng=sim.NumpyRNG(seed=11))
    for pre, w, rt in ((exc, 0.05, "excitatory"), (inh, -0.25, "inhibitory")):
        for post in (exc, inh):
            sim.Projection(pre, post, conn, sim.StaticSynapse(weight=w, delay=1.5),
                           receptor_type=rt)
    exc.record("spikes")
    inh.record("spikes")
    sim.run(T)
    r_e = _stats(exc.get_data().segments[0].spiketrains, T)[0]
    r_i = _stats(inh.get_data().segments[0].spiketrains, T)[0]
    sim.end()
    return r_e, r_i


AMPS = (0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0)


def if_curve(backend: str, dt: float, T: float = 2000.0) -> list[float]:
    sim = import_module("pyNN." + backend)
    _setup(sim, backend, dt, 1)
    pop = sim.Population(len(AMPS), sim.IF_curr_exp(tau_refrac=2.0))
    for i, a in enumerate(AMPS):
        sim.DCSource(amplitude=a, start=0.0, stop=T + 10.0).inject_into(pop[i:i + 1])
    pop.record("spikes")
    sim.run(T)
    rates = [len(t) / (T / 1000.0) for t in pop.get_data().segments[0].spiketrains]
    sim.end()
    return rates


def _pct(a: float, b: float) -> float:
    return 100.0 * (a - b) / b if b else float("nan")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dt", type=float, default=0.1)
    ap.add_argument("--case", nargs="*", default=["curr", "cond", "balanced", "if"])
    args = ap.parse_args(argv)
    dt = args.dt
    print(f"timestep {dt} ms; columns: emulator, NEST, difference %")
    for case in args.case:
        t0 = time.perf_counter()
        if case in ("curr", "cond"):
            e = poisson_driven(EMU, dt, case == "cond")
            n = poisson_driven("nest", dt, case == "cond")
            print(f"{case:>8} rate {e[0]:8.3f} {n[0]:8.3f} {_pct(e[0], n[0]):+6.2f}%   "
                  f"CV {e[1]:6.3f} {n[1]:6.3f} {_pct(e[1], n[1]):+6.2f}%")
        elif case == "balanced":
            e = balanced(EMU, dt)
            n = balanced("nest", dt)
            print(f"balanced exc {e[0]:8.3f} {n[0]:8.3f} {_pct(e[0], n[0]):+6.2f}%   "
                  f"inh {e[1]:8.3f} {n[1]:8.3f} {_pct(e[1], n[1]):+6.2f}%")
        elif case == "if":
            e = if_curve(EMU, dt)
            n = if_curve("nest", dt)
            for a, x, y in zip(AMPS, e, n):
                print(f"      if {a:5.2f} nA {x:8.2f} {y:8.2f} {_pct(x, y):+6.2f}%")
        print(f"   ({case}: {time.perf_counter() - t0:.1f} s)")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
