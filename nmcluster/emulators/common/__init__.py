"""Code shared by the emulator backends (Spikey, BrainScaleS wafer, SpiNNaker).

Every backend is a PyNN backend built on ``pyNN.common`` whose classes carry ``_simulator`` (the
backend's ``simulator`` module with its ``state``).  What does not depend on the hardware lives
here and takes the backend from ``self._simulator``:

* :mod:`.simulator` – cell ``ID``, :class:`~.simulator.EngineState` (clear/reset/run on an
  :class:`nmcluster.emulators.engine.Network`, rebuilding after ``set()``, carrying the trial's
  dynamic state over), :func:`~.simulator.per_cell`;
* :mod:`.populations` – Population / PopulationView storing parameters as requested, initial
  values, spike sources onto the engine;
* :mod:`.projections` – connection collection (PyNN connectors, fast all-to-all / one-to-one),
  ``Connection`` views and attribute access;
* :mod:`.recording` – a Recorder reading spikes and analog traces from the engine simulation;
* :mod:`.standardmodels` – identity translations and the minimum-delay hook.

A backend subclasses these and adds its hardware rules (placement, weights, limits).
"""
