"""Make ``pyNN.nmcluster.*`` importable in Pythons that find nmcluster through PYTHONPATH.

This directory is put first on PYTHONPATH by nmcluster's job runner, its generated modulefiles and the
Spack recipe (see nmcluster/_pynn_alias.py for why the .pth file does not cover those set-ups).  Python's
``site`` module imports the first ``sitecustomize`` on sys.path at start-up; this one installs the alias
finder and then runs the ``sitecustomize`` that would have run without it (Debian's, a site's), so
nothing of the site's set-up is lost.  It must never break start-up: every failure is swallowed.
"""


def _install_alias() -> None:
    try:
        import nmcluster._pynn_alias as alias
    except ImportError:  # a Python without nmcluster (another interpreter sharing the environment)
        return
    alias.install()


def _chain() -> None:
    """Run the next sitecustomize on sys.path, as if this one were not there."""
    import importlib.machinery
    import importlib.util
    import os
    import sys

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None or os.path.abspath(spec.origin or "") == os.path.abspath(__file__):
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["_nmcluster_chained_sitecustomize"] = module
    spec.loader.exec_module(module)


try:
    _install_alias()
    _chain()
except Exception:  # noqa: BLE001 - start-up of every Python in the environment must not fail here
    pass
