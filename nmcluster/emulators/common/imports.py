"""What a backend does before it imports PyNN: keep ``lazyarray`` from importing half of numpy.

PyNN's parameter spaces use ``lazyarray``, which at import wraps every NumPy ufunc it finds with
``for name in dir(np): getattr(np, name)`` (lazyarray.py, last lines).  Under numpy 2, ``dir(np)``
lists numpy's lazily loaded submodules too (``numpy/__init__.py``: ``__dir__`` adds
``__numpy_submodules__``), so that loop imports ``numpy.f2py``, ``numpy.testing`` (with
``unittest`` and ``importlib.metadata``), ``numpy.ma``, ``numpy.polynomial``, ``numpy.fft`` ...
(~50 ms of a job's 0.3 s fixed cost), none of which holds a ufunc.  Importing lazyarray while
numpy's ``__dir__`` leaves out the submodules not yet loaded gives lazyarray the very same
wrappers (ufuncs are plain attributes of numpy, never lazy submodules); a job that uses
``np.testing`` later still imports it on first use.
"""

from __future__ import annotations

import sys


def import_lazyarray() -> None:
    """Import ``lazyarray`` (once) without the numpy submodules its ufunc scan would load."""
    if "lazyarray" in sys.modules:
        return
    import numpy as np

    lazy = getattr(np, "__numpy_submodules__", None)
    full_dir = np.__dict__.get("__dir__")
    if not lazy or full_dir is None:  # another numpy: nothing lazy to keep out
        import lazyarray  # noqa: F401
        return

    def loaded_dir() -> list[str]:
        return [n for n in full_dir() if n not in lazy or n in np.__dict__]

    np.__dir__ = loaded_dir
    try:
        import lazyarray  # noqa: F401
    finally:
        np.__dir__ = full_dir
