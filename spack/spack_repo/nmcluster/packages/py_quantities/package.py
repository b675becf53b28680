# Copyright nmcluster developers.
#
# SPDX-License-Identifier: GPL-3.0-or-later

# Newer quantities releases than spack-packages' builtin py-quantities (up to 0.14.1); neo 0.13.4
# needs >= 0.16.1.  See py_pynn/package.py.

from spack_repo.builtin.packages.py_quantities.package import PyQuantities as BuiltinPyQuantities

from spack.package import *


class PyQuantities(BuiltinPyQuantities):
    """quantities with the releases neo 0.13/0.14 need."""

    # sha256 of the sdists on PyPI (checked with sha256sum)
    version("0.16.4", sha256="f5b6deb74f6ed814ec56b204dcf7b5d3c526456157de48e5a78681064f98bf36")
    version("0.15.0", sha256="9ea31e2a0d7517cf24d546b14146def9292639993a616cca61b875ef796b4b2b")

    # quantities-0.16.4/pyproject.toml: requires-python >=3.10, numpy>=1.24, setuptools_scm[toml]
    depends_on("python@3.10:", type=("build", "run"), when="@0.16:")
    depends_on("py-numpy@1.24:", type=("build", "run"), when="@0.16:")
