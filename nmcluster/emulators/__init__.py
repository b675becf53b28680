"""Software emulators of the neuromorphic hardware, one PyNN backend per system.

Importable as ``pyNN.nmcluster.<name>`` (see :mod:`nmcluster._pynn_alias`).
"""
