"""Compatibility shims for code written against other tools.

``nmcluster/compat/nmpi`` is a stand-in for the platform's ``nmpi`` client package.  It is importable as
``nmpi`` only when :data:`COMPAT_PATH` is on ``sys.path`` — an explicit opt-in (``eval "$(nmcluster
shell-env)"`` or ``PYTHONPATH=$(python -c 'import nmcluster.compat as c; print(c.COMPAT_PATH)')``), so a
real ``nmpi`` installation is never shadowed behind the user's back.
"""

from __future__ import annotations

from pathlib import Path

#: the directory to put on PYTHONPATH so that ``import nmpi`` gives nmcluster's client
COMPAT_PATH = Path(__file__).resolve().parent
