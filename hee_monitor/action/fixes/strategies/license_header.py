"""Add a missing license header (an SPDX line by default) to source files."""

from __future__ import annotations

import re
from pathlib import Path

from hee_monitor.action.fixes.files import read_text, repo_files, write_preserving_mode
from hee_monitor.action.fixes.strategies.interface import (
    Check,
    FixContext,
    FixPlan,
    Requirements,
    Safety,
    validation_for,
)
from hee_monitor.core.errors import FixError

DEFAULT_GLOBS = ("**/*.py", "**/*.sh", "**/*.js", "**/*.ts", "**/*.go", "**/*.rs")
#: how many leading lines may precede the header (shebang, encoding cookie, a blank line)
HEADER_WINDOW = 5

_HASH = (".py", ".sh", ".rb", ".pl", ".yml", ".yaml", ".toml", ".r")
_SLASH = (".js", ".jsx", ".ts", ".tsx", ".go", ".rs", ".c", ".h", ".cc", ".cpp", ".java", ".kt")

_LICENSE_IDS = (
    ("Apache License", "Apache-2.0"),
    ("MIT License", "MIT"),
    ("Mozilla Public License", "MPL-2.0"),
    ("GNU GENERAL PUBLIC LICENSE", "GPL-3.0-or-later"),
    ("BSD 3-Clause", "BSD-3-Clause"),
)


def comment_prefix(path: str) -> str | None:
    lower = path.lower()
    if lower.endswith(_HASH):
        return "# "
    if lower.endswith(_SLASH):
        return "// "
    return None


def detect_header(repo: Path, configured: str | None) -> str | None:
    """The header text without comment markers: configured, or the SPDX id of LICENSE."""
    if configured:
        return configured.strip()
    for name in ("LICENSE", "LICENSE.txt", "LICENSE.md", "COPYING"):
        path = repo / name
        if path.is_file():
            head = path.read_text(encoding="utf-8", errors="replace")[:2000]
            for marker, spdx in _LICENSE_IDS:
                if marker.lower() in head.lower():
                    return f"SPDX-License-Identifier: {spdx}"
    return None


def has_header(text: str, header: str) -> bool:
    first = text.splitlines()[:HEADER_WINDOW]
    return any(header in line for line in first)


def add_header(text: str, header: str, prefix: str) -> str:
    newline = "\r\n" if "\r\n" in text[:2000] else "\n"
    line = f"{prefix}{header}{newline}"
    lines = text.splitlines(keepends=True)
    insert_at = 0
    if lines and lines[0].startswith("#!"):
        insert_at = 1
    if len(lines) > insert_at and re.match(r"^#.*coding[:=]", lines[insert_at]):
        insert_at += 1
    lines.insert(insert_at, line)
    return "".join(lines)


def files_missing_header(repo: Path, header: str, globs: tuple[str, ...]) -> list[str]:
    missing = []
    for name in repo_files(repo, globs):
        if comment_prefix(name) is None:
            continue
        try:
            text = read_text(repo / name)
        except (UnicodeDecodeError, OSError):
            continue
        if text.strip() and not has_header(text, header):
            missing.append(name)
    return missing


class LicenseHeaderStrategy:
    id = "license-header"
    risk = 1
    safety = Safety.HIGH
    requirements = Requirements()

    def _header_and_globs(self, ctx: FixContext) -> tuple[str, tuple[str, ...]]:
        header = detect_header(ctx.repo, ctx.settings.get("license_header"))
        if header is None:
            raise FixError(
                "no license header to add: no LICENSE file names a known license",
                hint="set fixes.license_header in the repository configuration",
            )
        globs = tuple(ctx.settings.get("license_files", DEFAULT_GLOBS))
        return header, globs

    def plan(self, ctx: FixContext) -> FixPlan:
        header, globs = self._header_and_globs(ctx)
        missing = files_missing_header(ctx.repo, header, globs)
        return FixPlan(
            strategy=self.id,
            description=f"add the header {header!r} to {len(missing)} file(s)",
            commands=(),
            files=tuple(missing),
            edits=tuple(f"{name}: insert {header!r} at the top" for name in missing),
            validation=validation_for(
                ctx,
                self.id,
                (Check("license header check", builtin=self.id, args=(header, *globs)),),
            ),
            risk=self.risk,
            safety=self.safety,
        )

    def apply(self, ctx: FixContext) -> str:
        header, globs = self._header_and_globs(ctx)
        changed = []
        for name in files_missing_header(ctx.repo, header, globs):
            prefix = comment_prefix(name)
            assert prefix is not None  # files_missing_header keeps commentable files only
            path = ctx.repo / name
            write_preserving_mode(path, add_header(read_text(path), header, prefix))
            changed.append(name)
        return f"added the license header to {len(changed)} file(s): " + ", ".join(changed)


def check_license_header(repo: Path, args: tuple[str, ...]) -> tuple[bool, str]:
    if not args:
        return False, "license header check needs the header text"
    header, globs = args[0], tuple(args[1:]) or DEFAULT_GLOBS
    missing = files_missing_header(repo, header, globs)
    if missing:
        return False, "missing license header:\n" + "\n".join(missing)
    return True, "every file has the license header"
