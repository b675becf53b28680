# Copyright nmcluster developers.
#
# SPDX-License-Identifier: GPL-3.0-or-later

from spack_repo.builtin.build_systems.bundle import BundlePackage

from spack.package import *


class NmclusterDefaults(BundlePackage):
    """What the users of a neuromorphic cluster's frontend need: nmcluster plus the extras of
    each hardware platform the site runs.

    spack load --dependencies nmcluster-defaults   (or the frontend environment's view), then
    module load nmcluster spikey/station500        (modulefiles: nmcluster admin install-modules)
    """

    homepage = "https://pypi.org/project/nmcluster/"

    license("GPL-3.0-or-later")

    # One bundle version per nmcluster version.
    version("main")
    version("0.1.0")

    variant("spikey", default=True,
            description="Spikey USB stations: libusb for the station software, NEST as the "
            "emulator fallback, matplotlib for the example scripts")
    variant("wafer", default=True,
            description="BrainScaleS wafer modules (and the ESS emulation): NEST as the emulator "
            "fallback, matplotlib for the example scripts")
    variant("spinnaker", default=True,
            description="SpiNNaker boards: NEST as the emulator fallback")
    variant("ssh", default=False,
            description="Submit from machines outside the cluster over SSH (paramiko)")
    variant("slurm", default=True,
            description="The Slurm client commands (use the system Slurm as an external: the "
            "controller's version)")

    conflicts("~spikey~wafer~spinnaker", msg="enable at least one of +spikey, +wafer, +spinnaker")

    depends_on("py-nmcluster@main", type="run", when="@main")
    depends_on("py-nmcluster@0.1.0", type="run", when="@0.1.0")
    depends_on("py-nmcluster+ssh", type="run", when="+ssh")

    # The site config's default partitions fall back to NEST when a platform's own emulator cannot
    # be imported, and the guidebook's example scripts plot with matplotlib.
    depends_on("py-nmcluster+nest+plot", type="run", when="+spikey")
    depends_on("py-nmcluster+nest+plot", type="run", when="+wafer")
    depends_on("py-nmcluster+nest", type="run", when="+spinnaker")
    # The vendor's Spikey station software opens the chips through libusb-1.0 (usually the
    # system's: see environments/frontend/spack.yaml).
    depends_on("libusb", type="run", when="+spikey")
    depends_on("slurm", type="run", when="+slurm")

    def setup_run_environment(self, env):
        # A frontend serving one platform gets it as the default partition of nmcluster run/submit
        # (the hardware modulefiles do the same per platform: module load spikey/station500).
        enabled = [p for p in ("spikey", "wafer", "spinnaker") if self.spec.satisfies(f"+{p}")]
        if len(enabled) == 1:
            env.set("NMCLUSTER_PARTITION", enabled[0])
