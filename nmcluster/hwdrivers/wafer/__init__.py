"""BrainScaleS wafer resources: geometry (:mod:`.geometry`), FPGA licences (:mod:`.licenses`), defects and
blacklists (:mod:`.defects`), and the hardware-or-emulator answer (:mod:`.presence`)."""
