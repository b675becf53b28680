"""Current sources of the SpiNNaker emulator: ``DCSource``, ``ACSource``, ``StepCurrentSource``,
``NoisyCurrentSource`` (sPyNNaker 7.x exports these four at top level).

How they act, after sPyNNaker's C code (neural_modelling/src/neuron/current_sources/
current_source_{dc,ac,step,noisy}.h, read in neuron_impl_standard.h as ``current_offset``): each
time step the current of every source injected into a neuron is added to its input current
(``I_offset + current_offset``), active in the steps ``start/ts <= step < stop/ts``.  The emulator
keeps the injected current piecewise constant between the times it changes and runs the engine
from one change to the next (:meth:`State._advance <.simulator.State._advance>`); AC and noisy
sources change every step (every ``dt`` of the noisy source).  Parameters may be changed between
runs (``source.amplitude = 0.5`` / ``set_parameters``), as in sPyNNaker.
"""

from __future__ import annotations

import numpy as np
from pyNN.parameters import ParameterSpace, Sequence
from pyNN.standardmodels import electrodes

from ..common.standardmodels import identity
from . import simulator


class _Source:
    """Keeps the parameters as given and the injected cells (population, index array)."""

    def __init__(self, **parameters) -> None:
        object.__setattr__(self, "_targets", [])
        object.__setattr__(self, "_native", {})
        super().__init__(**parameters)
        self.set_native_parameters(self.native_parameters)  # defaults + given values
        simulator.state.current_sources.append(self)

    def set_native_parameters(self, parameters: ParameterSpace) -> None:
        if parameters.shape is None:
            parameters.shape = (1,)
        parameters.evaluate(simplify=True)
        for name, value in parameters.items():
            if isinstance(value, Sequence):
                value = value.value
            self._native[name] = value

    def get_native_parameters(self) -> ParameterSpace:
        return ParameterSpace(dict(self._native), shape=None)

    def inject_into(self, cells) -> None:
        """Inject into a Population, PopulationView, Assembly or list of cell IDs."""
        from ..common.projections import cell_ids

        if isinstance(cells, (list, tuple)):
            ids = np.asarray([int(c) for c in cells], dtype=np.int64)
        else:
            ids = np.asarray(cell_ids(cells), dtype=np.int64)
        for p in simulator.state.populations:
            if p._is_source and np.any((ids >= int(p.first_id)) & (ids <= int(p.last_id))):
                raise TypeError("Can't inject current into a spike source.")
        self._targets.append(ids)

    def target_ids(self) -> np.ndarray:
        return np.concatenate(self._targets) if self._targets else np.zeros(0, np.int64)

    def _p(self, name: str) -> float:
        return float(self._native[name])

    def _window(self, dt: float) -> tuple[int, int]:
        start = int(np.rint(self._p("start") / dt))
        stop = int(np.rint(min(self._p("stop"), 1e15) / dt))
        return start, stop

    def changes(self, s0: int, s1: int, dt: float) -> list[int]:  # pragma: no cover
        raise NotImplementedError

    def amplitude_at(self, step: int, dt: float) -> float:  # pragma: no cover
        raise NotImplementedError


class DCSource(_Source, electrodes.DCSource):
    __doc__ = electrodes.DCSource.__doc__
    translations = identity("amplitude", "start", "stop")

    def changes(self, s0: int, s1: int, dt: float) -> list[int]:
        return [s for s in self._window(dt) if s0 < s < s1]

    def amplitude_at(self, step: int, dt: float) -> float:
        a, b = self._window(dt)
        return self._p("amplitude") if a <= step < b else 0.0


class ACSource(_Source, electrodes.ACSource):
    __doc__ = electrodes.ACSource.__doc__
    translations = identity("amplitude", "start", "stop", "frequency", "offset", "phase")

    def changes(self, s0: int, s1: int, dt: float) -> list[int]:
        a, b = self._window(dt)
        return list(range(max(s0 + 1, a), min(s1, b + 1)))

    def amplitude_at(self, step: int, dt: float) -> float:
        a, b = self._window(dt)
        if not a <= step < b:
            return 0.0
        t = (step - a) * dt
        return self._p("offset") + self._p("amplitude") * np.sin(
            2.0 * np.pi * self._p("frequency") * t / 1000.0 + np.deg2rad(self._p("phase")))


class StepCurrentSource(_Source, electrodes.StepCurrentSource):
    __doc__ = electrodes.StepCurrentSource.__doc__
    translations = identity("amplitudes", "times")

    def _steps(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(self._native.get("times", []), float).reshape(-1)
        a = np.asarray(self._native.get("amplitudes", []), float).reshape(-1)
        if t.size != a.size:
            raise ValueError("StepCurrentSource: times and amplitudes differ in length")
        return np.rint(t / dt).astype(np.int64), a

    def changes(self, s0: int, s1: int, dt: float) -> list[int]:
        s, _ = self._steps(dt)
        return [int(x) for x in s if s0 < x < s1]

    def amplitude_at(self, step: int, dt: float) -> float:
        s, a = self._steps(dt)
        k = np.searchsorted(s, step, side="right") - 1
        return float(a[k]) if k >= 0 else 0.0


class NoisyCurrentSource(_Source, electrodes.NoisyCurrentSource):
    __doc__ = electrodes.NoisyCurrentSource.__doc__
    translations = identity("mean", "stdev", "start", "stop", "dt")

    def __init__(self, **parameters) -> None:
        rng = parameters.pop("rng", None)
        super().__init__(**parameters)
        seed = int(simulator.state.config.seed) + 7919 * len(simulator.state.current_sources)
        object.__setattr__(self, "_rng", rng.rng if hasattr(rng, "rng")
                           else np.random.default_rng(seed))
        object.__setattr__(self, "_drawn", {})

    def _every(self, dt: float) -> int:
        return max(1, int(np.rint(self._p("dt") / dt)))

    def changes(self, s0: int, s1: int, dt: float) -> list[int]:
        a, b = self._window(dt)
        e = self._every(dt)
        return [s for s in range(max(s0 + 1, a), min(s1, b + 1)) if (s - a) % e == 0 or s == b]

    def amplitude_at(self, step: int, dt: float) -> float:
        a, b = self._window(dt)
        if not a <= step < b:
            return 0.0
        k = (step - a) // self._every(dt)
        if k not in self._drawn:
            self._drawn[k] = self._p("mean") + self._p("stdev") * float(self._rng.standard_normal())
        return self._drawn[k]
