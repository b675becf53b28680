"""Spikey USB stations: discovery through sysfs (:mod:`.discovery`), device-node access and the udev rule
(:mod:`.access`), the station registry and its import from ``stationNNN.cfg`` / ``workstations.xml``
(:mod:`.stations`), exclusive use outside Slurm (:mod:`.locks`) and the hardware-or-emulator answer
(:mod:`.presence`).  Standard library only, so the job runner can ask cheaply."""

#: the Slurm GRES a Spikey station is claimed through (``--gres=station:s500:1``)
STATION_GRES = "station"
