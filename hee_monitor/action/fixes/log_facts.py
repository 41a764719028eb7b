"""What a fix needs to know that only the failing step's log says: the files it names, the
token permission it was denied, the vulnerable packages and the versions that fix them.

Read from the failing step's own lines (a GitHub Actions step runs from ``##[group]Run …``
to the next step), or from the whole log when it marks no steps. Every reader is bounded:
a step is cut at :data:`MAX_STEP_CHARS`, at most :data:`MAX_ITEMS` facts of a kind are kept.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hee_monitor.action.fixes.files import repo_files

MAX_STEP_CHARS = 2_000_000
MAX_ITEMS = 200

_TIMESTAMP = re.compile(r"^\ufeff?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
_GROUP = re.compile(r"^##\[group\]Run (.*)$")
_RUNNER_END = re.compile(r"^(?:Post job cleanup\.|Cleaning up orphan processes)")


def clean_lines(text: str) -> list[str]:
    """The log's lines without runner timestamps and colour codes."""
    return [_ANSI.sub("", _TIMESTAMP.sub("", line)) for line in text[:MAX_STEP_CHARS].splitlines()]


def step_lines(text: str, step: str | None) -> list[str]:
    """The output lines of the step that ran ``step`` (the last such step; its echoed
    script and env left out), or every line when the log has no such step."""
    lines = clean_lines(text)
    if not step:
        return lines
    wanted = " ".join(step.removeprefix("Run ").split())
    start = None
    for i, line in enumerate(lines):
        m = _GROUP.match(line)
        if m and " ".join(m.group(1).split()) == wanted:
            start = i
    if start is None:
        return lines
    body = start + 1
    for j in range(start + 1, min(len(lines), start + 400)):
        if lines[j].startswith("##[endgroup]"):
            body = j + 1
            break
    end = len(lines)
    for j in range(body, len(lines)):
        if _GROUP.match(lines[j]) or _RUNNER_END.match(lines[j]):
            end = j
            break
    return lines[body:end]


# ---- files the log names -------------------------------------------------------------------

_SOURCE_EXT = (
    "py|pyi|ipynb|rs|go|js|jsx|mjs|cjs|ts|tsx|mts|cts|vue|svelte|css|scss|less|json|jsonc|"
    "md|mdx|yml|yaml|toml|html|sh|bash|rb|java|kt|c|h|cc|cpp|hpp|cs|php|swift"
)
_PATH = re.compile(
    r"(?<![\w./@:-])(/?(?:[\w.@+-]+/)*[\w.@+-]+\.(?:" + _SOURCE_EXT + r"))(?![\w/-])"
)


def log_file_tokens(lines: Iterable[str]) -> list[str]:
    """Path-like words of the log, in order, each once (absolute ones included)."""
    seen: dict[str, None] = {}
    for line in lines:
        if len(seen) >= MAX_ITEMS:
            break
        for m in _PATH.finditer(line[:4000]):
            token = m.group(1)
            start = m.start(1)
            if "://" in line[max(0, start - 8) : start]:
                continue
            seen.setdefault(token, None)
    return list(seen)


def resolve_files(repo: Path, tokens: Iterable[str], working_directory: str = "") -> list[str]:
    """The repository files (relative paths) the tokens name: relative to the working
    directory or the root, or an absolute runner path whose tail is a repository file."""
    files = repo_files(repo, ("**",))
    known = set(files)
    found: dict[str, None] = {}
    wd = working_directory.strip("/")
    for token in tokens:
        token = token.removeprefix("./")
        candidates: list[str] = []
        if token.startswith("/"):
            parts = token.strip("/").split("/")
            for n in range(len(parts)):
                tail = "/".join(parts[n:])
                hits = [c for c in ((f"{wd}/{tail}" if wd else tail), tail) if c in known]
                if hits:
                    candidates = hits[:1]
                    break
        else:
            normal = os.path.normpath(f"{wd}/{token}" if wd else token).replace(os.sep, "/")
            for c in (normal, token):
                if c in known:
                    candidates = [c]
                    break
        for c in candidates:
            found.setdefault(c, None)
    return list(found)


# ---- the permission a token was denied -----------------------------------------------------

#: (regex over the step's text, permission) — checked in order, first hit wins
_PERMISSION_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rx, re.IGNORECASE), perm)
    for rx, perm in (
        (r"installation not allowed to (?:write|create) organization package", "packages"),
        (r"denied: permission_denied: (?:write_package|the token provided does not match)",
         "packages"),
        (r"ghcr\.io[^\n]*(?:denied|unauthorized|403 forbidden)", "packages"),
        (r"npm\.pkg\.github\.com[^\n]*(?:403|401|forbidden|unauthorized)", "packages"),
        (r"ACTIONS_ID_TOKEN_REQUEST_(?:URL|TOKEN)", "id-token"),
        (r"Could not (?:get|fetch) an? (?:OIDC|ID) token", "id-token"),
        (r"Permission to [^ ]+ denied to github-actions\[bot\]", "contents"),
        (r"unable to access 'https://github\.com/[^']+': The requested URL returned error: 403",
         "contents"),
    )
)  # fmt: skip
_NOT_ACCESSIBLE = re.compile(r"Resource not accessible by integration", re.IGNORECASE)
#: what the API call that was refused was about → the permission it needs
_API_HINTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rx, re.IGNORECASE), perm)
    for rx, perm in (
        (r"/pulls\b|pull[ _-]?request|createReview|pulls\.|requested_reviewers", "pull-requests"),
        (r"/check-runs|/check-suites|checks\.create|check run", "checks"),
        (r"/statuses/|createCommitStatus|commit status", "statuses"),
        (r"/deployments|createDeployment", "deployments"),
        (r"code-scanning|sarif|security-events", "security-events"),
        (r"/releases|createRelease|release", "contents"),
        (r"/git/refs|/contents/|createOrUpdateFileContents", "contents"),
        (r"/labels|addLabels|/issues/|issues\.|createComment|issue comment", "issues"),
        (r"/actions/|workflow_dispatch|createWorkflowDispatch", "actions"),
        (r"/pages\b|deploy-pages", "pages"),
        (r"/packages/", "packages"),
    )
)  # fmt: skip


def denied_permission(lines: list[str]) -> str | None:
    """The ``GITHUB_TOKEN`` permission scope the step was refused (it needs ``write``), or
    None when the log does not tell (a Docker Hub or cloud credential problem is not one)."""
    text = "\n".join(lines[-3000:])
    for rx, perm in _PERMISSION_RULES:
        if rx.search(text):
            return perm
    for i, line in enumerate(lines):
        if _NOT_ACCESSIBLE.search(line):
            around = "\n".join(lines[max(0, i - 15) : i + 15])
            for rx, perm in _API_HINTS:
                if rx.search(around):
                    return perm
    return None


# ---- vulnerable packages -------------------------------------------------------------------

_ADVISORY = re.compile(
    r"\b(?:GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}|CVE-\d{4}-\d{4,}|PYSEC-\d{4}-\d+|"
    r"RUSTSEC-\d{4}-\d{4}|GO-\d{4}-\d{4}|OSV-\d{4}-\d+)\b"
)
_VERSION = r"v?\d+(?:\.\d+)*(?:[-.+]?[\w.]+)?"


@dataclass
class Upgrade:
    """A vulnerable package, the version installed, the first version that fixes it."""

    package: str
    installed: str | None = None
    fixed: str | None = None
    advisories: list[str] = field(default_factory=list)
    ecosystem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "installed": self.installed,
            "fixed": self.fixed,
            "advisories": list(self.advisories),
            "ecosystem": self.ecosystem,
        }


def _merge(found: dict[str, Upgrade], up: Upgrade) -> None:
    key = up.package.lower()
    have = found.get(key)
    if have is None:
        if len(found) < MAX_ITEMS:
            found[key] = up
        return
    have.installed = have.installed or up.installed
    have.fixed = _higher(have.fixed, up.fixed)
    for a in up.advisories:
        if a not in have.advisories:
            have.advisories.append(a)
    have.ecosystem = have.ecosystem or up.ecosystem


def _higher(a: str | None, b: str | None) -> str | None:
    from packaging.version import InvalidVersion, Version

    if not a or not b:
        return a or b
    try:
        return a if Version(a) >= Version(b) else b
    except InvalidVersion:
        return a


def _first_version(text: str) -> str | None:
    m = re.search(r"\d+(?:\.\d+)+(?:[-+.]?[A-Za-z0-9.]+)?", text)
    return m.group(0) if m else None


def _cells(line: str) -> list[str] | None:
    stripped = line.strip()
    for bar in ("│", "|", "┃"):
        if stripped.startswith(bar) and stripped.endswith(bar) and stripped.count(bar) >= 3:
            return [c.strip() for c in stripped.strip(bar).split(bar)]
    return None


_HEAD_PACKAGE = ("library", "package", "name", "crate", "module", "dependency")
_HEAD_INSTALLED = ("installed version", "installed", "version", "current version")
_HEAD_FIXED = ("fixed version", "fix versions", "fixed in", "fix version", "patched versions")
_HEAD_ID = ("vulnerability", "id", "osv url", "advisory", "cve", "vulnerability id")
_HEAD_ECOSYSTEM = ("ecosystem", "type")


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def _tables(lines: list[str], found: dict[str, Upgrade]) -> None:
    """trivy, osv-scanner and grype-style tables (box drawing or pipes)."""
    header: list[str] | None = None
    columns: dict[str, int | None] = {}
    last: Upgrade | None = None
    for line in lines:
        cells = _cells(line)
        if cells is None:
            if not re.match(r"^[\u2500-\u257f+\-|=\s]+$", line):
                header, last = (None, None) if not line.strip() else (header, last)
            continue
        pkg_col = _column(cells, _HEAD_PACKAGE)
        if pkg_col is not None and (_column(cells, _HEAD_ID) is not None):
            header = cells
            columns = {
                "package": pkg_col,
                "installed": _column(cells, _HEAD_INSTALLED),
                "fixed": _column(cells, _HEAD_FIXED),
                "id": _column(cells, _HEAD_ID),
                "ecosystem": _column(cells, _HEAD_ECOSYSTEM),
            }
            continue
        if header is None or len(cells) != len(header):
            continue

        def cell(
            name: str, cells: list[str] = cells, columns: dict[str, int | None] = columns
        ) -> str:
            index = columns.get(name)
            return cells[index] if index is not None and index < len(cells) else ""

        package = cell("package")
        ids = _ADVISORY.findall(cell("id")) or _ADVISORY.findall(" ".join(cells))
        if not package and last is not None:  # a continuation row (more ids, wrapped)
            for a in ids:
                if a not in last.advisories:
                    last.advisories.append(a)
            continue
        if not package or not re.match(r"^[\w@./-]+$", package):
            continue
        up = Upgrade(
            package,
            _first_version(cell("installed")),
            _first_version(cell("fixed")),
            ids,
            cell("ecosystem") or None,
        )
        _merge(found, up)
        last = found.get(package.lower())


def _pip_audit(lines: list[str], found: dict[str, Upgrade]) -> None:
    """``Name Version ID Fix Versions`` columns; ``--desc``/JSON forms name the same."""
    in_table = False
    for line in lines:
        if re.match(r"^Name\s+Version\s+ID\s+Fix Versions", line):
            in_table = True
            continue
        if not in_table:
            continue
        if re.match(r"^-+(\s+-+)+\s*$", line):
            continue
        m = re.match(r"^([A-Za-z0-9][\w.-]*)\s+(" + _VERSION + r")\s+(\S+)(?:\s+(\S.*))?$", line)
        if not m or (not _ADVISORY.search(m.group(3)) and not re.match(r"^[A-Z]+-", m.group(3))):
            in_table = bool(line.strip()) and in_table and m is not None
            continue
        fixes = [v.strip() for v in (m.group(4) or "").split(",") if v.strip()]
        _merge(found, Upgrade(m.group(1), m.group(2), fixes[0] if fixes else None,
                              [m.group(3)], "PyPI"))  # fmt: skip


def _cargo_audit(lines: list[str], found: dict[str, Upgrade]) -> None:
    current: dict[str, str] = {}

    def flush() -> None:
        if "Crate" in current:
            solution = current.get("Solution", "")
            _merge(
                found,
                Upgrade(current["Crate"], current.get("Version"),
                        _first_version(solution), _ADVISORY.findall(current.get("ID", "")),
                        "crates.io"),
            )  # fmt: skip
        current.clear()

    for line in lines:
        m = re.match(r"^(Crate|Version|Title|ID|Solution|URL|Date|Severity):\s+(.*)$", line)
        if not m:
            continue
        if m.group(1) == "Crate":
            flush()
        current[m.group(1)] = m.group(2).strip()
    flush()


def _npm_audit(lines: list[str], found: dict[str, Upgrade]) -> None:
    """``# npm audit report``: a package and its vulnerable range, the advisories, the fix."""
    current: Upgrade | None = None
    for line in lines:
        m = re.match(r"^(@?[\w.-]+(?:/[\w.-]+)?)\s+(?:[<>=^~*]|\d)[^\s]*(?:\s+\|\|\s+.*)?$", line)
        if m and not line.startswith(("node_modules", "Severity")):
            current = Upgrade(m.group(1), None, None, [], "npm")
            _merge(found, current)
            current = found.get(m.group(1).lower())
            continue
        if current is None:
            continue
        current.advisories.extend(a for a in _ADVISORY.findall(line)
                                  if a not in current.advisories)  # fmt: skip
        will = re.search(r"Will install ([@\w./-]+)@(" + _VERSION + ")", line)
        if will and will.group(1) == current.package:
            current.fixed = will.group(2)
        installed = re.match(r"^node_modules/(@?[\w.-]+(?:/[\w.-]+)?)$", line.strip())
        if installed and installed.group(1) != current.package:
            continue
        if not line.strip():
            current = None


def vulnerable_packages(lines: list[str]) -> list[Upgrade]:
    """Package, installed and fixed versions and advisory ids from pip-audit, npm audit,
    cargo audit, osv-scanner and trivy output."""
    found: dict[str, Upgrade] = {}
    _pip_audit(lines, found)
    _cargo_audit(lines, found)
    _tables(lines, found)
    if any(line.strip() == "# npm audit report" for line in lines):
        _npm_audit(lines, found)
    return list(found.values())


# ---- all together --------------------------------------------------------------------------


def facts(text: str, step: str | None, category: str) -> dict[str, Any]:
    """Details to add to a finding of this log (only keys the log gives)."""
    lines = step_lines(text, step)
    out: dict[str, Any] = {}
    tokens = log_file_tokens(lines)
    if tokens:
        out["log_files"] = tokens
    if category in ("auth", "permission", "configuration"):
        perm = denied_permission(lines)
        if perm:
            out["permission"] = perm
    if category == "security":
        ups = vulnerable_packages(lines)
        if ups:
            out["upgrades"] = [u.to_json() for u in ups]
            first = next((u for u in ups if u.fixed), ups[0])
            out.setdefault("package", first.package)
            if first.fixed:
                out.setdefault("version", first.fixed)
            out["advisories"] = sorted({a for u in ups for a in u.advisories})
    return out


def enrich(details: Mapping[str, Any], text: str, category: str) -> dict[str, Any]:
    """The finding's details with the log's facts added (what the analyzer said wins)."""
    step = details.get("step")
    added = facts(text, step if isinstance(step, str) else None, category)
    return {**added, **details}
