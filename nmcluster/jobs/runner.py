"""Old entry point of the job runner, kept for job directories queued before it moved to
:mod:`nmcluster.executors.runner` (their ``job.sbatch`` runs ``python -m nmcluster.jobs.runner batch DIR``)."""

import sys

from nmcluster.executors.runner import main

if __name__ == "__main__":
    sys.exit(main())
