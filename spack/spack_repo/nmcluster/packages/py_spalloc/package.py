# Copyright nmcluster developers.
#
# SPDX-License-Identifier: GPL-3.0-or-later


from spack_repo.builtin.build_systems.python import PythonPackage

from spack.package import *


class PySpalloc(PythonPackage):
    """The SpiNNaker board allocation client (module spalloc_client) that nmcluster's spinnaker
    partition uses when the site configures a spalloc server."""

    homepage = "https://github.com/SpiNNakerManchester/spalloc"

    license("Apache-2.0")

    # PyPI's releases carry the epoch 1! (spalloc-1!7.4.1.tar.gz); spack versions have none.
    # sha256 of that sdist (downloaded and checked with sha256sum)
    version("7.4.1", sha256="6a32463ad947b5bdc4cdc1a593c56ccd3b2a99ea8fc1bda1a8c88cca4a31c78c",
            url="https://files.pythonhosted.org/packages/7c/01/faaafcb4962b566386a5e647f41f2579ba03082b9ec347c80a34d502bd35/spalloc-1!7.4.1.tar.gz")

    # spalloc-1!7.4.1/setup.cfg: python_requires >=3.8, install_requires jsonschema, SpiNNUtilities == 1!7.4.1
    depends_on("python@3.8:", type=("build", "run"))
    depends_on("py-setuptools", type="build")
    depends_on("py-jsonschema", type=("build", "run"))
    depends_on("py-spinnutilities@7.4.1", type=("build", "run"), when="@7.4.1")
