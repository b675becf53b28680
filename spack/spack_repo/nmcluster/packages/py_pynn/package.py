# Copyright nmcluster developers.
#
# SPDX-License-Identifier: GPL-3.0-or-later

# Carries the PyNN release nmcluster's emulators are backends of: spack-packages (builtin repository,
# repos/spack_repo/builtin/packages/py_pynn/package.py at the commit in spack/builtin-versions.json)
# stops at 0.10.0.  This recipe extends the builtin one (spack's way for a site repository to override a
# builtin package) and adds the newer release; everything else is the builtin recipe's.

from spack_repo.builtin.packages.py_pynn.package import PyPynn as BuiltinPyPynn

from spack.package import *


class PyPynn(BuiltinPyPynn):
    """PyNN with the releases the builtin repository does not have yet."""

    # sha256 of pynn-0.13.0.tar.gz on PyPI (downloaded and checked with sha256sum)
    version("0.13.0", sha256="da2821e45055a88de6cf34896067eaaebcabbfdfb7883dd147353e7b78617815",
            url="https://files.pythonhosted.org/packages/21/36/612a92b5f289cdf5a718151f82ba8872483731c3a43abac015bcb53739ce/pynn-0.13.0.tar.gz")

    # pynn-0.13.0/pyproject.toml: requires-python >=3.10, lazyarray>=0.5.2, neo>=0.13.4, setuptools
    depends_on("python@3.10:", type=("build", "run"), when="@0.13:")
    depends_on("py-lazyarray@0.5.2:", type=("build", "run"), when="@0.13:")
    depends_on("py-neo@0.13.4:", type=("build", "run"), when="@0.13:")
