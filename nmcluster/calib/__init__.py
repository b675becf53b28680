"""Calibration database and calibration runs.

* :mod:`.store` - versioned HDF5 store, one file per target (``station500``, ``wafer33``), atomic
  publishing of new versions, blacklists (redman-like), diff; :class:`.providers.SpikeyStoreProvider` is the
  Spikey emulator's default calibration provider.
* :mod:`.formats` - calibtic-style XML (``w<W>-h<H>.xml``) and the Spikey tool's ``.dat`` files.
* :mod:`.spikey`, :mod:`.brainscales` - measurement (on hardware or, absent it, the emulated chip,
  as batched trials) and fit steps.
* :mod:`.runs` - calibration runs: an array of nmcluster jobs that measure chunks on the hardware, the last
  of which fits and commits (or the same steps in local worker processes).

Imports stay light here: h5py/numpy load when a submodule is used.
"""
