"""Collabs, quotas and resource requests on Slurm's accounting database (slurmdbd + MariaDB).

``slurmdb`` is the adapter over ``sacctmgr``/``sacct``; ``quotas`` the library the CLI, the client and the
job service use; ``requests`` the site's resource-request files; ``slurmconf`` the ``slurm.conf`` lines.
"""
