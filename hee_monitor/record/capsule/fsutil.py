"""Crash-safe file writes and an inter-process lock.

A capsule file is always either the old complete version or the new complete version:
write a temporary file in the same directory, fsync it, rename it over the target (atomic
on POSIX), then fsync the directory so the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hee_monitor.record.capsule.errors import CapsuleStorageError


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise CapsuleStorageError(
            f"cannot write in {directory}: {exc.strerror}",
            hint="check that the directory exists and is writable",
        ) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        fsync_dir(directory)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise CapsuleStorageError(f"cannot write {path}: {exc.strerror}") from exc


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_exclusive(path: Path, data: bytes, *, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start; fail if it exists (never overwrite)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise CapsuleStorageError(
            f"{path} already exists; refusing to overwrite it",
            hint="choose another --out name, or move the existing key away first",
        ) from exc
    except OSError as exc:
        raise CapsuleStorageError(f"cannot create {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(path.parent)


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (created if missing) for the block.

    The OS releases it when the process dies, so a killed updater never leaves it stuck.
    """
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise CapsuleStorageError(f"cannot open lock file {lock_path}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_bytes(path: Path, what: str = "capsule") -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise CapsuleStorageError(
            f"{what} {path} does not exist",
            hint="create one with `hee-monitor capsule generate --repository OWNER/REPO`",
        ) from exc
    except OSError as exc:
        raise CapsuleStorageError(f"cannot read {what} {path}: {exc.strerror}") from exc
