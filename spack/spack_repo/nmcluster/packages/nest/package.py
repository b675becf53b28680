# Copyright nmcluster developers.
#
# SPDX-License-Identifier: GPL-3.0-or-later

# NEST 3.10: spack-packages' builtin nest stops at 3.0, and PyNN 0.13's pyNN.nest needs NEST 3.
# The source is the release's sdist on PyPI (nest_simulator-3.10.0.tar.gz): the complete CMake source
# tree (CMakeLists.txt, models/, pynest/), the same files as the GitHub tag's archive plus PKG-INFO.
# The build is the builtin recipe's CMake build (extended here, see py_pynn/package.py) with what
# NEST 3.10's CMakeLists.txt asks for on top: CMake >= 3.19, a C++20 compiler, Cython >= 3 for
# PyNEST, and Boost (with-boost defaults to ON).

from spack_repo.builtin.packages.nest.package import Nest as BuiltinNest

from spack.package import *


class Nest(BuiltinNest):
    """NEST with the release PyNN 0.13 is tested against."""

    # sha256 of nest_simulator-3.10.0.tar.gz on PyPI (downloaded and checked with sha256sum)
    version("3.10.0", sha256="8fbd7df4a3e941784d4b1d5825ded234bdc915238faac0982c62e4cb80134d52",
            url="https://files.pythonhosted.org/packages/0c/f0/32302457ea87020dd295cbf8049f41ec21ba4ffafbe354d6683974434049/nest_simulator-3.10.0.tar.gz")

    depends_on("cmake@3.19:", type="build", when="@3.10:")
    depends_on("boost", when="@3.10:")
    depends_on("py-cython@3:", type="build", when="@3.10: +python")
    depends_on("python@3.9:", type=("build", "run"), when="@3.10: +python")

    def cmake_args(self):
        args = super().cmake_args()
        if self.spec.satisfies("@3.10:"):
            # CMakeLists.txt: cythonize-pynest is an option (ON/OFF), with-boost a path or ON
            args = [a for a in args if not a.startswith("-Dcythonize-pynest=")]
            args.append("-Dcythonize-pynest=" + ("ON" if self.spec.satisfies("+python") else "OFF"))
            args.append("-Dwith-boost=" + self.spec["boost"].prefix)
        return args
