"""``sim.extra_models`` of the SpiNNaker emulator: the names of sPyNNaker 7.4.1's
``spynnaker.pyNN.extra_models`` (spynnaker/pyNN/extra_models/__init__.py).

Provided: ``IF_curr_dual_exp``, ``Izhikevich_cond``, ``IFCurDelta`` (= ``IF_curr_delta``),
``SpikeSourcePoissonVariable``, the timing rules ``SpikeNearestPairRule``, ``Vogels2011Rule``,
``PfisterSpikeTriplet``, ``RecurrentRule``, the weight rule ``WeightDependenceAdditiveTriplet`` and
the connectors ``AllButMeConnector``, ``OneToOneOffsetConnector``.  Every other name sPyNNaker
has there (stochastic and adaptive neurons, neuromodulation, weight changers) raises an error
that names it and lists what the emulator provides.
"""

from __future__ import annotations

import numpy as np
from pyNN.connectors import Connector, FromListConnector
from pyNN.standardmodels import StandardCellType, synapses

import logging

from ..common.standardmodels import identity
from .machine import SpinnakerConfigError
from .standardmodels import IF_curr_delta as IFCurDelta  # noqa: F401
from .standardmodels import IF_curr_dual_exp, Izhikevich_cond  # noqa: F401


class SpikeNearestPairRule(synapses.SpikePairRule):
    """sPyNNaker's nearest-pair STDP timing rule (traces reset to 1 at each spike: each spike
    pairs with the latest spike of the other side); parameters as ``SpikePairRule``."""

    translations = identity("tau_plus", "tau_minus", "A_plus", "A_minus")


logger = logging.getLogger("pyNN.nmcluster.spinnaker")


def _warn_approximated(rule: str, how: str) -> None:
    """A rule the emulator only approximates changes results: say so when it is used (logging prints a
    message once per construction; sPyNNaker itself runs the exact rule on the boards)."""
    logger.warning("%s: the SpiNNaker emulator applies it as %s; weights will differ from sPyNNaker's on "
                   "the boards (supported exactly: SpikePairRule, SpikeNearestPairRule, PfisterSpikeTriplet)",
                   rule, how)


class Vogels2011Rule(synapses.STDPTimingDependence):
    """sPyNNaker's inhibitory STDP rule of Vogels et al. (2011): ``alpha`` (depression
    offset), ``tau`` (ms), ``A_plus``, ``A_minus``.  The emulator applies it as a symmetric
    pair rule with ``tau`` on both sides."""

    default_parameters = {"alpha": 0.12, "tau": 20.0, "A_plus": 0.01, "A_minus": 0.01}
    translations = identity(*default_parameters)

    def __init__(self, alpha=0.12, tau=20.0, A_plus=0.01, A_minus=0.01) -> None:
        super().__init__(alpha=alpha, tau=tau, A_plus=A_plus, A_minus=A_minus)
        _warn_approximated("Vogels2011Rule", "a pair rule with tau on both sides (no alpha depression, "
                                             "no symmetric potentiation)")


class PfisterSpikeTriplet(synapses.STDPTimingDependence):
    """sPyNNaker's triplet timing rule: ``tau_plus``, ``tau_minus``, ``tau_x``, ``tau_y``,
    ``A_plus``, ``A_minus`` (the triplet amplitudes ``A3_plus`` / ``A3_minus`` belong to
    :class:`WeightDependenceAdditiveTriplet`), integrated as sPyNNaker does: pre traces with
    ``tau_plus`` and ``tau_x``, post traces with ``tau_minus`` and ``tau_y``
    (timing_pfister_triplet_impl.h)."""

    default_parameters = {"tau_plus": 16.8, "tau_minus": 33.7, "tau_x": 101.0, "tau_y": 125.0,
                          "A_plus": 0.01, "A_minus": 0.01}
    translations = identity(*default_parameters)

    def __init__(self, tau_plus=16.8, tau_minus=33.7, tau_x=101.0, tau_y=125.0, A_plus=0.01,
                 A_minus=0.01) -> None:
        super().__init__(tau_plus=tau_plus, tau_minus=tau_minus, tau_x=tau_x, tau_y=tau_y,
                         A_plus=A_plus, A_minus=A_minus)


class RecurrentRule(synapses.STDPTimingDependence):
    """sPyNNaker's recurrent (accumulator) STDP rule; the emulator applies it as a pair rule with
    time constants ``mean_pre_window`` / ``mean_post_window``."""

    default_parameters = {"accumulator_depression": -6, "accumulator_potentiation": 3,
                          "mean_pre_window": 35.0, "mean_post_window": 35.0, "dual_fsm": 1.0,
                          "A_plus": 0.01, "A_minus": 0.01}
    translations = identity(*default_parameters)

    def __init__(self, accumulator_depression=-6, accumulator_potentiation=3,
                 mean_pre_window=35.0, mean_post_window=35.0, dual_fsm=True, A_plus=0.01,
                 A_minus=0.01) -> None:
        super().__init__(accumulator_depression=accumulator_depression,
                         accumulator_potentiation=accumulator_potentiation,
                         mean_pre_window=mean_pre_window, mean_post_window=mean_post_window,
                         dual_fsm=float(dual_fsm), A_plus=A_plus, A_minus=A_minus)
        _warn_approximated("RecurrentRule", "a pair rule with the mean windows as time constants (no "
                                            "accumulators)")


class WeightDependenceAdditiveTriplet(synapses.AdditiveWeightDependence):
    """sPyNNaker's additive weight rule for the triplet rule: ``w_min``, ``w_max``,
    ``A3_plus``, ``A3_minus``."""

    default_parameters = {"w_min": 0.0, "w_max": 1.0, "A3_plus": 0.01, "A3_minus": 0.01}
    translations = identity(*default_parameters)

    def __init__(self, w_min=0.0, w_max=1.0, A3_plus=0.01, A3_minus=0.01) -> None:
        synapses.STDPWeightDependence.__init__(self, w_min=w_min, w_max=w_max,
                                               A3_plus=A3_plus, A3_minus=A3_minus)


class SpikeSourcePoissonVariable(StandardCellType):
    """Poisson source whose rate changes over time (sPyNNaker's
    ``extra_models.SpikeSourcePoissonVariable``): ``rates`` (Hz), ``starts`` (ms) and
    ``durations`` (ms), one list per neuron or one list for all."""

    # the schedule is kept on the object (lists per neuron), not in PyNN's parameter space
    default_parameters: dict = {}
    default_initial_values: dict = {}
    recordable = ["spikes"]
    injectable = False
    receptor_types = ()
    units = {"spikes": "ms"}
    translations = identity()

    def __init__(self, rates=(1.0,), starts=(0.0,), durations=None) -> None:
        rates = _lists(rates)
        starts = _lists(starts)
        if durations is None:
            durations = [[1e12] * len(r) for r in rates] if isinstance(rates[0], list) \
                else [1e12] * len(rates)
        object.__setattr__(self, "_schedule", (rates, starts, _lists(durations)))
        super().__init__()

    def schedule(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rates Hz, starts ms, ends ms) of neuron ``i``."""
        out = []
        for x in self._schedule:
            row = x[i] if isinstance(x[0], list) else x
            out.append(np.asarray(row, float))
        r, s, d = out
        if not (r.size == s.size == d.size):
            raise SpinnakerConfigError("SpikeSourcePoissonVariable: rates, starts and "
                                       "durations need the same length")
        return r, s, s + d


def _lists(x):
    x = list(x) if not np.isscalar(x) else [x]
    return [list(v) if not np.isscalar(v) else v for v in x]


class AllButMeConnector(Connector):
    """All-to-all without self connections (sPyNNaker's ``AllButMeConnector``)."""

    parameter_names = ("allow_self_connections",)

    def __init__(self, weights=None, safe=True, callback=None, verbose=None) -> None:
        super().__init__(safe=safe, callback=callback)
        self.weights = weights

    def connect(self, projection) -> None:
        n_pre, n_post = projection.pre.size, projection.post.size
        pre, post = np.meshgrid(np.arange(n_pre), np.arange(n_post), indexing="ij")
        keep = pre != post
        conns = np.column_stack([pre[keep], post[keep]])
        FromListConnector(conns).connect(projection)


class OneToOneOffsetConnector(Connector):
    """``post = (pre + offset) % n_neurons_per_group`` within groups (sPyNNaker's
    ``OneToOneOffsetConnector``)."""

    def __init__(self, offset, wrap, n_neurons_per_group=None, safe=True, callback=None,
                 verbose=None) -> None:
        super().__init__(safe=safe, callback=callback)
        self.offset, self.wrap, self.group = int(offset), bool(wrap), n_neurons_per_group

    def connect(self, projection) -> None:
        n_pre, n_post = projection.pre.size, projection.post.size
        group = self.group or n_pre
        rows = []
        for i in range(n_pre):
            base = (i // group) * group
            j = i - base + self.offset
            if self.wrap:
                j %= group
            elif not 0 <= j < group:
                continue
            if base + j < n_post:
                rows.append((i, base + j))
        FromListConnector(np.array(rows, dtype=float).reshape(-1, 2)).connect(projection)


_PROVIDED = ["IF_curr_dual_exp", "Izhikevich_cond", "IFCurDelta", "SpikeSourcePoissonVariable",
             "SpikeNearestPairRule", "Vogels2011Rule", "PfisterSpikeTriplet", "RecurrentRule",
             "WeightDependenceAdditiveTriplet", "AllButMeConnector", "OneToOneOffsetConnector"]
#: what sPyNNaker 7.4.1 has in extra_models and the emulator does not
_NOT_EMULATED = ["IFCurrExpCa2Adaptive", "IFCondExpStoc", "IF_curr_exp_sEMD",
                 "Izhikevich_cond_dual", "IFCurrDeltaCa2Adaptive", "Neuromodulation",
                 "StocExp", "StocExpStable", "StocSigma", "IFCurrDeltaFixedProb", "IFTruncDelta",
                 "WeightChangeable", "WeightChanger"]


def __getattr__(name: str):
    if name in _NOT_EMULATED:
        raise SpinnakerUnsupported(
            f"extra_models.{name} (an sPyNNaker extra model) is not provided by the SpiNNaker "
            f"emulator; it provides {', '.join(_PROVIDED)}")
    raise AttributeError(f"module 'extra_models' of the SpiNNaker emulator has no attribute "
                         f"{name!r} (sPyNNaker has no such extra model either); it provides "
                         f"{', '.join(_PROVIDED)}")


class SpinnakerUnsupported(AttributeError):
    """A PyNN / sPyNNaker feature the SpiNNaker emulator does not provide."""
