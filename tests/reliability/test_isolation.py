"""Isolation between users, with two real Unix users created by the test (``useradd``) and nmcluster run as
them (``runuser``): job directories are 0700 and owned by the submitting user; through nmcluster one
user can neither read, cancel nor remove another user's job, neither with the per-user default job root
(``~/.local/share/nmcluster/jobs``), nor with a shared site job root using ``{user}``; a shared job root
without ``{user}`` (a misconfiguration) is refused with a clear error instead of mixing users' records.
The users, their homes and their processes are removed afterwards."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import reliability_harness as harness

pytestmark = pytest.mark.reliability


def _can_run(python: str, user: str = "nobody") -> bool:
    try:
        return subprocess.run(["runuser", "-u", user, "--", python, "-c", "import nmcluster.cli.main"],
                              capture_output=True, cwd="/", timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def public_python():
    """An interpreter with nmcluster that other users may run.  This one, when they can (a venv in a
    world-readable place); else a venv made from the system python3 of the same version that reuses this
    environment's packages (here the venv's interpreter lives under root's 0700 home)."""
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("runuser"):
        pytest.skip("needs root, useradd and runuser")
    if _can_run(sys.executable):
        yield sys.executable
        return
    import site
    import sysconfig

    base = shutil.which("python3", path="/usr/bin:/usr/local/bin")
    version = subprocess.run([base or "false", "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True).stdout.strip()
    if not base or version != str(sys.version_info[:2]):
        pytest.skip(f"no interpreter other users can run (system python3 {version or 'missing'})")
    venv = Path(tempfile.mkdtemp(prefix="nmcluster-pubpy-", dir="/tmp"))
    os.chmod(venv, 0o755)
    try:
        subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True)
        purelib = subprocess.run([str(venv / "bin" / "python"), "-c",
                                  "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        dirs = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
        Path(purelib, "nmcluster-test-reuse.pth").write_text(
            "import site; " + "; ".join(f"site.addsitedir({d!r})" for d in dict.fromkeys(dirs)) + "\n")
        python = str(venv / "bin" / "python")
        if not _can_run(python):
            pytest.skip("could not make an interpreter other users can run")
        yield python
    finally:
        shutil.rmtree(venv, ignore_errors=True)


class User:
    def __init__(self, name: str, home: Path, python: str) -> None:
        self.name, self.home, self.python = name, home, python
        pw = pwd.getpwnam(name)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid

    def env(self, **extra: str) -> dict[str, str]:
        env = {"HOME": str(self.home), "USER": self.name, "LOGNAME": self.name, "PATH": "/usr/bin:/bin",
               "NMCLUSTER_QUIET": "1", "LANG": "C.UTF-8",
               # the checkout under test, not whichever one the interpreter's editable install names
               "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        env.update(extra)
        return env

    def run(self, *argv: str, env: dict[str, str] | None = None, timeout: float = 120):
        """A command as this user (``runuser``), with a clean environment."""
        return subprocess.run(["runuser", "-u", self.name, "--", "env", "-i",
                               *[f"{k}={v}" for k, v in (env or self.env()).items()], *argv],
                              capture_output=True, text=True, cwd=str(self.home), timeout=timeout)

    def nmcluster(self, *args: str, env: dict[str, str] | None = None, timeout: float = 120):
        return self.run(self.python, "-m", "nmcluster.cli.main", *args, env=env, timeout=timeout)


def _remove_user(name: str, home: Path) -> None:
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    for entry in Path("/proc").iterdir():  # processes the test started as this user, by pid
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    os.kill(int(entry.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass
    subprocess.run(["userdel", "-r", name], capture_output=True)
    shutil.rmtree(home, ignore_errors=True)


def add_users(made: list[User], prefix: str, base: Path, python: str, who: tuple[str, ...] = ("a", "b")) -> None:
    """Create real Unix users ``<prefix><who><pid>`` with homes under ``base`` (appended to ``made`` as they
    are created, so the caller removes whatever exists even when a later one fails)."""
    tag = f"{os.getpid() % 100000}"
    for w in who:
        name, home = f"{prefix}{w}{tag}", base / f"home-{w}"
        proc = subprocess.run(["useradd", "-m", "-d", str(home), "-s", "/bin/sh", name], capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"useradd failed: {proc.stderr.strip()}")
        made.append(User(name, home, python))


@pytest.fixture(scope="module")
def users(public_python):
    base = Path(tempfile.mkdtemp(prefix="nmcluster-users-", dir="/tmp"))
    os.chmod(base, 0o755)
    made: list[User] = []
    try:
        add_users(made, "nmrel", base, public_python)
        shared = base / "shared"
        shared.mkdir()
        exp = harness.make_experiment(shared / "exp")
        os.chmod(shared, 0o755)
        yield made[0], made[1], exp, base
    finally:
        for u in made:
            _remove_user(u.name, u.home)
        shutil.rmtree(base, ignore_errors=True)


def _site_file(base: Path, name: str, text: str) -> Path:
    path = base / name
    path.write_text(text)
    os.chmod(path, 0o644)
    return path


def _submit(user: User, exp: Path, env: dict[str, str], *args: str) -> int:
    proc = user.nmcluster("submit", str(exp), "-p", "spikey", "-c", "main.py", *args, env=env)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout)


def _wait(user: User, job: int, env: dict[str, str]) -> dict:
    rec = harness.wait_until(lambda: (lambda r: r if r["status"] in harness.FINAL else None)(
        json.loads(user.nmcluster("status", str(job), "--json", env=env).stdout)), 90, 0.3, f"job {job}")
    return rec


def _assert_private(user: User, job_dir: Path) -> None:
    for path in (job_dir, job_dir.parent):
        st = path.stat()
        assert st.st_uid == user.uid, f"{path} owned by uid {st.st_uid}, not {user.name}"
        assert st.st_mode & 0o777 == 0o700, f"{path} has mode {oct(st.st_mode & 0o777)}"


def _assert_cannot_touch(other: User, owner: User, job: int, job_dir: Path, env: dict[str, str],
                         owner_env: dict[str, str], tmp: Path) -> None:
    """Through nmcluster (and directly) ``other`` can do nothing to ``owner``'s job."""
    for args in (("status", str(job)), ("log", str(job)), ("results", str(job), "-o", str(other.home / "r")),
                 ("cancel", str(job)), ("remove", str(job)), ("remove", "--queued", str(job))):
        proc = other.nmcluster(*args, env=env)
        assert proc.returncode == 2 and f"no job {job}" in proc.stderr, (args, proc.returncode, proc.stderr)
        assert "Traceback" not in proc.stderr
    listed = json.loads(other.nmcluster("list", "--all", "--json", env=env).stdout)
    assert job not in [r["id"] for r in listed]
    direct = other.run("cat", str(job_dir / "job.log"))
    assert direct.returncode != 0 and "Permission denied" in direct.stderr
    assert not (other.home / "r").exists() or not any((other.home / "r").iterdir())
    # the owner's job is untouched
    rec = json.loads(owner.nmcluster("status", str(job), "--json", env=owner_env).stdout)
    assert rec["id"] == job and Path(rec["job_dir"]).is_dir()


def test_default_per_user_job_roots(users):
    alice, bob, exp, base = users
    conf = _site_file(base, "local.toml", 'executor = "local"\n')  # job root: the built-in default
    env_a, env_b = alice.env(NMCLUSTER_CONFIG=str(conf)), bob.env(NMCLUSTER_CONFIG=str(conf))
    job = _submit(alice, exp, env_a, "--station", "500")
    rec = _wait(alice, job, env_a)
    assert rec["status"] == "finished", rec
    job_dir = Path(rec["job_dir"])
    assert job_dir.parent == alice.home / ".local" / "share" / "nmcluster" / "jobs"
    _assert_private(alice, job_dir)
    assert all(p.stat().st_uid == alice.uid for p in job_dir.rglob("*"))
    _assert_cannot_touch(bob, alice, job, job_dir, env_b, env_a, base)
    # ids are per user: bob's first job is his own job 1, in his own root; alice's job 1 stays hers
    bob_job = _submit(bob, exp, env_b)
    assert bob_job == job and _wait(bob, bob_job, env_b)["job_dir"].startswith(str(bob.home))
    assert bob.nmcluster("remove", str(bob_job), env=env_b).returncode == 0
    assert job_dir.is_dir() and _wait(alice, job, env_a)["job_dir"] == str(job_dir)
    # pointing his config at alice's job root gets bob a clear error, not her records
    sneaky = _site_file(base, "sneaky.toml", f'executor = "local"\njob_root = "{job_dir.parent}"\n')
    for args in (("list", "--all"), ("status", str(job)), ("cancel", str(job)), ("remove", str(job))):
        proc = bob.nmcluster(*args, env=bob.env(NMCLUSTER_CONFIG=str(sneaky)))
        problem = harness.clean_error(proc, 2, "job root")
        assert problem is None, (args, problem)
    assert _wait(alice, job, env_a)["status"] == "finished"


@pytest.mark.slurm
def test_shared_site_job_root_with_user(users, rel_cluster):
    """A site job root on shared storage with ``{user}``; alice's job goes through the multi-node Slurm
    cluster and runs as alice."""
    alice, bob, exp, base = users
    shared = base / "scratch"
    shared.mkdir(exist_ok=True)
    os.chmod(shared, 0o1777)
    conf = _site_file(base, "shared.toml", f'executor = "slurm"\njob_root = "{shared}/{{user}}"\n'
                                           f'[slurm]\njobcomp_file = "{rel_cluster.jobcomp}"\n')
    env_a = alice.env(NMCLUSTER_CONFIG=str(conf), SLURM_CONF=str(rel_cluster.conf))
    env_b = bob.env(NMCLUSTER_CONFIG=str(conf), SLURM_CONF=str(rel_cluster.conf))
    job = _submit(alice, exp, env_a, "--station", "501", "--tag", "alice")
    rec = _wait(alice, job, env_a)
    assert rec["status"] == "finished", (rec, alice.nmcluster("log", str(job), env=env_a).stdout)
    job_dir = Path(rec["job_dir"])
    assert job_dir.parent == shared / alice.name
    _assert_private(alice, job_dir)
    times = json.loads((job_dir / "work" / "times.json").read_text())
    assert times["station"] == "station501"
    assert all(p.stat().st_uid == alice.uid for p in job_dir.rglob("*")), "the job did not run as alice"
    _assert_cannot_touch(bob, alice, job, job_dir, env_b, env_a, base)
    # and a queued job of alice cannot be cancelled by bob through nmcluster either
    held = _submit(alice, exp, env_a, "--slurm-opt=--hold")
    proc = bob.nmcluster("cancel", str(held), env=env_b)
    assert proc.returncode == 2 and f"no job {held}" in proc.stderr
    assert json.loads(alice.nmcluster("status", str(held), "--json", env=env_a).stdout)["status"] == "submitted"
    assert alice.nmcluster("cancel", str(held), env=env_a).returncode == 0
    assert _wait(alice, held, env_a)["status"] == "error"


def test_shared_job_root_without_user_is_refused(users):
    """A misconfigured site: one job root for everybody.  The first user's root stays hers; the second
    user is told what to fix instead of reading (or failing to write) her store."""
    alice, bob, exp, base = users
    common = base / "common"
    common.mkdir(exist_ok=True)
    os.chmod(common, 0o1777)
    conf = _site_file(base, "common.toml", f'executor = "local"\njob_root = "{common}/jobs"\n')
    env_a, env_b = alice.env(NMCLUSTER_CONFIG=str(conf)), bob.env(NMCLUSTER_CONFIG=str(conf))
    job = _submit(alice, exp, env_a)
    assert _wait(alice, job, env_a)["status"] == "finished"
    for args in (("submit", str(exp), "-p", "spikey", "-c", "main.py"), ("list", "--all"), ("status", str(job))):
        proc = bob.nmcluster(*args, env=env_b)
        problem = harness.clean_error(proc, 2, "belongs to")
        assert problem is None, (args, problem)
        assert "{user}" in proc.stderr
    assert sorted(p.name for p in (common / "jobs").iterdir() if not p.name.startswith("jobs.sqlite")) == [str(job)]


# ------------------------------------------------------------------------- identity and job-root safety
def test_user_variable_does_not_change_identity(users):
    """$USER is the user's to set; the record and the job root follow the real uid."""
    alice, bob, exp, base = users
    conf = _site_file(base, "ident.toml", f'executor = "local"\njob_root = "{base}/ident/{{user}}"\n')
    (base / "ident").mkdir(exist_ok=True)
    os.chmod(base / "ident", 0o1777)
    env = alice.env(NMCLUSTER_CONFIG=str(conf), USER=bob.name, LOGNAME=bob.name)
    job = _submit(alice, exp, env)
    rec = _wait(alice, job, env)
    assert rec["user"] == alice.name
    assert Path(rec["job_dir"]).parent == base / "ident" / alice.name
    assert not (base / "ident" / bob.name).exists()
    info = json.loads(alice.nmcluster("info", "--json", env=env).stdout)
    assert info["user"] == alice.name


def test_planted_job_root_link_is_refused(users):
    """Bob plants <scratch>/alice -> a directory of his; alice's commands refuse it and write nothing."""
    alice, bob, exp, base = users
    scratch = base / "scratch-link"
    scratch.mkdir(exist_ok=True)
    os.chmod(scratch, 0o1777)
    trap = bob.home / "trap"
    assert bob.run("mkdir", "-m", "0777", str(trap)).returncode == 0
    assert bob.run("ln", "-s", str(trap), str(scratch / alice.name)).returncode == 0
    conf = _site_file(base, "link.toml", f'executor = "local"\njob_root = "{scratch}/{{user}}"\n')
    env = alice.env(NMCLUSTER_CONFIG=str(conf))
    for args in (("submit", str(exp), "-p", "spikey", "-c", "main.py"), ("list", "--all")):
        proc = alice.nmcluster(*args, env=env)
        problem = harness.clean_error(proc, 2, "symbolic link")
        assert problem is None, (args, problem)
    assert list(trap.iterdir()) == [], "alice wrote into bob's directory"


def test_job_root_writable_by_others_is_refused(users):
    alice, bob, exp, base = users
    conf = _site_file(base, "open.toml", f'executor = "local"\njob_root = "{alice.home}/openjobs"\n')
    env = alice.env(NMCLUSTER_CONFIG=str(conf))
    assert alice.run("mkdir", "-m", "0777", str(alice.home / "openjobs")).returncode == 0
    assert alice.run("chmod", "0777", str(alice.home / "openjobs")).returncode == 0
    proc = alice.nmcluster("submit", str(exp), "-p", "spikey", "-c", "main.py", env=env)
    assert harness.clean_error(proc, 2, "writable by others") is None, proc.stderr
    assert list((alice.home / "openjobs").iterdir()) == []
    # fixed as the message says, it works, and the store is private
    assert alice.run("chmod", "go-w", str(alice.home / "openjobs")).returncode == 0
    job = _submit(alice, exp, env)
    assert _wait(alice, job, env)["status"] == "finished"
    assert (alice.home / "openjobs" / "jobs.sqlite").stat().st_mode & 0o777 == 0o600


def test_shared_job_root_setting(users):
    """``shared_job_root = true``: a root-owned sticky directory with one private directory per user."""
    alice, bob, exp, base = users
    shared = base / "site-shared"
    shared.mkdir(exist_ok=True)
    os.chmod(shared, 0o1777)
    conf = _site_file(base, "sharedset.toml", f'executor = "local"\njob_root = "{shared}"\n'
                                               f'shared_job_root = true\n')
    env_a, env_b = alice.env(NMCLUSTER_CONFIG=str(conf)), bob.env(NMCLUSTER_CONFIG=str(conf))
    job = _submit(alice, exp, env_a)
    rec = _wait(alice, job, env_a)
    assert rec["status"] == "finished" and Path(rec["job_dir"]).parent == shared / alice.name
    _assert_private(alice, Path(rec["job_dir"]))
    assert (shared / alice.name / "jobs.sqlite").stat().st_mode & 0o777 == 0o600
    _assert_cannot_touch(bob, alice, job, Path(rec["job_dir"]), env_b, env_a, base)
    # the same directory without the sticky bit, or owned by a user, is refused for everyone
    os.chmod(shared, 0o777)
    proc = alice.nmcluster("list", "--all", env=env_a)
    assert harness.clean_error(proc, 2, "sticky") is None, proc.stderr
    os.chmod(shared, 0o1777)
    os.chown(shared, bob.uid, bob.gid)
    proc = alice.nmcluster("list", "--all", env=env_a)
    assert harness.clean_error(proc, 2, "not to root") is None, proc.stderr
    os.chown(shared, 0, 0)
    assert alice.nmcluster("list", "--all", env=env_a).returncode == 0


def test_relative_job_root_is_refused(users):
    alice, bob, exp, base = users
    conf = _site_file(base, "rel.toml", 'executor = "local"\njob_root = "jobs/{user}"\n')
    proc = alice.nmcluster("list", env=alice.env(NMCLUSTER_CONFIG=str(conf)))
    assert harness.clean_error(proc, 2, "absolute path") is None, proc.stderr
    assert not (alice.home / "jobs").exists()
