"""The sPyNNaker corpus: ordinary scripts written for SpiNNaker (tests/emulators/spinnaker_corpus)
run through the real sPyNNaker 7.4.1 (the oracle, in virtual-board mode, in a virtual environment
of its own) and through the emulator.  Whatever the oracle accepts the emulator runs; what it
refuses the emulator refuses, for the same reason.

Each script's first line says what the oracle does with it: ``# accepts: <feature>`` or
``# refuses: <words of the reason>``.  The emulator is checked against that line always; the
oracle is checked against it where it is installed (``scripts/test`` installs it into
``.oracle-venv``; elsewhere ``$NMCLUSTER_SPYNNAKER_ORACLE`` may name its python) — without it
those tests skip, saying why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).with_name("spinnaker_corpus")
SCRIPTS = sorted(CORPUS.glob("*.py"))

# the emulator stands in for pyNN.spiNNaker and sPyNNaker's neo_convertor module, in this
# subprocess only (so the scripts run unchanged)
BOOT = """
import runpy, sys, types
import pyNN
import pyNN.nmcluster.spinnaker as emu
sys.modules["pyNN.spiNNaker"] = emu
pyNN.spiNNaker = emu
for name in ("spynnaker", "spynnaker.pyNN", "spynnaker.pyNN.utilities"):
    sys.modules.setdefault(name, types.ModuleType(name))
sys.modules["spynnaker.pyNN.utilities"].neo_convertor = emu.neo_convertor
sys.modules["spynnaker.pyNN.utilities.neo_convertor"] = emu.neo_convertor
sys.argv = [sys.argv[1]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _expect(script: Path) -> tuple[bool, str]:
    head = script.read_text().splitlines()[0]
    kind, _, words = head.lstrip("# ").partition(":")
    assert kind in ("accepts", "refuses"), f"{script.name}: first line must say accepts/refuses"
    return kind == "accepts", words.strip()


def _oracle_python() -> Path | None:
    env = os.environ.get("NMCLUSTER_SPYNNAKER_ORACLE", "")
    cand = Path(env) if env else ROOT / ".oracle-venv" / "bin" / "python"
    return cand if cand.exists() else None


def _run(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def oracle_results(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    py = _oracle_python()
    if py is None:
        pytest.skip("the sPyNNaker oracle is not installed (scripts/test installs spynnaker "
                    "1!7.4.1 into .oracle-venv; or set NMCLUSTER_SPYNNAKER_ORACLE)")
    home = tmp_path_factory.mktemp("oracle-home")
    (home / ".spynnaker.cfg").write_text("[Machine]\nvirtual_board = True\nversion = 5\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["HOME"] = str(home)
    setup = _run([str(py), "-m", "spynnaker.pyNN.setup_pynn"], home, env)
    if setup.returncode != 0:
        pytest.skip(f"the sPyNNaker oracle does not start: {setup.stderr.strip()[-300:]}")

    def one(script: Path):
        cwd = tmp_path_factory.mktemp("oracle-run")
        return script.name, _run([str(py), str(script)], cwd, env)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, SCRIPTS))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_oracle_does_what_the_script_says(script, oracle_results):
    accepts, words = _expect(script)
    res = oracle_results[script.name]
    if accepts:
        assert res.returncode == 0, res.stderr[-2000:]
    else:
        assert res.returncode != 0 and words.lower() in res.stderr.lower(), res.stderr[-2000:]


@pytest.fixture(scope="module")
def emulator_results(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Every corpus script on the emulator, each in a fresh interpreter (two at a time)."""

    def one(script: Path):
        cwd = tmp_path_factory.mktemp("emulator-run")
        env = dict(os.environ, HOME=str(cwd),
                   PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        return script.name, _run([sys.executable, "-c", BOOT, str(script)], cwd, env)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(one, SCRIPTS))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_emulator_does_what_the_oracle_does(script, emulator_results):
    accepts, words = _expect(script)
    res = emulator_results[script.name]
    if accepts:
        assert res.returncode == 0, res.stderr[-3000:]
    else:
        assert res.returncode != 0, res.stdout[-1000:]
        assert words.lower() in res.stderr.lower(), res.stderr[-2000:]
        # an error naming the feature, not an internal failure
        assert "SpinnakerConfigError" in res.stderr or "SpinnakerUnsupported" in res.stderr, \
            res.stderr[-2000:]
