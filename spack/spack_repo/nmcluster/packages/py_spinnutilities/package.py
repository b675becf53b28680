# Copyright nmcluster developers.
#
# SPDX-License-Identifier: GPL-3.0-or-later


from spack_repo.builtin.build_systems.python import PythonPackage

from spack.package import *


class PySpinnutilities(PythonPackage):
    """Utilities shared by the SpiNNaker tool chain (a dependency of the spalloc client)."""

    homepage = "https://github.com/SpiNNakerManchester/SpiNNUtils"

    license("Apache-2.0")

    # sha256 of spinnutilities-1!7.4.1.tar.gz on PyPI (downloaded and checked with sha256sum)
    version("7.4.1", sha256="318d54f07b4afe8cdd1003589efab2aa8a9ac75c3ed8922fa391fddc14588687",
            url="https://files.pythonhosted.org/packages/81/ce/fa7ddfababfd1e5e7f98368acb03b5914190d1243fbb162edcf85ac8b962/spinnutilities-1!7.4.1.tar.gz")

    # PyPI metadata of 1!7.4.1: requires_python >=3.8; appdirs, docstring_parser, numpy, pyyaml,
    # requests, typing-extensions
    depends_on("python@3.8:", type=("build", "run"))
    depends_on("py-setuptools", type="build")
    depends_on("py-appdirs", type=("build", "run"))
    depends_on("py-docstring-parser", type=("build", "run"))
    depends_on("py-numpy", type=("build", "run"))
    depends_on("py-pyyaml", type=("build", "run"))
    depends_on("py-requests", type=("build", "run"))
    depends_on("py-typing-extensions", type=("build", "run"))
