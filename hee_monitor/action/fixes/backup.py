"""Byte-for-byte backup of a work tree, a crash-safe journal, and restore.

A backup is a snapshot commit of the *whole* work tree (tracked, untracked and ignored
files, symlinks, the executable bit), built in a private index file so the user's index is
untouched, kept alive by ``refs/hee/backup/<id>``; next to it a manifest JSON records every
file's permission bits (git keeps only the executable bit). Restore hashes the tree again
(fast: the private index's stat cache skips unchanged files), diffs the two trees, deletes
what appeared, writes back what changed or vanished, and resets permission bits.

Git stores a file through the conversions its attributes ask for (``text``/``eol`` line
endings, ``filter`` clean/smudge, ``working-tree-encoding``, ``ident``), and checking it
out converts it back, which need not give the same bytes (a CRLF file under ``text
eol=lf`` comes back with LF). So a file whose stored blob differs from its raw bytes is
also copied as it is into the snapshot's directory, and restore compares and writes those
bytes themselves: a fix that only changed line endings, invisible to git, is undone too.

The journal (``<git dir>/hee/journal/<id>.json``) is fsync'd before a strategy touches a
file and removed when the fix is settled; a journal left behind means a process died
mid-fix, and :func:`recover` restores its snapshot.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hee_monitor.action.fixes.git import Git
from hee_monitor.core.errors import FixError

BACKUP_REF_PREFIX = "refs/hee/backup/"


@dataclass(frozen=True)
class Snapshot:
    id: str
    commit: str
    tree: str
    ref: str
    #: private directory holding the snapshot's index and manifest
    directory: Path
    #: repository paths left out (hee-monitor's own state: the audit store, capsules)
    excludes: tuple[str, ...] = ()

    @property
    def index(self) -> Path:
        return self.directory / "index"

    @property
    def manifest(self) -> Path:
        return self.directory / "manifest.json"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "commit": self.commit,
            "tree": self.tree,
            "ref": self.ref,
            "directory": str(self.directory),
            "excludes": list(self.excludes),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Snapshot:
        return cls(
            id=str(data["id"]),
            commit=str(data["commit"]),
            tree=str(data["tree"]),
            ref=str(data["ref"]),
            directory=Path(data["directory"]),
            excludes=tuple(data.get("excludes", ())),
        )


@dataclass(frozen=True)
class RestoreReport:
    deleted: tuple[str, ...]
    restored: tuple[str, ...]
    modes_reset: tuple[str, ...]
    seconds: float


def state_dir(git: Git) -> Path:
    path = git.git_dir() / "hee"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write, fsync the file, rename into place, fsync the directory."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _file_modes(repo: Path, git: Git, index: Path) -> dict[str, int]:
    raw = git.run("ls-files", "-z", index=index).stdout.decode("utf-8", "surrogateescape")
    modes: dict[str, int] = {}
    for name in raw.split("\0"):
        if not name:
            continue
        try:
            st = os.lstat(repo / name)
        except FileNotFoundError:
            continue
        if not stat.S_ISLNK(st.st_mode):
            modes[name] = stat.S_IMODE(st.st_mode)
    return modes


def _directories(repo: Path, excludes: tuple[str, ...]) -> dict[str, int]:
    """Every directory of the work tree (git does not track empty ones) and its mode."""
    found: dict[str, int] = {}
    skip = {".git", *excludes}
    root = str(repo)
    for dirpath, dirnames, _ in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        keep = []
        for d in dirnames:
            rel = d if rel_dir == "." else f"{rel_dir}/{d}"
            if d == ".git" or rel in skip:
                continue
            full = os.path.join(dirpath, d)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                continue
            found[rel] = stat.S_IMODE(st.st_mode)
            keep.append(d)
        dirnames[:] = keep
    return found


def _sync_directories(repo: Path, wanted: dict[str, int], excludes: tuple[str, ...]) -> None:
    """Remove directories the fix created, recreate the ones it removed, reset modes."""
    current = _directories(repo, excludes)
    for rel in sorted(set(current) - set(wanted), key=lambda r: r.count("/"), reverse=True):
        with contextlib.suppress(OSError):  # not empty: an excluded file lives there
            (repo / rel).rmdir()
    for rel in sorted(set(wanted) - set(current), key=lambda r: r.count("/")):
        path = repo / rel
        if path.is_symlink() or path.is_file():
            path.unlink()
        path.mkdir(exist_ok=True)
    for rel, mode in wanted.items():
        path = repo / rel
        if path.is_dir() and stat.S_IMODE(path.lstat().st_mode) != mode:
            os.chmod(path, mode)


def take_snapshot(
    git: Git, snapshot_id: str, now: datetime, excludes: tuple[str, ...] = ()
) -> Snapshot:
    repo = git.toplevel()
    directory = state_dir(git) / "backup" / snapshot_id
    directory.mkdir(parents=True, exist_ok=False)
    index = directory / "index"
    real_index = git.git_dir() / "index"
    if real_index.exists():
        # start from the user's index: its stat cache spares re-hashing tracked files
        shutil.copyfile(real_index, index)
    tree = git.scan_tree(index, include_ignored=True, excludes=excludes)
    head = git.head()
    commit = git.commit_tree(
        tree, f"hee-monitor backup {snapshot_id}", parents=(head,) if head else ()
    )
    ref = BACKUP_REF_PREFIX + snapshot_id
    git.update_ref(ref, commit)
    snapshot = Snapshot(snapshot_id, commit, tree, ref, directory, excludes)
    manifest = {
        **snapshot.to_json(),
        "created": now.isoformat(),
        "repo": str(repo),
        "head": head,
        "modes": _file_modes(repo, git, index),
        "directories": _directories(repo, excludes),
    }
    manifest["raw"] = _raw_copies(repo, git, index, directory)
    write_durably(snapshot.manifest, json.dumps(manifest).encode())
    return snapshot


#: the attributes under which git may store a file differently from its bytes
_CONVERTING = ("text", "eol", "filter", "working-tree-encoding", "ident")


def _raw_copies(repo: Path, git: Git, index: Path, directory: Path) -> dict[str, str]:
    """Copy the files git stores converted (see the module docstring) into
    ``directory/raw``; {repository path: copy's file name}."""
    listing = git.run("ls-files", "-z", "-s", index=index).stdout
    blobs: dict[str, str] = {}
    for entry in listing.decode("utf-8", "surrogateescape").split("\0"):
        if not entry:
            continue
        meta, _, name = entry.partition("\t")
        mode, blob, _stage = meta.split()
        if mode in ("100644", "100755"):
            blobs[name] = blob
    if not blobs:
        return {}
    names = list(blobs)
    attrs = git.run(
        "check-attr",
        "-z",
        "--stdin",
        *_CONVERTING,
        stdin="\0".join(names).encode("utf-8", "surrogateescape") + b"\0",
    ).stdout.decode("utf-8", "surrogateescape")
    fields = attrs.split("\0")
    converted = sorted(
        {
            fields[i]
            for i in range(0, len(fields) - 2, 3)
            if fields[i + 2] not in ("unspecified", "unset")
        }
    )
    if not converted:
        return {}
    raw_ids = (
        git.run(
            "hash-object",
            "--no-filters",
            "--stdin-paths",
            stdin="\n".join(converted).encode("utf-8", "surrogateescape") + b"\n",
        )
        .stdout.decode()
        .split()
    )
    copies: dict[str, str] = {}
    target = directory / "raw"
    for number, (name, raw_id) in enumerate(zip(converted, raw_ids, strict=True)):
        if raw_id == blobs[name]:
            continue  # stored as it is: the checkout gives the same bytes
        target.mkdir(exist_ok=True)
        copy = f"{number:06d}"
        write_durably(target / copy, (repo / name).read_bytes())
        copies[name] = copy
    return copies


def _restore_raw(repo: Path, snapshot: Snapshot, copies: dict[str, str]) -> list[str]:
    """Write back the bytes of the files git stores converted, where they differ."""
    written = []
    for name, copy in copies.items():
        data = (snapshot.directory / "raw" / copy).read_bytes()
        path = repo / name
        try:
            if not path.is_symlink() and path.is_file() and path.read_bytes() == data:
                continue
        except OSError:
            pass
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.is_symlink():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(name)
    return written


def current_tree(git: Git, snapshot: Snapshot) -> str:
    """The work tree as it is now, hashed with a copy of the snapshot's stat cache."""
    scratch = snapshot.directory / "index.now"
    shutil.copyfile(snapshot.index, scratch)
    try:
        return git.scan_tree(scratch, include_ignored=True, excludes=snapshot.excludes)
    finally:
        scratch.unlink(missing_ok=True)


def changed_paths(git: Git, snapshot: Snapshot) -> tuple[str, list[tuple[str, str]]]:
    """The tree now and what differs from the snapshot: [(A|D|M|T, path)]."""
    tree = current_tree(git, snapshot)
    return tree, git.diff_trees(snapshot.tree, tree)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def restore(git: Git, snapshot: Snapshot) -> RestoreReport:
    """Put the work tree back exactly as it was when ``snapshot`` was taken."""
    started = time.monotonic()
    repo = git.toplevel()
    # one scratch index for the scan before and the check after: the second scan re-reads
    # only what the restore rewrote
    scratch = snapshot.directory / "index.restore"
    shutil.copyfile(snapshot.index, scratch)
    now_tree = git.scan_tree(scratch, include_ignored=True, excludes=snapshot.excludes)
    diff = [] if now_tree == snapshot.tree else git.diff_trees(snapshot.tree, now_tree)
    deleted, restored = [], []
    for status, name in diff:
        if status == "A":
            _remove(repo / name)
            deleted.append(name)
    manifest = json.loads(snapshot.manifest.read_bytes())
    _sync_directories(repo, manifest.get("directories", {}), snapshot.excludes)
    to_restore = [n for s, n in diff if s != "A"]
    for name in to_restore:
        # a directory may now stand where a file was (its files were deleted above)
        target = repo / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        for parent in Path(name).parents:
            p = repo / parent
            if parent != Path(".") and (p.is_file() or p.is_symlink()):
                p.unlink()
    if to_restore:
        git.run(
            "checkout-index",
            "--force",
            "-z",
            "--stdin",
            index=snapshot.index,
            stdin="\0".join(to_restore).encode("utf-8", "surrogateescape") + b"\0",
        )
        restored = to_restore
    raw_restored = _restore_raw(repo, snapshot, manifest.get("raw", {}))
    restored = list(dict.fromkeys([*restored, *raw_restored]))
    modes_reset = _reset_modes(repo, manifest["modes"])
    after = git.scan_tree(scratch, include_ignored=True, excludes=snapshot.excludes)
    scratch.unlink(missing_ok=True)
    leftover = [] if after == snapshot.tree else git.diff_trees(snapshot.tree, after)
    if leftover:
        raise FixError(
            f"restore left {len(leftover)} path(s) different from the backup: "
            + ", ".join(n for _, n in leftover[:10]),
            hint=f"the backup is kept at {snapshot.ref}; restore by hand with "
            f"`git checkout {snapshot.commit} -- .`",
        )
    return RestoreReport(
        tuple(deleted), tuple(restored), tuple(modes_reset), time.monotonic() - started
    )


def _reset_modes(repo: Path, modes: dict[str, int]) -> list[str]:
    reset = []
    prefix = str(repo) + os.sep
    lstat, imode, is_link = os.lstat, stat.S_IMODE, stat.S_ISLNK
    # plain strings and bound names: this loop runs once per file of the repository
    for name, mode in modes.items():
        try:
            st_mode = lstat(prefix + name).st_mode
        except FileNotFoundError:
            continue
        if imode(st_mode) != mode and not is_link(st_mode):
            os.chmod(prefix + name, mode)
            reset.append(name)
    return reset


def discard(git: Git, snapshot: Snapshot) -> None:
    """Forget a settled snapshot: its ref and private files."""
    git.delete_ref(snapshot.ref)
    shutil.rmtree(snapshot.directory, ignore_errors=True)


def orphaned_refs(git: Git, keep: set[str]) -> list[str]:
    """Backup refs that no pending journal owns (a fix killed between taking its snapshot and
    writing its journal, or between settling and discarding): they keep whole trees alive,
    ignored files such as ``.env`` included, and nothing else would ever remove them."""
    listed = git.out("for-each-ref", "--format=%(refname)", BACKUP_REF_PREFIX)
    return [ref for ref in listed.splitlines() if ref.strip() and ref.strip() not in keep]


def discard_orphan(git: Git, ref: str) -> None:
    """Delete an orphaned backup ref and the private files of its snapshot."""
    git.delete_ref(ref)
    snapshot_id = ref[len(BACKUP_REF_PREFIX) :]
    if snapshot_id and "/" not in snapshot_id and snapshot_id not in (".", ".."):
        shutil.rmtree(state_dir(git) / "backup" / snapshot_id, ignore_errors=True)


# ---- journal -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalEntry:
    snapshot: Snapshot
    pattern_id: str
    strategy: str
    fingerprint: str
    started: str
    pid: int

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot.to_json(),
            "pattern_id": self.pattern_id,
            "strategy": self.strategy,
            "fingerprint": self.fingerprint,
            "started": self.started,
            "pid": self.pid,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JournalEntry:
        return cls(
            snapshot=Snapshot.from_json(data["snapshot"]),
            pattern_id=str(data["pattern_id"]),
            strategy=str(data["strategy"]),
            fingerprint=str(data["fingerprint"]),
            started=str(data["started"]),
            pid=int(data["pid"]),
        )


def journal_dir(git: Git) -> Path:
    path = state_dir(git) / "journal"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_journal(git: Git, entry: JournalEntry) -> Path:
    path = journal_dir(git) / f"{entry.snapshot.id}.json"
    write_durably(path, json.dumps(entry.to_json(), indent=2).encode())
    return path


def clear_journal(git: Git, snapshot_id: str) -> None:
    path = journal_dir(git) / f"{snapshot_id}.json"
    path.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def pending_journals(git: Git) -> list[JournalEntry]:
    entries = []
    for path in sorted(journal_dir(git).glob("*.json")):
        try:
            entries.append(JournalEntry.from_json(json.loads(path.read_text())))
        except (ValueError, KeyError) as exc:
            raise FixError(
                f"the fix journal {path} is unreadable ({exc})",
                hint="inspect it; the backups live under refs/hee/backup/",
            ) from None
    return entries


@contextlib.contextmanager
def repository_lock(git: Git) -> Iterator[None]:
    """One fix at a time per repository; the OS drops the lock when a process dies."""
    path = state_dir(git) / "lock"
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FixError(
                "another hee-monitor fix is running in this repository",
                hint="wait for it to finish; a crashed one releases the lock by itself",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
