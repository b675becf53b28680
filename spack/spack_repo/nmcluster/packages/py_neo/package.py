# Copyright nmcluster developers.
#
# SPDX-License-Identifier: GPL-3.0-or-later

# Newer neo releases than spack-packages' builtin py-neo (up to 0.12.0); see py_pynn/package.py.

from spack_repo.builtin.packages.py_neo.package import PyNeo as BuiltinPyNeo

from spack.package import *


class PyNeo(BuiltinPyNeo):
    """neo with the releases PyNN 0.13 needs (>= 0.13.4)."""

    # sha256 of the sdists on PyPI (neo-0.14.6.tar.gz, neo-0.13.4.tar.gz; checked with sha256sum)
    version("0.14.6", sha256="450ee8704c61929ca85ce0e62c338c3c461c2325318703627d8a573f23779ab6")
    version("0.13.4", sha256="b7264acb7ba7eeaa0a8e91a15ae4dbc8b4dd56c3e38bc7d1cc0442dc5b71dd72")

    # neo-0.14.6/pyproject.toml and neo-0.13.4/pyproject.toml
    depends_on("python@3.10:", type=("build", "run"), when="@0.14:")
    depends_on("python@3.9:3.12", type=("build", "run"), when="@0.13")
    depends_on("py-setuptools@78.0.2:", type="build", when="@0.14:")
    depends_on("py-numpy@1.25.2:", type=("build", "run"), when="@0.14:")
    depends_on("py-numpy@1.22.4:1", type=("build", "run"), when="@0.13")
    depends_on("py-quantities@0.16.4:", type=("build", "run"), when="@0.14:")
    depends_on("py-quantities@0.16.1:", type=("build", "run"), when="@0.13")
