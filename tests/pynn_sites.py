"""Test helper: the venv's site-packages as PyNN has it in a separate prefix (``spack load``, module trees):
a symlink tree without the ``pyNN/nmcluster`` portion that an install of nmcluster puts beside PyNN's files."""

from __future__ import annotations

from pathlib import Path


def site_without_portion(real_site: Path, into: Path) -> Path:
    """Symlink every entry of ``real_site`` into ``into``, and every entry of its ``pyNN`` but ``nmcluster``."""
    into.mkdir(parents=True, exist_ok=True)
    for entry in real_site.iterdir():
        if entry.name != "pyNN":
            (into / entry.name).symlink_to(entry)
    (into / "pyNN").mkdir()
    for entry in (real_site / "pyNN").iterdir():
        if entry.name != "nmcluster":
            (into / "pyNN" / entry.name).symlink_to(entry)
    return into
