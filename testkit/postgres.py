"""A throwaway PostgreSQL cluster for the tests: `initdb` and `pg_ctl` from the installed
binaries, in a temporary directory, run as an unprivileged user, listening on 127.0.0.1 only,
with a password (so that the tests go through the same authentication as an owner's server).

Outside CI a machine without PostgreSQL skips the PostgreSQL cases, saying why; with `CI=true`
a missing PostgreSQL is a failure.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

USER: Final = "hailuo"
PASSWORD: Final = "pg-test-password-not-secret"
UNPRIVILEGED: Final = ("postgres", "nobody")


def binaries() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian's layout, then the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _version(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


def unavailable() -> str | None:
    """Why a cluster cannot be started here, or None when it can."""
    if binaries() is None:
        return "PostgreSQL is not installed (initdb not found); apt-get install postgresql"
    return None


@dataclass(frozen=True, slots=True)
class Cluster:
    host: str
    port: int
    user: str
    password: str

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    async def new_database(self, prefix: str = "test") -> str:
        """A new, empty database in the cluster; its URL (the tests' and the benchmark's)."""
        import asyncpg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        admin = await asyncpg.connect(self.url("postgres"))
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()
        return self.url(name)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run_as(account: pwd.struct_passwd | None, command: list[str]) -> None:
    prefix = (
        []
        if account is None
        else ["setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--clear-groups"]
    )
    subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)


def _account() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root: the user to run it as, or None when not root."""
    if os.geteuid() != 0:
        return None
    for name in UNPRIVILEGED:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root with no unprivileged user to run PostgreSQL as")


PREFIX = "hailuo-pg-"
OWNER = "owner.pid"


def _stop_orphans(bin_dir: Path, account: pwd.struct_passwd | None) -> None:
    """Clusters left by a test run that was killed before it could stop them (its process,
    named in the cluster's folder, is gone): stopped and deleted, so they do not pile up."""
    for root in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            owner = int((root / OWNER).read_text())
        except (OSError, ValueError):
            continue  # not one of ours, or still being made
        if _alive(owner):
            continue
        if (root / "data" / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                _run_as(
                    account,
                    [str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop"],
                )
        shutil.rmtree(root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def running_cluster() -> Iterator[Cluster]:
    """Start a cluster for the duration of the block, then stop it and delete its files."""
    bin_dir = binaries()
    assert bin_dir is not None, unavailable()
    account = _account()
    _stop_orphans(bin_dir, account)
    root = Path(tempfile.mkdtemp(prefix=PREFIX))
    (root / OWNER).write_text(str(os.getpid()))
    data = root / "data"
    password_file = root / "password"
    password_file.write_text(PASSWORD)
    if account is not None:
        for path in (root, password_file):
            os.chown(path, account.pw_uid, account.pw_gid)
    port = _free_port()
    try:
        _run_as(
            account,
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                f"--pwfile={password_file}",
                "--auth-local=scram-sha-256",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-sync",
            ],
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={root} "
            "-c fsync=off -c max_connections=200 -c shared_buffers=32MB"
        )
        _run_as(
            account,
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(root / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        try:
            yield Cluster("127.0.0.1", port, USER, PASSWORD)
        finally:
            _run_as(account, [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"])
    finally:
        shutil.rmtree(root, ignore_errors=True)
