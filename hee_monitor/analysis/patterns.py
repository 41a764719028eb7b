"""The pattern database: YAML files of failure patterns, loaded and validated.

Shipped files live in ``patterns/`` (:func:`hee_monitor.core.resources.patterns_dir`); users add
directories or files. A later source overrides a pattern of the same id from an earlier
one, so a user pattern replaces the shipped pattern it shares an id with.

Loading is fast and checks what the analyzer needs;
:func:`~hee_monitor.analysis.validation.validate_files` checks everything (schema, regexes,
examples) and reports every problem with file and line.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from hee_monitor.core.errors import PatternError
from hee_monitor.core.models import AutoFix, Category, Owner, Severity

SCHEMA_FILE = "pattern_database.schema.json"
_ID_RX = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")

#: what a pattern's line says about the failure (the ``scope`` field):
#: ``failure`` states the failure itself (a compiler error, a failed assertion);
#: ``summary`` reports that something failed without saying what (``npm ERR! Test
#: failed.``, "2 tests failed", ``BUILD FAILURE``, an exit-code line): it anchors the
#: search for the cause above it rather than being the cause;
#: ``setup`` is noise of setting the job up (an install's audit summary) that is never the
#: cause of a failure by itself
SCOPES = ("failure", "summary", "setup")


@dataclass(frozen=True)
class Context:
    before: int = 0
    after: int = 0


@dataclass(frozen=True)
class Pattern:
    """One failure pattern; the attributes are the fields of the schema."""

    id: str
    title: str
    category: str
    severity: Severity
    owner: Owner
    risk: int
    regex: tuple[str, ...]
    examples: tuple[str, ...]
    description: str = ""
    transient: bool = False
    fix_strategy: str | None = None
    auto_fix: AutoFix = AutoFix.NONE
    rollback_required: bool = True
    priority: int = 50
    tags: tuple[str, ...] = ()
    ignore_case: bool = False
    exclude: tuple[str, ...] = ()
    context: Context = field(default_factory=Context)
    end: str | None = None
    max_lines: int = 40
    counter_examples: tuple[str, ...] = ()
    #: one of :data:`SCOPES`
    scope: str = "failure"
    #: where the pattern was defined (file and 1-based line), for messages
    source: Path | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)

    @property
    def where(self) -> str:
        if self.source is None:
            return self.id
        return f"{self.source}:{self.line or 1} ({self.id})"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "category": self.category,
            "severity": self.severity.value,
            "owner": self.owner.value,
            "risk": self.risk,
            "transient": self.transient,
            "fix_strategy": self.fix_strategy,
            "auto_fix": self.auto_fix.value,
            "rollback_required": self.rollback_required,
            "priority": self.priority,
            "scope": self.scope,
            "tags": list(self.tags),
            "regex": list(self.regex),
            "ignore_case": self.ignore_case,
            "exclude": list(self.exclude),
            "context": {"before": self.context.before, "after": self.context.after},
            "end": self.end,
            "max_lines": self.max_lines,
            "description": self.description,
            "source": str(self.source) if self.source else None,
        }
        return data


class PatternDatabase:
    """Patterns by id, in load order (later sources replaced earlier ones in place)."""

    def __init__(self, patterns: Iterable[Pattern] = ()) -> None:
        self._by_id: dict[str, Pattern] = {}
        for pattern in patterns:
            self._by_id[pattern.id] = pattern

    def get(self, pattern_id: str) -> Pattern | None:
        return self._by_id.get(pattern_id)

    def __iter__(self) -> Iterator[Pattern]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, pattern_id: object) -> bool:
        return pattern_id in self._by_id

    def merged(self, other: Iterable[Pattern]) -> PatternDatabase:
        """A new database: these patterns, overridden and extended by ``other``."""
        return PatternDatabase([*self, *other])


# --- YAML with line numbers ------------------------------------------------------------------


class _Map(dict[str, Any]):
    """A YAML mapping that remembers where it and each of its keys stand (1-based)."""

    line: int = 1
    key_lines: dict[str, int]


@cache
def _loader() -> Any:
    """A safe YAML loader (libyaml when available) that records line numbers. Built on
    first use: yaml is imported only when a pattern file is actually parsed."""
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class LineLoader(base):  # type: ignore[misc]
        def construct_mapping(self, node: Any, deep: bool = False) -> _Map:
            mapping = _Map(super().construct_mapping(node, deep=True))
            mapping.line = node.start_mark.line + 1
            mapping.key_lines = {
                str(key.value): key.start_mark.line + 1
                for key, _ in node.value
                if hasattr(key, "value")
            }
            return mapping

    LineLoader.add_constructor(
        yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, LineLoader.construct_mapping
    )
    return LineLoader


def _read_yaml(path: Path) -> Any:
    """Parse one YAML file; raise PatternError naming file and line on bad YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PatternError(
            f"cannot read pattern file {path}: {exc}",
            hint="check the path and that the file is UTF-8 text",
        ) from exc
    import yaml

    try:
        return yaml.load(text, Loader=_loader())  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise PatternError(
            f"{path}:{line}: invalid YAML: {problem}",
            hint="fix the YAML syntax at that line (hee-monitor patterns validate FILE)",
        ) from exc


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def pattern_from_mapping(
    data: dict[str, Any], source: Path | None = None, line: int | None = None
) -> Pattern:
    """Build a Pattern from one YAML mapping; raise PatternError (file, line, id) when a
    field the analyzer needs is missing or has a wrong type."""
    if line is None:
        line = getattr(data, "line", None)
    pid = data.get("id")
    where = f"{source}:{line}" if source else "pattern"

    def fail(message: str) -> PatternError:
        return PatternError(
            f"{where} ({pid or 'no id'}): {message}",
            hint="run `hee-monitor patterns validate` on the file to see every problem",
        )

    for key in ("id", "title", "category", "severity", "owner", "risk", "regex", "examples"):
        if key not in data:
            raise fail(f"missing required field {key!r}")
    if not isinstance(pid, str) or not _ID_RX.match(pid):
        raise fail(f"invalid id {pid!r} (expected e.g. PAT-001)")
    scope = data.get("scope", "failure")
    if scope not in SCOPES:
        raise fail(f"invalid scope {scope!r} (expected one of {', '.join(SCOPES)})")
    try:
        context = data.get("context") or {}
        return Pattern(
            id=pid,
            title=str(data["title"]),
            category=Category(data["category"]).value,
            severity=Severity(data["severity"]),
            owner=Owner(data["owner"]),
            risk=int(data["risk"]),
            regex=_as_tuple(data["regex"]),
            examples=_as_tuple(data["examples"]),
            description=str(data.get("description") or ""),
            transient=bool(data.get("transient", False)),
            fix_strategy=data.get("fix_strategy"),
            auto_fix=AutoFix(data.get("auto_fix", "none")),
            rollback_required=bool(data.get("rollback_required", True)),
            priority=int(data.get("priority", 50)),
            tags=_as_tuple(data.get("tags")),
            ignore_case=bool(data.get("ignore_case", False)),
            exclude=_as_tuple(data.get("exclude")),
            context=Context(int(context.get("before", 0)), int(context.get("after", 0))),
            end=data.get("end"),
            max_lines=int(data.get("max_lines", 40)),
            counter_examples=_as_tuple(data.get("counter_examples")),
            scope=str(scope),
            source=source,
            line=line,
        )
    except (ValueError, TypeError, AttributeError) as exc:
        raise fail(str(exc)) from exc


def pattern_files(path: Path) -> list[Path]:
    """The YAML files of a directory (sorted, recursive), or the file itself."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    return [path]


_CACHE_FORMAT = 2


def _cache_path(path: Path) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    name = hashlib.sha256(str(path.resolve()).encode("utf-8", "replace")).hexdigest()[:24]
    return Path(base) / "hee-monitor" / "patterns" / f"{name}.json"


def load_file(path: Path) -> list[Pattern]:
    """The patterns of one file. Parsed YAML is cached as JSON (keyed by the file's size
    and modification time) because parsing is most of the CLI's start-up time."""
    try:
        stat = path.stat()
        key = [_CACHE_FORMAT, str(path.resolve()), stat.st_mtime_ns, stat.st_size]
        cache_file = _cache_path(path)
    except (OSError, RuntimeError):
        key, cache_file = [], None
    if cache_file is not None:
        try:
            cached = json.loads(cache_file.read_text(encoding="utf-8"))
            if cached.get("key") == key:
                return [pattern_from_mapping(item, path, line) for line, item in cached["patterns"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass  # no or stale cache: parse the YAML
    data = _read_yaml(path)
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("patterns"), list):
        raise PatternError(
            f"{path}:1: a pattern file is a mapping with a 'patterns' list",
            hint="see docs/diagnosis.md for the pattern file format",
        )
    items = [item for item in data["patterns"] if isinstance(item, dict)]
    patterns = [pattern_from_mapping(item, path) for item in items]
    if cache_file is not None:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
            entries = [[getattr(item, "line", None), dict(item)] for item in items]
            tmp.write_text(json.dumps({"key": key, "patterns": entries}), encoding="utf-8")
            tmp.replace(cache_file)
        except (OSError, TypeError, ValueError):
            pass  # the cache only saves start-up time
    return patterns


def shipped_dir() -> Path | None:
    from hee_monitor.core.resources import patterns_dir

    try:
        return patterns_dir()
    except FileNotFoundError:
        return None


def load_database(extra: Sequence[Path | str] = (), *, shipped: bool = True) -> PatternDatabase:
    """Load the shipped patterns (unless ``shipped=False``), then each directory or file of
    ``extra`` in order; a later pattern replaces an earlier one with the same id."""
    sources: list[Path] = []
    if shipped and (sd := shipped_dir()) is not None:
        sources.append(sd)
    for item in extra:
        p = Path(item)
        if not p.exists():
            raise PatternError(
                f"pattern directory or file {p} does not exist",
                hint="pass an existing directory of *.yaml pattern files to --patterns",
            )
        sources.append(p)
    patterns: list[Pattern] = []
    for number, source in enumerate(sources):
        user = number > 0 or not shipped
        for path in pattern_files(source):
            loaded = load_file(path)
            if user:  # shipped patterns are checked by the test suite
                for pattern in loaded:
                    _refuse_backtracking(pattern)
            patterns.extend(loaded)
    return PatternDatabase(patterns)


def _refuse_backtracking(pattern: Pattern) -> None:
    """Raise PatternError (file, line, id) when a regex of ``pattern`` does not compile or
    needs a backtracking engine: confirming a line must take time linear in its length."""
    from hee_monitor.analysis.matcher import check_regex

    fields = (("regex", pattern.regex), ("exclude", pattern.exclude), ("end", (pattern.end,)))
    for key, regexes in fields:
        for rx in regexes:
            if rx is None:
                continue
            problem = check_regex(rx, ignore_case=pattern.ignore_case, fast=False)
            if problem is not None:
                raise PatternError(
                    f"{pattern.where}: {key} {rx!r}: {problem}",
                    hint="run `hee-monitor patterns validate` on the file to see every problem",
                )


# --- validation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a pattern file."""

    file: Path
    line: int
    pattern_id: str | None
    message: str

    def __str__(self) -> str:
        who = f" [{self.pattern_id}]" if self.pattern_id else ""
        return f"{self.file}:{self.line}:{who} {self.message}"


def _line_of(root: Any, path: Sequence[Any]) -> int:
    """Line of the deepest YAML node on ``path`` (a JSON pointer as a list)."""
    node = root
    line = getattr(root, "line", 1)
    for part in path:
        if isinstance(node, _Map):
            line = node.key_lines.get(str(part), node.line)
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            break
        if isinstance(node, _Map):
            line = node.line
    return int(line)


def _pattern_id_at(root: Any, path: Sequence[Any]) -> str | None:
    if len(path) >= 2 and path[0] == "patterns" and isinstance(root, dict):
        items = root.get("patterns")
        if isinstance(items, list) and isinstance(path[1], int) and path[1] < len(items):
            item = items[path[1]]
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                return str(item["id"])
    return None
