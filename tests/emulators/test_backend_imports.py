"""A backend import keeps lazyarray from importing numpy's lazy submodules, and lazyarray ends up
with the same ufunc wrappers as a plain ``import lazyarray`` (common/imports.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_WRAPPERS = """
import json, sys
{first}
import lazyarray, numpy as np
names = sorted(n for n, v in vars(lazyarray).items()
               if getattr(v, "__name__", "").startswith("larray_compatible_ufunc"))
lazy = sorted(m for m in ("numpy.f2py", "numpy.testing", "numpy.ma", "numpy.polynomial",
                          "numpy.fft", "numpy.ctypeslib") if m in sys.modules)
print(json.dumps({{"names": names, "lazy": lazy, "dir_ok": "f2py" in dir(np)}}))
"""


def _probe(first: str) -> dict:
    out = subprocess.run([sys.executable, "-c", _WRAPPERS.format(first=first)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", ["spikey", "spinnaker", "brainscales"])
def test_backend_import_loads_no_lazy_numpy_submodule_and_same_wrappers(backend):
    plain = _probe("")
    ours = _probe(f"import pyNN.nmcluster.{backend}")
    # a plain import pays for f2py, testing, ma ... (what the backend avoids)
    assert {"numpy.f2py", "numpy.testing", "numpy.ma"} <= set(plain["lazy"])
    assert ours["lazy"] == []
    # the same ufunc wrappers (np.sin, np.exp, np.power ... : over 60 of them)
    assert len(plain["names"]) > 60 and ours["names"] == plain["names"]
    # numpy's own dir() is back to normal afterwards
    assert ours["dir_ok"] and plain["dir_ok"]
