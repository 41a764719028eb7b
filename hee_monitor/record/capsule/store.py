"""Where capsules live: a directory with the live capsule, its history and its trust record.

```
state_capsules/
  current.json                    the live signed capsule
  trusted.json                    last trusted version + digest per repository
  .capsule.lock                   flock'd while a process reads-then-writes
  backups/current.v00000007.json  the live capsule as it was before each update
  history/v00000007.json          every version, exactly as signed (one file each)
  history/archive/2026-10.jsonl.gz          versions archived by month of creation
  history/archive/fixes-2026-10.jsonl.gz    auto_fix_history entries moved out of the live
                                            capsule (it keeps the newest N)
```

Every write is atomic (temp file, fsync, rename, fsync dir); the rename of ``current.json``
is the commit point, so a process killed at any moment leaves the old or the new version,
both signed. Updates hold an exclusive ``flock`` and compare-and-swap on the version, so
concurrent updaters never lose a change.
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import re
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from hee_monitor.core.clock import Clock, SystemClock
from hee_monitor.core.errors import CapsuleError
from hee_monitor.record.capsule.canonical import FILE_FORMAT, digest, parse_document
from hee_monitor.record.capsule.envelope import Capsule, format_time, open_capsule, parse_time, sign
from hee_monitor.record.capsule.errors import (
    CapsuleFormatError,
    CapsuleStorageError,
    ChainError,
    ConflictError,
    ForkError,
    RollbackError,
)
from hee_monitor.record.capsule.fsutil import atomic_write, fsync_dir, locked, read_bytes
from hee_monitor.record.capsule.keys import Signer, TrustedKeys
from hee_monitor.record.capsule.sealing import DEFAULT_SENSITIVE_KEYS, EncryptionKey, seal
from hee_monitor.record.capsule.trust import TRUSTED_FILE, TrustRecord, check_against

DEFAULT_EXPIRY = timedelta(days=30)
DEFAULT_FIX_HISTORY_LIMIT = 500
DEFAULT_BACKUPS_KEPT = 20
CURRENT_FILE = "current.json"
LOCK_FILE = ".capsule.lock"

#: fields only the store sets; a mutator that changes them is refused
MANAGED_FIELDS = (
    "schema_version",
    "file_format",
    "version",
    "created",
    "expires",
    "repository",
    "previous_digest",
)

Mutator = Callable[[dict[str, Any]], None]

_HISTORY_NAME = re.compile(r"v\d{8}\.json")


def new_payload(
    repository: str, now: datetime, expiry: timedelta = DEFAULT_EXPIRY
) -> dict[str, Any]:
    """Version 1 of a capsule: nothing measured yet (metrics null), nothing happened yet."""
    stamp = format_time(now)
    return {
        "schema_version": 1,
        "file_format": FILE_FORMAT,
        "version": 1,
        "created": stamp,
        "expires": format_time(now + expiry),
        "repository": repository,
        "previous_digest": None,
        "monitoring_state": {
            "last_run_id": None,
            "current_status": "operational",
            "status_since": stamp,
            "hee_specific": {
                "spec_coverage": None,
                "prompt_coverage": None,
                "decision_stability": None,
            },
            "coverage_metrics": dict.fromkeys(
                ("line", "branch", "function", "integration", "spec", "prompt")
            ),
        },
        "auto_fix_history": [],
        "decision_history": [],
        "open_incidents": [],
        "constraints": {
            "max_fix_severity": "medium",
            "frozen": False,
            "protected_paths": [".github/workflows/**"],
            "maintenance_windows": [],
        },
        "sensitive": {},
    }


@dataclass(frozen=True)
class Successor:
    """The next version, and the fix-history entries it moved out of the live capsule."""

    capsule: Capsule
    trimmed_fixes: list[dict[str, Any]]


def make_successor(
    current: Capsule,
    mutator: Mutator,
    *,
    now: datetime,
    signers: Sequence[Signer],
    encryption_key: EncryptionKey | None = None,
    expiry: timedelta = DEFAULT_EXPIRY,
    fix_history_limit: int = DEFAULT_FIX_HISTORY_LIMIT,
    sensitive_keys: Collection[str] = DEFAULT_SENSITIVE_KEYS,
) -> Successor:
    """Apply ``mutator`` to a copy of ``current``'s payload and sign it as the next version."""
    # a fresh copy from the verified bytes: far faster than deepcopy for long histories
    payload: dict[str, Any] = orjson.loads(current.raw)["signed"]
    mutator(payload)
    changed = [f for f in MANAGED_FIELDS if payload.get(f) != current.payload.get(f)]
    if changed:
        raise CapsuleError(
            f"an update may not change {', '.join(changed)}: the store sets them",
            hint="change monitoring_state, histories, incidents or constraints only",
        )
    payload["version"] = current.version + 1
    payload["file_format"] = FILE_FORMAT  # an old capsule moves to the current file form
    payload["previous_digest"] = current.digest
    payload["created"] = format_time(now)
    payload["expires"] = format_time(now + expiry)
    trimmed: list[dict[str, Any]] = []
    fixes = payload.get("auto_fix_history")
    if isinstance(fixes, list) and len(fixes) > fix_history_limit:
        cut = len(fixes) - fix_history_limit
        trimmed, payload["auto_fix_history"] = fixes[:cut], fixes[cut:]
    seal(payload, encryption_key, sensitive_keys, text=_screen_text(payload))
    return Successor(sign(payload, signers), trimmed)


def _screen_text(payload: dict[str, Any]) -> str | None:
    """The payload as compact JSON for the secret screen (None: let ``seal`` write it)."""
    try:
        return orjson.dumps(payload, option=orjson.OPT_PASSTHROUGH_SUBCLASS).decode("utf-8")
    except orjson.JSONEncodeError:
        return None


def _month(timestamp: Any) -> str:
    try:
        return parse_time(str(timestamp)).strftime("%Y-%m")
    except ValueError:
        return "undated"


def _merge_jsonl_gz(path: Path, lines: Iterator[str] | list[str]) -> None:
    """Add ``lines`` to a gzip'd JSON-lines file atomically, skipping lines already there."""
    existing: list[str] = []
    if path.exists():
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            existing = [line.rstrip("\n") for line in fh if line.strip()]
    seen = set(existing)
    merged = list(existing)
    for line in lines:
        if line not in seen:
            seen.add(line)
            merged.append(line)
    data = gzip.compress(("\n".join(merged) + "\n").encode("utf-8"), mtime=0)
    atomic_write(path, data)


def archive_fixes(archive_dir: Path, entries: list[dict[str, Any]]) -> None:
    """Append fix-history entries to ``fixes-YYYY-MM.jsonl.gz`` by month of their timestamp."""
    by_month: dict[str, list[str]] = {}
    for entry in entries:
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        by_month.setdefault(_month(entry.get("timestamp")), []).append(line)
    for month, lines in sorted(by_month.items()):
        _merge_jsonl_gz(archive_dir / f"fixes-{month}.jsonl.gz", lines)


@dataclass(frozen=True)
class VersionInfo:
    version: int
    created: str
    digest: str
    previous_digest: str | None
    location: str  # "history" or "archive/YYYY-MM"
    current: bool


@dataclass(frozen=True)
class ArchiveResult:
    versions: tuple[int, ...]
    files: tuple[Path, ...]


@dataclass(frozen=True)
class ChainReport:
    current_version: int
    oldest_version: int
    checked: int
    archived: int


class CapsuleDirectory:
    """The capsule of one repository in ``directory``; every read is verified.

    ``signer`` (one key, or several to meet a threshold) is needed only to write.
    ``trusted_keys`` decide what is accepted on load. Sensitive values are sealed with
    ``encryption_key`` before signing.
    """

    def __init__(
        self,
        directory: Path,
        signer: Signer | Sequence[Signer] | None,
        trusted_keys: TrustedKeys,
        encryption_key: EncryptionKey | None = None,
        clock: Clock | None = None,
        *,
        expiry: timedelta = DEFAULT_EXPIRY,
        fix_history_limit: int = DEFAULT_FIX_HISTORY_LIMIT,
        backups_kept: int = DEFAULT_BACKUPS_KEPT,
        sensitive_keys: Collection[str] = DEFAULT_SENSITIVE_KEYS,
    ) -> None:
        self.directory = Path(directory)
        if signer is None:
            self.signers: tuple[Signer, ...] = ()
        elif isinstance(signer, Signer):
            self.signers = (signer,)
        else:
            self.signers = tuple(signer)
        self.trusted_keys = trusted_keys
        self.encryption_key = encryption_key
        self.clock: Clock = clock or SystemClock()
        self.expiry = expiry
        self.fix_history_limit = fix_history_limit
        self.backups_kept = backups_kept
        self.sensitive_keys = sensitive_keys
        self.current_path = self.directory / CURRENT_FILE
        self.history_dir = self.directory / "history"
        self.archive_dir = self.history_dir / "archive"
        self.backups_dir = self.directory / "backups"
        self.lock_path = self.directory / LOCK_FILE
        self.trust = TrustRecord(self.directory / TRUSTED_FILE)

    # -- reading -------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.current_path.exists()

    def load(self, *, now: datetime | None = None) -> Capsule:
        """The live capsule, verified (format, signatures, schema, expiry, rollback, fork,
        chain), recorded as trusted."""
        with locked(self.lock_path):
            return self._load_locked(now or self.clock.now(), check_expiry=True)

    def _load_locked(self, now: datetime, *, check_expiry: bool) -> Capsule:
        raw = read_bytes(self.current_path)
        capsule = open_capsule(
            raw, self.trusted_keys, now=now if check_expiry else None, source=str(self.current_path)
        )
        known = self.trust.repositories()
        if known and capsule.repository not in known:
            # one state directory holds one repository's history: a capsule of another
            # repository here was swapped in, not made by an update
            raise ForkError(
                f"{self.current_path} is a capsule of {capsule.repository}, but this state "
                f"directory holds the history of {', '.join(known)}",
                hint="use that repository's own state directory (--state-dir)",
            )
        self.trust.check(capsule, self._payload_of)
        newest = self._newest_in_history()
        if newest > capsule.version:
            # history is append-only: with or without trusted.json, a live capsule older than
            # a version already signed into history/ is a rollback, never a fresh start
            raise RollbackError(
                f"{self.current_path} is version {capsule.version}, but history/ holds signed "
                f"version {newest}: an older capsule was put back",
                hint=f"restore the newest version with `hee-monitor capsule restore {newest}` "
                "after checking who replaced current.json",
            )
        own = self._history_path(capsule.version)
        if newest == capsule.version - 1 and not own.exists():
            # an update killed between its commit point and its history file: the verified
            # live capsule is that version, exactly as signed
            atomic_write(own, raw)
        if self.trust.get(capsule.repository) != (capsule.version, capsule.digest):
            self.trust.record(capsule, now)
        return capsule

    def _history_path(self, version: int) -> Path:
        return self.history_dir / f"v{version:08d}.json"

    def _newest_in_history(self) -> int:
        """The highest version with a file in history/ (0 when there is none)."""
        try:
            names = [p.name for p in self.history_dir.iterdir()]
        except FileNotFoundError:
            return 0
        versions = [int(n[1:9]) for n in names if _HISTORY_NAME.fullmatch(n)]
        return max(versions, default=0)

    def _archived(self) -> dict[int, tuple[bytes, str]]:
        """Archived versions: version → (exact file bytes, archive month)."""
        found: dict[int, tuple[bytes, str]] = {}
        if not self.archive_dir.is_dir():
            return found
        for path in sorted(self.archive_dir.glob("[0-9][0-9][0-9][0-9]-[0-9][0-9].jsonl.gz")):
            month = path.name.removesuffix(".jsonl.gz")
            try:
                with gzip.open(path, "rt", encoding="utf-8") as fh:
                    for line in fh:
                        if line.strip():
                            entry = json.loads(line)
                            found[int(entry["version"])] = (entry["file"].encode("utf-8"), month)
            except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
                raise CapsuleStorageError(
                    f"archive {path} is unreadable: {exc}",
                    hint="restore the archive file from a backup",
                ) from exc
        return found

    def _raw_version(self, version: int) -> tuple[bytes, str] | None:
        path = self._history_path(version)
        if path.exists():
            return read_bytes(path), "history"
        archived = self._archived().get(version)
        if archived is not None:
            return archived[0], f"archive/{archived[1]}"
        return None

    def _payload_of(self, version: int) -> dict[str, Any] | None:
        found = self._raw_version(version)
        if found is None:
            return None
        document = parse_document(found[0], source=f"version {version}")
        payload = document.get("signed") if isinstance(document, dict) else None
        if not isinstance(payload, dict) or payload.get("version") != version:
            raise CapsuleFormatError(f"history entry for version {version} is not that version")
        return payload

    # -- writing -------------------------------------------------------------------------

    def _require_signers(self) -> tuple[Signer, ...]:
        if not self.signers:
            raise CapsuleError(
                "writing a capsule needs a signing key",
                hint="pass --signing-key FILE or set HEE_SIGNING_KEY",
            )
        return self.signers

    def _remove_stale_temp_files(self) -> None:
        # left behind by a writer killed between mkstemp and rename; only ever removed
        # while holding the lock, so no live writer owns them
        for directory in (self.directory, self.history_dir, self.backups_dir, self.archive_dir):
            for stale in directory.glob(".*.tmp"):
                stale.unlink(missing_ok=True)

    def _commit(self, capsule: Capsule, previous_raw: bytes | None, now: datetime) -> None:
        """Write ``capsule`` as the new live version (lock held)."""
        self._remove_stale_temp_files()
        if previous_raw is not None:
            self._backup(capsule.version - 1, previous_raw)
        target = self._history_path(capsule.version)
        if target.exists() and read_bytes(target) != capsule.raw:
            # never overwrite a signed version: the history is append-only
            raise RollbackError(
                f"history/{target.name} already holds another signed version {capsule.version}",
                hint="the live capsule is older than its history: restore the newest version",
            )
        # compare-and-swap: the live file must still be the one this update started from
        # (guards against writers that do not take the lock, e.g. on a network filesystem)
        on_disk = self.current_path.read_bytes() if self.current_path.exists() else None
        if on_disk != previous_raw:
            raise ConflictError(
                f"{self.current_path} changed during the update; nothing was written",
                hint="run the update again",
            )
        # the live file is the commit point and is written first, so history/ never holds a
        # version newer than the live one (which would read as a rollback); a process killed
        # before the history file is written leaves it to the next load to add
        atomic_write(self.current_path, capsule.raw)
        atomic_write(target, capsule.raw)
        self.trust.record(capsule, now)
        self._prune_backups()

    def _backup(self, version: int, raw: bytes) -> None:
        """Keep the live capsule as it was before this update. Usually a hard link to the
        identical history file (no second copy of a large capsule); a copy otherwise."""
        backup = self.backups_dir / f"current.v{version:08d}.json"
        source = self._history_path(version)
        try:
            self.backups_dir.mkdir(parents=True, exist_ok=True)
            if source.stat().st_size == len(raw):
                backup.unlink(missing_ok=True)
                os.link(source, backup)
                fsync_dir(self.backups_dir)
                return
        except OSError:
            pass  # no history file, or no hard links here: write a copy
        atomic_write(backup, raw)

    def _prune_backups(self) -> None:
        backups = sorted(self.backups_dir.glob("current.v*.json"))
        for old in backups[: max(0, len(backups) - self.backups_kept)]:
            old.unlink(missing_ok=True)

    def initialise(self, repository: str, *, now: datetime | None = None) -> Capsule:
        """Create version 1 for ``repository``; refuses if a capsule already exists."""
        signers = self._require_signers()
        moment = now or self.clock.now()
        with locked(self.lock_path):
            if self.current_path.exists():
                raise CapsuleStorageError(
                    f"{self.current_path} already exists; refusing to start a new history",
                    hint="change it with `hee-monitor capsule update`",
                )
            payload = new_payload(repository, moment, self.expiry)
            capsule = sign(payload, signers)
            self._commit(capsule, None, moment)
            return capsule

    def update(
        self, mutator: Mutator, *, now: datetime | None = None, expected_version: int | None = None
    ) -> Capsule:
        """Apply ``mutator`` to the payload and store the result as the next version.

        The live capsule is verified first (an expired one may be renewed); with
        ``expected_version`` the update fails with :class:`ConflictError` unless the live
        version is that one.
        """
        signers = self._require_signers()
        moment = now or self.clock.now()
        with locked(self.lock_path):
            current = self._load_locked(moment, check_expiry=False)
            if expected_version is not None and current.version != expected_version:
                raise ConflictError(
                    f"expected capsule version {expected_version}, found {current.version}",
                    hint="reload the capsule and apply the change again",
                )
            successor = make_successor(
                current,
                mutator,
                now=moment,
                signers=signers,
                encryption_key=self.encryption_key,
                expiry=self.expiry,
                fix_history_limit=self.fix_history_limit,
                sensitive_keys=self.sensitive_keys,
            )
            if successor.trimmed_fixes:
                archive_fixes(self.archive_dir, successor.trimmed_fixes)
            self._commit(successor.capsule, current.raw, moment)
            return successor.capsule

    def version(self, version: int) -> Capsule:
        """A past version, proven by the hash chain from the live capsule (so it stays
        readable after its signing key was rotated out)."""
        current = self.load()
        if version == current.version:
            return current
        if not 1 <= version < current.version:
            raise CapsuleError(
                f"no version {version}: versions run from 1 to {current.version}",
                hint="list them with `hee-monitor capsule history`",
            )
        found = self._raw_version(version)
        payload = self._payload_of(version)
        if found is None or payload is None:
            raise ChainError(
                f"version {version} is not in history/ or history/archive/",
                hint="list what is kept with `hee-monitor capsule history`",
            )
        identity = digest(payload, plain_json=True)
        check_against(current.payload, current.digest, (version, identity), self._payload_of)
        document = parse_document(found[0], source=f"version {version}")
        return Capsule(payload, tuple(document["signatures"]), found[0], identity)

    def restore(self, version: int, *, now: datetime | None = None) -> Capsule:
        """Make a new, higher version carrying the content of ``version``."""
        moment = now or self.clock.now()
        old = self.version(version)
        stamp = format_time(moment)

        def bring_back(payload: dict[str, Any]) -> None:
            keep = {f: payload[f] for f in MANAGED_FIELDS if f in payload}
            payload.clear()
            payload.update(copy.deepcopy(old.payload))
            payload.update(keep)
            payload.setdefault("decision_history", []).append(
                {
                    "timestamp": stamp,
                    "action": "restore",
                    "reasons": [f"restored the content of version {version} ({old.digest})"],
                }
            )

        return self.update(bring_back, now=moment)

    # -- history -------------------------------------------------------------------------

    def history(self) -> list[VersionInfo]:
        """Every kept version, oldest first (live capsule verified first)."""
        current = self.load()
        sources = {n: (raw, f"archive/{month}") for n, (raw, month) in self._archived().items()}
        for path in sorted(self.history_dir.glob("v*.json")):
            try:
                number = int(path.stem[1:])
            except ValueError:
                continue
            sources[number] = (read_bytes(path), "history")
        infos = []
        for number in sorted(sources):
            payload = self._payload_of(number) or {}
            infos.append(
                VersionInfo(
                    version=number,
                    created=str(payload.get("created")),
                    digest=digest(payload, plain_json=True),
                    previous_digest=payload.get("previous_digest"),
                    location=sources[number][1],
                    current=number == current.version,
                )
            )
        return infos

    def verify_chain(self, *, now: datetime | None = None) -> ChainReport:
        """Verify the live capsule, then every kept version back to version 1 through
        ``previous_digest`` (history and archive alike)."""
        current = self.load(now=now)
        archived = self._archived()
        payload = current.payload
        checked = 1
        while payload["version"] > 1:
            number = payload["version"] - 1
            older = self._payload_of(number)
            if older is None:
                raise ChainError(
                    f"version {number} is missing from history/ and history/archive/, so the "
                    f"chain from version {current.version} back to version 1 cannot be checked",
                    hint="restore the missing history file or archive from a backup",
                )
            if digest(older, plain_json=True) != payload.get("previous_digest"):
                raise ChainError(
                    f"hash chain broken between version {number} and {number + 1}",
                    hint=f"the history was rewritten; do not trust versions up to {number}",
                )
            payload = older
            checked += 1
        return ChainReport(current.version, payload["version"], checked, len(archived))

    def archive(self, *, older_than: timedelta, now: datetime | None = None) -> ArchiveResult:
        """Move history files created before ``now - older_than`` into monthly gzip'd
        JSON-lines archives (exact bytes kept, so the chain stays verifiable)."""
        moment = now or self.clock.now()
        cutoff = moment - older_than
        with locked(self.lock_path):
            current = self._load_locked(moment, check_expiry=False)
            by_month: dict[str, list[tuple[int, Path, bytes]]] = {}
            for path in sorted(self.history_dir.glob("v*.json")):
                try:
                    number = int(path.stem[1:])
                except ValueError:
                    continue
                if number >= current.version:
                    continue  # the live version always stays in history/
                raw = read_bytes(path)
                payload = parse_document(raw, source=str(path))["signed"]
                created = parse_time(payload["created"]).astimezone(UTC)
                if created < cutoff:
                    by_month.setdefault(created.strftime("%Y-%m"), []).append((number, path, raw))
            files: list[Path] = []
            moved: list[int] = []
            for month, entries in sorted(by_month.items()):
                target = self.archive_dir / f"{month}.jsonl.gz"
                lines = [
                    json.dumps(
                        {"version": n, "file": raw.decode("utf-8")},
                        ensure_ascii=False,
                        separators=(",", ":"),
                    )
                    for n, _, raw in entries
                ]
                _merge_jsonl_gz(target, lines)
                files.append(target)
                # the archive is durable before any history file goes away
                for n, path, _ in entries:
                    path.unlink()
                    moved.append(n)
            if moved:
                fsync_dir(self.history_dir)
            return ArchiveResult(tuple(sorted(moved)), tuple(files))

    def archived_fixes(self) -> list[dict[str, Any]]:
        """Fix-history entries moved out of the live capsule, oldest first."""
        entries: list[dict[str, Any]] = []
        for path in sorted(self.archive_dir.glob("fixes-*.jsonl.gz")):
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                entries.extend(json.loads(line) for line in fh if line.strip())
        entries.sort(key=lambda e: str(e.get("timestamp")))
        return entries
