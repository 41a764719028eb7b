"""Propose new patterns from logs the local model explained, for a human to review.

For each cached model answer, the most specific evidence line becomes a regex: the
line is escaped, its volatile parts (numbers, hashes, paths, URLs, versions, quoted
identifiers, package coordinates, redacted values) become ``\\d+`` / ``\\S+`` classes,
and the regex is trimmed to start and end on stable words. A proposal is kept only if
its regex compiles, matches the example it came from and has enough stable words not to
match everything; the file it lands in is validated against
``schemas/pattern_database.schema.json``.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from hee_monitor.analysis.interface import LogExcerpt
from hee_monitor.analysis.llm_cache import CachedAnswer
from hee_monitor.core.errors import PatternError, UsageError
from hee_monitor.core.resources import load_schema

#: a proposal needs at least this many stable words (3+ letters) to be specific enough
MIN_STABLE_WORDS = 2
#: the risk of fixing automatically is a human decision: proposals start in the middle
DEFAULT_RISK = 5

# order matters: the first alternative that matches at a position wins
_TOKEN = re.compile(
    r"""
      (?P<redacted>\S*\[REDACTED\]\S*)
    | (?P<url>[A-Za-z][A-Za-z0-9+.-]*://\S+)
    | (?P<quoted>'[^'\s]*'|"[^"\s]*"|`[^`\s]*`|‘[^’\s]*’|“[^”\s]*”)
    | (?P<quoted_spaced>'[^'\n]*'|"[^"\n]*"|`[^`\n]*`)
    | (?P<path>(?:[A-Za-z]:)?[\w.@~+-]*[/\\][^\s'"`,;()\[\]{}]*)
    | (?P<file>[\w.-]+\.(?:py|pyi|js|jsx|mjs|ts|tsx|go|java|kt|rb|rs|c|cc|cpp|h|hpp|cs|php
                          |swift|scala|yml|yaml|json|toml|lock|txt|xml|gradle|sh)(?::\d+)*\b)
    | (?P<coordinate>[\w-]+(?:\.[\w-]+)+(?::[\w.-]+)+)
    | (?P<hex>\b(?:0x[0-9a-fA-F]+|(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{7,})\b)
    | (?P<version>\bv?\d+(?:\.\d+)+[\w.+-]*)
    | (?P<number>\d+)
    | (?P<space>\s+)
    | (?P<word>[A-Za-z]{3,})
    | (?P<other>.)
    """,
    re.VERBOSE,
)

#: summary lines every failed build prints: they say *that* it failed, never why
_GENERIC_LINES = re.compile(
    r"(?i)^\s*(?:##\[error\]|error:\s*)?process completed with exit code \d+"
    r"|^\s*##\[(?:group|endgroup)\]"
    r"|^\s*the command .* exited with \d+\.?\s*$"
    r"|^\s*failure: build failed with an exception"
    r"|^\s*build failed\b"
    r"|^\s*npm err! a complete log of this run"
    r"|^\s*make(?:\[\d+\])?: \*\*\* .* error \d+"
    r"|^\s*error: command failed with exit code \d+"
)


@dataclass(frozen=True)
class Suggestion:
    pattern: dict[str, Any]
    log: str
    model: str


@dataclass(frozen=True)
class NotSuggested:
    log: str
    reason: str


@dataclass(frozen=True)
class SuggestionReport:
    suggestions: tuple[Suggestion, ...]
    skipped: tuple[NotSuggested, ...]

    def to_yaml(self) -> str:
        return patterns_yaml(s.pattern for s in self.suggestions)


@dataclass(frozen=True)
class _Generalised:
    regex: str
    stable_words: int
    stable_chars: int


def generalise(line: str) -> _Generalised | None:
    """A regex for ``line`` with its volatile parts generalised, or None if none is left."""
    parts: list[tuple[str, bool, int]] = []  # (regex, stable?, stable word count)
    for match in _TOKEN.finditer(line):
        kind = match.lastgroup
        text = match.group()
        if kind == "space":
            parts.append((r"\s+", True, 0))
        elif kind == "number":
            parts.append((r"\d+", False, 0))
        elif kind == "quoted":
            parts.append((re.escape(text[0]) + r"\S*" + re.escape(text[-1]), False, 0))
        elif kind == "quoted_spaced":
            q = re.escape(text[0])
            parts.append((f"{q}[^{q}]*{q}", False, 0))
        elif kind in ("redacted", "url", "path", "file", "coordinate", "hex", "version"):
            parts.append((r"\S+", False, 0))
        elif kind == "word":
            parts.append((re.escape(text), True, 1))
        else:
            parts.append((re.escape(text), True, 0))
    # anchor on stable words: drop leading/trailing variable parts and whitespace
    first = next((i for i, p in enumerate(parts) if p[2]), None)
    if first is None:
        return None
    last = max(i for i, p in enumerate(parts) if p[2])
    kept = parts[first : last + 1]
    regex = "".join(p[0] for p in kept)
    # consecutive variable classes collapse: "\S+\S+" means the same as "\S+"
    regex = re.sub(r"(?:\\S\+){2,}", r"\\S+", regex)
    words = sum(p[2] for p in kept)
    chars = sum(len(p[0]) for p in kept if p[1])
    return _Generalised(regex=regex, stable_words=words, stable_chars=chars)


def _pick_line(lines: Iterable[str]) -> tuple[str, _Generalised] | None:
    best: tuple[str, _Generalised] | None = None
    for line in lines:
        if not line.strip() or _GENERIC_LINES.search(line):
            continue
        candidate = generalise(line)
        if candidate is None or candidate.stable_words < MIN_STABLE_WORDS:
            continue
        if best is None or candidate.stable_chars > best[1].stable_chars:
            best = (line, candidate)
    return best


def _pattern_id(category: str, regex: str) -> str:
    digest = hashlib.sha256(regex.encode()).hexdigest()[:6].upper()
    return f"SUGGESTED-{category.upper()}-{digest}"


def suggest_from_answer(entry: CachedAnswer) -> Suggestion | NotSuggested:
    answer = entry.answer
    lines = [str(e["text"]) for e in sorted(entry.evidence, key=lambda e: int(e["number"]))]
    if answer.get("category") == "unknown":
        return NotSuggested(entry.log, "the model could not explain this log")
    if not lines:
        return NotSuggested(entry.log, "the model cited no line that exists in the log")
    picked = _pick_line(lines)
    if picked is None:
        return NotSuggested(
            entry.log, f"no evidence line has {MIN_STABLE_WORDS}+ stable words to anchor on"
        )
    line, generalised = picked
    try:
        compiled = re.compile(generalised.regex)
    except re.error as exc:  # pragma: no cover - every part is escaped or a fixed class
        return NotSuggested(entry.log, f"generated regex does not compile ({exc})")
    example = "\n".join(lines)
    if not compiled.search(line) or not any(compiled.search(x) for x in example.splitlines()):
        return NotSuggested(entry.log, "generated regex does not match its own example")
    summary = str(answer.get("root_cause", "")).strip()
    title = re.split(r"(?<=[.!?])\s", summary, maxsplit=1)[0][:120] or "Suggested pattern"
    fix = str(answer.get("suggested_fix", "")).strip()
    description = summary
    if fix:
        description += f"\nSuggested fix: {fix}"
    description += (
        f"\nProposed by {entry.model} from {entry.log}; review the regex, risk and "
        "fix strategy before adding it."
    )
    pattern: dict[str, Any] = {
        "id": _pattern_id(str(answer["category"]), generalised.regex),
        "title": title if len(title) >= 3 else "Suggested pattern",
        "description": description,
        "category": answer["category"],
        "severity": answer["severity"],
        "owner": answer["owner"],
        "risk": DEFAULT_RISK,
        "transient": bool(answer.get("transient", False)),
        "fix_strategy": None,
        "auto_fix": "none",
        "priority": 60,
        "scope": "failure",
        "tags": ["suggested", f"llm:{entry.model}"],
        "regex": generalised.regex,
        "examples": [example],
    }
    return Suggestion(pattern=pattern, log=entry.log, model=entry.model)


def suggest_patterns(
    entries: Iterable[CachedAnswer],
    *,
    validate: bool = True,
    extra_patterns: Sequence[Path] = (),
) -> SuggestionReport:
    """Proposals for every explained log; the same regex is proposed once.

    With ``validate`` each proposal also goes through the pattern validator
    (``hee-monitor patterns validate``) together with the shipped database and
    ``extra_patterns`` (your pattern directories): its regex must compile in the fast engine
    and its example must rank it first; a proposal that fails is reported as not suggested,
    with the validator's reason (e.g. an existing pattern already explains the example).
    """
    suggestions: dict[str, Suggestion] = {}
    skipped: list[NotSuggested] = []
    for entry in entries:
        outcome = suggest_from_answer(entry)
        if isinstance(outcome, NotSuggested):
            skipped.append(outcome)
            continue
        regex = str(outcome.pattern["regex"])
        if regex in suggestions:
            existing = suggestions[regex].pattern
            existing["examples"] = [*existing["examples"], *outcome.pattern["examples"]][:5]
            continue
        suggestions[regex] = outcome
    kept = list(suggestions.values())
    if validate and kept:
        problems = _validator_problems([s.pattern for s in kept], extra_patterns)
        for suggestion in list(kept):
            reasons = problems.get(str(suggestion.pattern["id"]))
            if reasons:
                kept.remove(suggestion)
                skipped.append(
                    NotSuggested(suggestion.log, "pattern validator: " + "; ".join(reasons))
                )
    return SuggestionReport(tuple(kept), tuple(skipped))


def _validator_problems(
    patterns: list[dict[str, Any]], extra_patterns: Sequence[Path]
) -> dict[str, list[str]]:
    """Problems the pattern validator finds in ``patterns``, by pattern id."""
    from hee_monitor.analysis.validation import validate_files

    with tempfile.TemporaryDirectory(prefix="hee-suggest-") as tmp:
        path = Path(tmp) / "suggested.yaml"
        path.write_text(patterns_yaml(patterns), encoding="utf-8")
        problems = validate_files([*extra_patterns, path], shipped=True)
    ours = {str(p["id"]) for p in patterns}
    out: dict[str, list[str]] = {}
    for problem in problems:
        if problem.pattern_id in ours:  # problems of the user's own files are not ours
            out.setdefault(problem.pattern_id, []).append(problem.message)
    return out


def patterns_yaml(patterns: Iterable[dict[str, Any]]) -> str:
    """A pattern file holding ``patterns``, validated against the pattern database schema."""
    document = {
        "version": 1,
        "description": (
            "Patterns proposed by `hee-monitor patterns suggest` from logs the local model "
            "explained. Review each one before adding it to your pattern directory."
        ),
        "patterns": list(patterns),
    }
    validator = jsonschema.Draft202012Validator(load_schema("pattern_database.schema.json"))
    error = next(iter(validator.iter_errors(document)), None)
    if error is not None:  # a bug here, not user input: say exactly where
        where = "/".join(str(p) for p in error.absolute_path)
        raise PatternError(f"a suggested pattern is invalid at {where}: {error.message}")
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def read_log_excerpt(path: Path) -> LogExcerpt:
    """The bounded excerpt the analyzer would hand the fallback classifier for ``path``."""
    from hee_monitor.analysis.logreader import excerpt_from_path

    if not path.is_file():
        raise UsageError(f"{path}: cannot read the log (no such file)", hint="check the path")
    try:
        return excerpt_from_path(path)
    except OSError as exc:
        raise UsageError(
            f"{path}: cannot read the log ({exc.strerror})", hint="check the path"
        ) from None
