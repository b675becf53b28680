# Copyright nmcluster developers.
#
# SPDX-License-Identifier: GPL-3.0-or-later

# PyMySQL 1.1 for nmcluster's "mariadb" variant (the benchmark database on MariaDB): spack-packages'
# builtin py-pymysql stops at 0.9.2 (2018).  See py_pynn/package.py for how this repository extends builtin
# recipes.

from spack_repo.builtin.packages.py_pymysql.package import PyPymysql as BuiltinPyPymysql

from spack.package import *


class PyPymysql(BuiltinPyPymysql):
    """PyMySQL with the 1.1 release."""

    # sha256 of the sdist on PyPI (checked with sha256sum); 1.x sdists are named in lower case, which the
    # builtin recipe's pypi = "pymysql/PyMySQL-0.9.2.tar.gz" would not extrapolate to
    version("1.1.1", sha256="e127611aaf2b417403c60bf4dc570124aeb4a57f5f37b8e95ae399a42f904cd0",
            url="https://files.pythonhosted.org/packages/source/p/pymysql/pymysql-1.1.1.tar.gz")

    # pymysql-1.1.1/pyproject.toml: requires-python >=3.7, build with setuptools>=61
    depends_on("py-setuptools@61:", type="build", when="@1.1:")
