"""``python -m nmcluster.benchmarks.task --index URL --pip PKG ... -- script.py args``: a benchmark task
that needs extra packages (``config.<platform>.extra_pip_installs`` in ``benchmarks.json``).

The packages go into the job's own directory (``./.pydeps``, never the shared installation or the user's
home) from the one index the site allows (``[benchmarks] pip_index``), then the script runs with them on
``sys.path`` in this interpreter (the one with the emulator backends), as ``python script.py args`` would.
"""

from __future__ import annotations

import argparse
import runpy
import subprocess
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nmcluster.benchmarks.task")
    parser.add_argument("--index", required=True, help="the only package index to use")
    parser.add_argument("--pip", action="append", default=[], metavar="REQUIREMENT")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no script to run after --")
    target = Path(".pydeps").resolve()
    if args.pip:
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               "--no-input", "--isolated", "--index-url", args.index, "--target", str(target),
                               "--", *args.pip], stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            print(f"nmcluster: extra_pip_installs failed: pip could not install {' '.join(args.pip)} from "
                  f"{args.index}", file=sys.stderr)
            return 3
        sys.path.insert(0, str(target))
    script, *rest = command
    if script in ("python", "python3"):
        script, *rest = rest
    sys.argv = [script, *rest]
    sys.path.insert(0, str(Path(script).resolve().parent))
    runpy.run_path(script, run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
