"""``import pylogging``: the BrainScaleS software's log configuration, on Python's logging.

Names the guidebook uses: ``reset()``, ``default_config(level=, fname=, dual=)``,
``get(domain)``, ``set_loglevel(logger, level)``, ``LogLevel.{ALL,TRACE,DEBUG,INFO,WARN,ERROR,
FATAL}``.  The domains of the hardware stack (``marocco``, ``Calibtic``, ``sthal``, ``halbe``,
``hicann-system``, ``PyN``) are the wafer emulator's loggers, so setting their level governs the
emulator's mapping/calibration messages; other domains are plain named loggers.  Follows the API
of github electronicvisions/logger ``pylogging`` (``default_config``, ``set_loglevel``, ``get``).
"""

from __future__ import annotations

import logging
import sys


class LogLevel:
    ALL = logging.NOTSET
    TRACE = 5
    DEBUG = logging.DEBUG
    INFO = logging.INFO
    WARN = logging.WARNING
    ERROR = logging.ERROR
    FATAL = logging.CRITICAL


#: hardware-stack domains -> the emulator logger that stands for them
DOMAINS = {"marocco": "nmcluster.emulators.brainscales",
           "calibtic": "nmcluster.emulators.brainscales",
           "sthal": "nmcluster.emulators.brainscales",
           "halbe": "nmcluster.emulators.brainscales",
           "hicann-system": "nmcluster.emulators.brainscales",
           "pyn": "nmcluster.emulators",
           "pyn.cfg": "nmcluster.emulators.spikey"}
_MARK = "_nmcluster_pylogging"


def get(domain: str) -> logging.Logger:
    """The logger of ``domain``."""
    return logging.getLogger(DOMAINS.get(domain.lower(), domain))


def set_loglevel(logger: logging.Logger, level: int) -> None:
    logger.setLevel(level)


def reset() -> None:
    """Remove the handlers :func:`default_config` installed."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, _MARK, False):
            root.removeHandler(h)
            h.close()


def default_config(level: int = LogLevel.WARN, fname: str = "", print_location: bool = False,
                   color: bool = False, date_format: str = "NULL", dual: bool = False) -> None:
    """Log at ``level`` and above to ``fname`` (and also to stderr when ``dual``), else to
    stderr."""
    reset()
    root = logging.getLogger()
    fmt = logging.Formatter("%(levelname)-5s %(name)s %(message)s"
                            + (" (%(pathname)s:%(lineno)d)" if print_location else ""))
    handlers: list[logging.Handler] = []
    if fname:
        handlers.append(logging.FileHandler(fname))
    if dual or not fname:
        handlers.append(logging.StreamHandler(sys.stderr))
    for h in handlers:
        setattr(h, _MARK, True)
        h.setFormatter(fmt)
        root.addHandler(h)
    root.setLevel(level)
