"""``import pysthal``: only ``pysthal.ESSConfig`` has a meaning on the wafer emulator (the ESS options
``enable_weight_distortion``, ``weight_distortion``, ``pulse_statistics_file``; see :mod:`.ess`).
Everything else of sthal configures real hardware and is refused by name."""

from typing import Any

from .ess import ESSConfig  # noqa: F401


def __getattr__(name: str) -> Any:
    raise AttributeError(f"pysthal.{name} configures the real wafer system and has no counterpart on "
                         f"the emulated wafer; available: pysthal.ESSConfig")
