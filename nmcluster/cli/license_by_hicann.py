"""``license_by_hicann W H [H ...]``: print the Slurm licence(s) of the FPGA(s) serving HICANNs.

Kept so that the original site's idiom ``srun -L $(license_by_hicann 33 367)`` keeps working.
Several HICANNs print one comma-separated licence list (duplicates removed), ready for ``-L``.
"""

from __future__ import annotations

import sys

from nmcluster.hwdrivers.wafer import geometry

USAGE = "usage: license_by_hicann WAFER HICANN [HICANN ...]   e.g. license_by_hicann 33 367 -> W33F34"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if len(args) < 2:
        print(f"license_by_hicann: error: {USAGE}", file=sys.stderr)
        return 2
    try:
        wafer = int(args[0])
        hicanns = [int(a) for part in args[1:] for a in part.split(",") if a]
        licences = dict.fromkeys(geometry.license_by_hicann(wafer, h) for h in hicanns)
    except ValueError as exc:
        msg = str(exc) if "range" in str(exc) else f"wafer and HICANN must be integers ({exc})"
        print(f"license_by_hicann: error: {msg}", file=sys.stderr)
        return 2
    print(",".join(licences))
    return 0


if __name__ == "__main__":
    sys.exit(main())
