# Copyright nmcluster developers.
#
# SPDX-License-Identifier: GPL-3.0-or-later

# Newer lazyarray releases than spack-packages' builtin py-lazyarray (up to 0.5.2, whose numpy
# support ends before numpy 2).  See py_pynn/package.py.

from spack_repo.builtin.packages.py_lazyarray.package import PyLazyarray as BuiltinPyLazyarray

from spack.package import *


class PyLazyarray(BuiltinPyLazyarray):
    """lazyarray with the releases that work with numpy 2."""

    # sha256 of the sdists on PyPI (checked with sha256sum)
    version("0.7.0", sha256="d3607f0e856a5a8807213edc1cf71facf34238d61173280f9671c2844d64bcfa")
    version("0.6.0", sha256="89135aaff7497f9499d1b1d6709ae05cc4852bcbe55ab997a57eeddf77c4182e")

    # lazyarray-0.7.0/pyproject.toml: requires-python >=3.10, numpy>=1.23.5
    depends_on("python@3.10:", type=("build", "run"), when="@0.6:")
    depends_on("py-numpy@1.23.5:", type=("build", "run"), when="@0.6:")
