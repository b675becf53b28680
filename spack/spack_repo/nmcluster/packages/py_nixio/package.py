# Copyright nmcluster developers.
#
# SPDX-License-Identifier: GPL-3.0-or-later


from spack_repo.builtin.build_systems.python import PythonPackage

from spack.package import *


class PyNixio(PythonPackage):
    """Python reimplementation of the NIX library for storing scientific data in HDF5 (neo's NixIO:
    the durable format nmcluster's examples write when it is installed)."""

    homepage = "https://github.com/G-Node/nixpy"
    pypi = "nixio/nixio-1.5.4.tar.gz"

    license("BSD-3-Clause")

    # sha256 of the sdist on PyPI (checked with sha256sum)
    version("1.5.4", sha256="0aa6a44100d60acfa40430e5467d75431b10e7e4804a92735b29d6cbcf7d1863")

    # nixio-1.5.4/setup.py: python_requires >=3.6, install_requires numpy, h5py, six
    depends_on("python@3.6:", type=("build", "run"))
    depends_on("py-setuptools", type="build")
    depends_on("py-numpy", type=("build", "run"))
    depends_on("py-h5py", type=("build", "run"))
    depends_on("py-six", type=("build", "run"))
