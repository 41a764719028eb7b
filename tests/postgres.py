"""A throwaway PostgreSQL cluster for the tests: ``initdb`` and ``pg_ctl`` under a temporary
directory, listening on a loopback port only, removed when the test session ends.

The binaries come from Debian's ``postgresql`` package (``/usr/lib/postgresql/*/bin``) or the
PATH; without them (or without the psycopg driver) the PostgreSQL tests skip. PostgreSQL
refuses to run as root: as root the cluster belongs to the ``postgres`` user (``runuser``).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

INITDB = ["--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"]


def binaries() -> Path | None:
    """The directory holding initdb and pg_ctl, newest version first; None when absent."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def unavailable() -> str | None:
    """Why a cluster cannot be started here, or None."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    if binaries() is None:
        return "PostgreSQL is not installed (apt-get install postgresql)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: cannot start PostgreSQL as another user"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Cluster:
    host: str
    port: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(
            host=self.host, port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return self.url(name)


@contextmanager
def cluster() -> Iterator[Cluster]:
    bindir = binaries()
    assert bindir is not None
    root = Path(tempfile.mkdtemp(prefix="hee-pg-"))
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    if as_root:
        shutil.chown(root, "postgres")
    data = root / "data"
    port = _free_port()
    start = ["-l", str(root / "log"), "-w", "-t", "60", "start"]
    run = {"check": True, "capture_output": True, "cwd": root}
    try:
        subprocess.run(
            [*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", *INITDB],
            **run,  # type: ignore[arg-type]
        )
        options = (
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, *start],
            **run,  # type: ignore[arg-type]
        )
        try:
            yield Cluster("127.0.0.1", port)
        finally:
            subprocess.run(
                [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                cwd=root,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
