"""SpiNNaker boards: inventory and sizing (:mod:`.boards`), allocation through spalloc or Slurm licences
(:mod:`.allocation`), and the hardware-or-emulator answer (:mod:`.presence`)."""
