# Copyright nmcluster developers.
#
# SPDX-License-Identifier: GPL-3.0-or-later

import os

from spack_repo.builtin.build_systems.python import PythonPackage

from spack.package import *


class PyNmcluster(PythonPackage):
    """Turn an on-premises Slurm cluster into a neuromorphic computing platform (Spikey,
    BrainScaleS, SpiNNaker) with software emulators: the nmcluster CLI, job runner and the
    PyNN emulator backends (pyNN.nmcluster.*)."""

    # homepage and git equal [project.urls] Homepage / Repository of pyproject.toml (tests/spack checks)
    homepage = "https://github.com/nmcluster/nmcluster"
    pypi = "nmcluster/nmcluster-0.1.0.tar.gz"
    git = "https://github.com/nmcluster/nmcluster.git"

    license("GPL-3.0-or-later")

    version("main", branch="main")
    # sha256 of the sdist that `python -m build --sdist` (hatchling 1.33) makes from commit
    # 77e8273 (reproducible: hatchling fixes mtimes and order).  The release upload must be that
    # file; otherwise replace the hash with `spack checksum py-nmcluster 0.1.0`.
    version("0.1.0", sha256="7366e78740755bab3517ebe85bcb5a20415f84d35951cd944abd31d84849d861")

    # pyproject.toml [project.optional-dependencies]; tests/spack keeps both in step.
    variant("ssh", default=False, description="Submit from machines outside the cluster over SSH (paramiko)")
    variant("nest", default=False, description="NEST as the fallback emulator backend (PyNEST)")
    variant("plot", default=False, description="Plotting helpers (matplotlib)")
    variant("nix", default=False, description="NIX (HDF5) files for recorded data (nixio, neo's NixIO)")
    variant("server", default=False,
            description="nmcluster serve and the provider bridge: the platform's job-queue API (FastAPI)")
    variant("mariadb", default=False,
            description="The benchmark database on MariaDB for sites with several frontends (PyMySQL)")
    variant("spinnaker", default=False,
            description="The spalloc client for sites that hand out SpiNNaker boards through spalloc")

    # [project] requires-python and [build-system] requires
    depends_on("python@3.11:", type=("build", "run"))
    depends_on("py-hatchling@1.27:", type="build")
    # the install-time kernel build (build_kernels below): numba.pycc compiles the ahead-of-time
    # module's C parts through setuptools and the build's C compiler
    depends_on("py-setuptools@65:", type="build")

    # [project] dependencies
    depends_on("py-click@8.1:8", type=("build", "run"))
    depends_on("py-rich@13:15", type=("build", "run"))
    depends_on("py-numpy@1.26:2", type=("build", "run"))
    depends_on("py-numba@0.65:0.68", type=("build", "run"))
    depends_on("py-llvmlite@0.47:0.50", type=("build", "run"))
    # py-pynn@0.13, py-lazyarray@0.6:, py-neo@0.13.4: and the py-quantities they need are carried by
    # this repository (packages/py_pynn, ...): the builtin repository stops at PyNN 0.10, neo 0.12,
    # lazyarray 0.5.2, quantities 0.14.1 (spack/builtin-versions.json)
    depends_on("py-pynn@0.13", type=("build", "run"))
    depends_on("py-lazyarray@0.5.2:0.7", type=("build", "run"))
    depends_on("py-neo@0.13.4:0.14", type=("build", "run"))
    depends_on("py-quantities@0.16.1:0.16", type=("build", "run"))  # the emulators' spike trains
    depends_on("py-h5py@3.10:3", type=("build", "run"))
    depends_on("py-jsonschema@4.20:4", type=("build", "run"))  # benchmark report schema (builtin has 4.26)

    # [project.optional-dependencies]
    depends_on("py-paramiko@3.4:5", type=("build", "run"), when="+ssh")
    # PyPI's nest-simulator is spack's nest with its Python interface (nest@3.10.0 carried here)
    depends_on("nest@3.6:3 +python", type=("build", "run"), when="+nest")
    depends_on("py-matplotlib@3.8:3", type=("build", "run"), when="+plot")
    depends_on("py-nixio@1.5:1", type=("build", "run"), when="+nix")
    depends_on("py-pymysql@1.1:1", type=("build", "run"), when="+mariadb")
    depends_on("py-fastapi@0.110:0", type=("build", "run"), when="+server")
    depends_on("py-pydantic@2.5:2", type=("build", "run"), when="+server")
    depends_on("py-uvicorn@0.29:0", type=("build", "run"), when="+server")
    depends_on("py-httpx@0.27:0", type=("build", "run"), when="+server")
    depends_on("py-python-multipart@0.0.9:", type=("build", "run"), when="+server")
    # PyPI's spalloc versions carry the epoch 1! (spalloc>=1!7.0,<1!8); spack's have none
    depends_on("py-spalloc@7.0:7", type=("build", "run"), when="+spinnaker")

    # `nmcluster run/submit` call sbatch/srun/squeue when the site has Slurm and run jobs locally
    # otherwise, so Slurm is not a dependency: the frontend environment adds the system Slurm.

    def setup_run_environment(self, env):
        # pyNN.nmcluster.* names where this prefix reaches Python through PYTHONPATH (spack load,
        # spack's Tcl/Lmod modules), which processes no .pth file: the hook directory's
        # sitecustomize installs the alias finder and then runs the site's own (nmcluster/_pynn_alias.py)
        purelib = self.spec["python"].package.purelib  # nmcluster is pure Python
        env.prepend_path("PYTHONPATH", join_path(self.prefix, purelib, "nmcluster", "pynn_hook"))

    @run_after("install")
    def build_kernels(self):
        """Compile the emulators' kernels into this prefix at install time (issue 27): numba's cache and
        the ahead-of-time module, for this build host's CPU type and the generic fallback, as
        ``nmcluster admin build-kernels`` does (nmcluster/emulators/engine/build.py).  An installed
        prefix is read-only to users, so without this every user's first job compiled every kernel
        (20-30 s per emulator), once per node CPU type.  A failed build (no C compiler for the AOT
        module) warns and leaves jobs to compile into each user's cache, as before."""
        purelib = join_path(self.prefix, self.spec["python"].package.purelib)
        python = Executable(self.spec["python"].command.path)
        path = os.environ.get("PYTHONPATH", "")
        python.add_default_env("PYTHONPATH", purelib + (os.pathsep + path if path else ""))
        for cpu in ("host", "generic"):
            python("-m", "nmcluster.emulators.engine.build", "--cpu", cpu, fail_on_error=False)
            if python.returncode != 0:  # plain print: the build log keeps it (tty's home moved in Spack 1.0)
                print(f"==> Warning: nmcluster: install-time kernel build ({cpu}) failed with exit code "
                      f"{python.returncode}; jobs compile the kernels into each user's cache")

    def test_cli(self):
        """the installed nmcluster command runs and reports its version"""
        out = Executable(self.prefix.bin.nmcluster)("--version", output=str, error=str)
        assert "nmcluster, version" in out
