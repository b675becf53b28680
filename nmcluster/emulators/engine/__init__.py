"""Shared clock-driven emulator engine (Spikey now; BrainScaleS AdEx and SpiNNaker later).

Public API:

* :class:`Network` – neurons of one model (:mod:`.models`), synaptic channels (conductance or
  current, exponential or alpha PSCs), Poisson and spike-array sources, sparse connections with
  delays, Tsodyks-Markram STP and STDP (continuous pair rules or the chip's accumulator +
  look-up-table sweep), recording of spikes and analog traces.
* :meth:`Network.run` / :func:`run_batch` – run ``T`` independent trials (own seeds, per-trial
  parameter overrides) in one vectorised pass; returns a :class:`Simulation`.
* :class:`Simulation` – trial state; ``advance()`` repeatedly (PyNN's multiple ``run`` calls),
  ``spikes()``, ``spike_counts()``, ``analog()``, ``weights()``.

The hot loop is numba (``cache=True``) in :mod:`.kernels`; see its docstring for why.
"""

from .models import MODELS, NeuronModel, get_model
from .network import CompiledNetwork, Network, Simulation, run_batch

__all__ = ["MODELS", "NeuronModel", "get_model", "Network", "Simulation", "CompiledNetwork",
           "run_batch"]
