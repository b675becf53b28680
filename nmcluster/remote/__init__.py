"""Remote use over SSH: ``nmcluster --host user@frontend ...`` and ``Client(host="user@frontend")``.

:mod:`.ssh` makes one verified paramiko connection (host keys checked against ``known_hosts``, keys from
the agent or ``~/.ssh/config``); :mod:`.remote` has :class:`~nmcluster.remote.remote.RemoteService`, which
has the methods of :class:`~nmcluster.jobs.service.JobService` and carries them out by running the
frontend's own ``nmcluster`` in a login shell, staging code and inputs with SFTP first.

paramiko is imported only here, so commands without ``--host`` never pay for it.
"""
