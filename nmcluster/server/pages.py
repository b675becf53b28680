"""Job Manager pages (filled in below)."""
from __future__ import annotations


def add_pages(app, state, submit) -> None:
    return None
