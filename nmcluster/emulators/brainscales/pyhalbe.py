"""``import pyhalbe`` on the wafer emulator: refused with the reason.

pyhalbe gives direct access to HICANN configuration (floating gates, synapse weights by hardware
coordinate).  The emulated wafer has no such layer: scripts must set parameters through PyNN and
pymarocco.  The guidebook's ``nmpm1_single_neuron.py``/``nmpm1_sweep_spike_times.py`` therefore need
the real BrainScaleS system."""

raise ImportError("pyhalbe (low-level HICANN access: floating gates, synapse proxies) is not "
                  "available on the emulated BrainScaleS wafer; set parameters with PyNN "
                  "(pyhmf) and pymarocco instead, or run on the real system", name="pyhalbe")
