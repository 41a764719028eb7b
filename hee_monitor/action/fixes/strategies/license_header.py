"""Add a missing license header (SPDX lines) to the source files the failing check named.

What to write is inferred from the repository before anything is given up on:

1. the ``license_header`` setting, when the repository configured one;
2. the header the repository's files already carry: the leading comment lines with SPDX tags
   (``SPDX-FileCopyrightText``, ``SPDX-License-Identifier``), the most common block per file
   type, in that type's comment style (a type without a sample gets the most common block
   in its own comment style);
3. the SPDX id of the LICENSE file.

Which files: those the failing step's log names and that lack the header; only when it names
none, every file of a type that already carries the header elsewhere (or, with a configured or
LICENSE-derived header, the default source globs).
"""

from __future__ import annotations

import re
from collections import Counter
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
#: files read to learn the repository's header
MAX_SAMPLES = 2000

_HASH = (".py", ".sh", ".bash", ".rb", ".pl", ".yml", ".yaml", ".toml", ".r", ".cfg", ".ps1")
_SLASH = (
    ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".go", ".rs", ".c", ".h", ".cc", ".cpp",
    ".hpp", ".java", ".kt", ".kts", ".swift", ".scala", ".cs", ".dart", ".proto", ".php",
)  # fmt: skip
_BLOCK = {".css": ("/* ", " */"), ".scss": ("/* ", " */"), ".less": ("/* ", " */")}

_LICENSE_IDS = (
    ("Apache License", "Apache-2.0"),
    ("MIT License", "MIT"),
    ("Mozilla Public License", "MPL-2.0"),
    ("GNU GENERAL PUBLIC LICENSE", "GPL-3.0-or-later"),
    ("BSD 3-Clause", "BSD-3-Clause"),
)
_SPDX_TAG = re.compile(r"SPDX-(?:License-Identifier|FileCopyrightText|FileContributor)\s*:")
_LICENSE_ID = re.compile(r"SPDX-License-Identifier\s*:\s*(\S.*?)\s*(?:\*/|-->)?\s*$")


def _ext(path: str) -> str:
    return Path(path).suffix.lower()


def comment_style(path: str) -> tuple[str, str] | None:
    """(prefix, suffix) of a one-line comment in this file type, None when unknown."""
    ext = _ext(path)
    if ext in _HASH or Path(path).name in ("Dockerfile", "Makefile"):
        return "# ", ""
    if ext in _SLASH:
        return "// ", ""
    return _BLOCK.get(ext)


def comment_prefix(path: str) -> str | None:
    style = comment_style(path)
    return style[0] if style else None


def _uncomment(line: str) -> str:
    text = line.strip()
    for opener in ("//", "#", "/*", "*", "<!--", "--", ";"):
        if text.startswith(opener):
            text = text[len(opener) :].strip()
            break
    for closer in ("*/", "-->"):
        if text.endswith(closer):
            text = text[: -len(closer)].strip()
    return text


def header_block(text: str) -> tuple[str, ...] | None:
    """The file's SPDX header lines as written (comment markers kept), or None."""
    lines = text.splitlines()[: HEADER_WINDOW + 6]
    block: list[str] = []
    for line in lines:
        if _SPDX_TAG.search(line):
            block.append(line.rstrip("\r\n"))
        elif block:
            break
    return tuple(block) if block and any(_LICENSE_ID.search(b) for b in block) else None


def learned_headers(repo: Path) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...] | None]:
    """The header block the repository's files carry, per extension (as written), and the
    most common block's content without comment markers (for types without a sample)."""
    per_ext: dict[str, Counter[tuple[str, ...]]] = {}
    content: Counter[tuple[str, ...]] = Counter()
    for name in repo_files(repo, ("**",))[:MAX_SAMPLES]:
        if comment_style(name) is None:
            continue
        try:
            with open(repo / name, encoding="utf-8", newline="") as fh:
                head = fh.read(4000)
        except (UnicodeDecodeError, OSError):
            continue
        block = header_block(head)
        if block is None:
            continue
        per_ext.setdefault(_ext(name), Counter())[block] += 1
        content[tuple(_uncomment(b) for b in block)] += 1
    best = {ext: c.most_common(1)[0][0] for ext, c in per_ext.items()}
    common = content.most_common(1)[0][0] if content else None
    return best, common


def license_file_header(repo: Path) -> str | None:
    for name in ("LICENSE", "LICENSE.txt", "LICENSE.md", "COPYING"):
        path = repo / name
        if path.is_file():
            head = path.read_text(encoding="utf-8", errors="replace")[:2000]
            for marker, spdx in _LICENSE_IDS:
                if marker.lower() in head.lower():
                    return f"SPDX-License-Identifier: {spdx}"
    return None


def detect_header(repo: Path, configured: str | None) -> str | None:
    """The header text without comment markers: configured, learned or from LICENSE."""
    if configured:
        return configured.strip()
    _, common = learned_headers(repo)
    if common:
        return "\n".join(common)
    return license_file_header(repo)


class HeaderSource:
    """What to write into a file of a given type."""

    def __init__(self, repo: Path, configured: str | None) -> None:
        self.configured = configured.strip() if configured else None
        self.per_ext: dict[str, tuple[str, ...]] = {}
        self.common: tuple[str, ...] | None = None
        if self.configured:
            self.common = tuple(self.configured.splitlines())
            self.origin = "configuration"
        else:
            self.per_ext, self.common = learned_headers(repo)
            self.origin = "the repository's files"
            if self.common is None:
                from_license = license_file_header(repo)
                self.common = (from_license,) if from_license else None
                self.origin = "the LICENSE file"

    @property
    def known(self) -> bool:
        return self.common is not None

    @property
    def marker(self) -> str:
        """The line every fixed file must carry (the license id, or the first line)."""
        assert self.common is not None
        for line in self.common:
            if _LICENSE_ID.search(line):
                return line.strip()
        return self.common[0].strip()

    def lines_for(self, path: str) -> tuple[str, ...] | None:
        if not self.configured and _ext(path) in self.per_ext:
            return self.per_ext[_ext(path)]
        style = comment_style(path)
        if style is None or self.common is None:
            return None
        prefix, suffix = style
        return tuple(f"{prefix}{line}{suffix}" for line in self.common)

    def default_scope(self) -> tuple[str, ...]:
        if self.per_ext:
            return tuple(f"**/*{ext}" for ext in sorted(self.per_ext))
        return DEFAULT_GLOBS


def has_header(text: str, header: str) -> bool:
    first = text.splitlines()[: HEADER_WINDOW + 6]
    marker = header.splitlines()[0].strip() if header.strip() else header
    m = _LICENSE_ID.search(marker)
    if m:  # any SPDX id line of the same license counts, whatever its comment style
        return any(
            (found := _LICENSE_ID.search(line)) is not None and found.group(1) == m.group(1)
            for line in first
        )
    return any(marker in line for line in first)


def add_header(text: str, header: str | tuple[str, ...], prefix: str = "") -> str:
    """The text with the header lines inserted after a shebang and an encoding cookie."""
    newline = "\r\n" if "\r\n" in text[:2000] else "\n"
    lines_in = (header,) if isinstance(header, str) else header
    block = [f"{prefix}{line}{newline}" for line in lines_in]
    lines = text.splitlines(keepends=True)
    insert_at = 0
    if lines and lines[0].startswith("#!"):
        insert_at = 1
    if len(lines) > insert_at and re.match(r"^#.*coding[:=]", lines[insert_at]):
        insert_at += 1
    lines[insert_at:insert_at] = block
    return "".join(lines)


def files_missing_header(repo: Path, header: str, globs: tuple[str, ...]) -> list[str]:
    missing = []
    for name in repo_files(repo, globs):
        if comment_style(name) is None:
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

    def _source(self, ctx: FixContext) -> HeaderSource:
        configured = ctx.settings.get("license_header")
        source = HeaderSource(ctx.repo, str(configured) if configured else None)
        if not source.known:
            raise FixError(
                "no license header to add: no file of the repository carries an "
                "SPDX-License-Identifier and no LICENSE file names a known license",
                hint="set fixes.settings.license_header in .hee-monitor.yml",
            )
        return source

    def _targets(self, ctx: FixContext, source: HeaderSource) -> tuple[list[str], bool]:
        """Files to fix, and whether the log named them."""
        named = [n for n in ctx.named_files() if comment_style(n) is not None]
        if named:
            scope = tuple(named)
        else:
            configured = ctx.settings.get("license_files")
            scope = tuple(configured) if configured else source.default_scope()
        return files_missing_header(ctx.repo, source.marker, scope), bool(named)

    def plan(self, ctx: FixContext) -> FixPlan:
        source = self._source(ctx)
        missing, named = self._targets(ctx, source)
        where = "the file(s) the log names" if named else "file(s)"
        return FixPlan(
            strategy=self.id,
            description=f"add the header {source.marker!r} (from {source.origin}) to "
            f"{len(missing)} {where}",
            commands=(),
            files=tuple(missing),
            edits=tuple(f"{name}: insert {source.marker!r} at the top" for name in missing),
            validation=validation_for(
                ctx,
                self.id,
                (
                    Check(
                        "license header check",
                        builtin=self.id,
                        impl=check_license_header,
                        args=(source.marker, *missing),
                    ),
                ),
            ),
            risk=self.risk,
            safety=self.safety,
        )

    def apply(self, ctx: FixContext) -> str:
        source = self._source(ctx)
        missing, _ = self._targets(ctx, source)
        if not missing:
            raise FixError("every file the log names already carries the header")
        changed = []
        for name in missing:
            block = source.lines_for(name)
            if block is None:
                continue
            path = ctx.repo / name
            write_preserving_mode(path, add_header(read_text(path), block))
            changed.append(name)
        return f"added the license header to {len(changed)} file(s): " + ", ".join(changed)


def check_license_header(repo: Path, args: tuple[str, ...]) -> tuple[bool, str]:
    """Every listed file (paths or globs) carries the header's license line."""
    if not args:
        return False, "license header check needs the header text"
    header, globs = args[0], tuple(args[1:]) or DEFAULT_GLOBS
    missing = files_missing_header(repo, header, globs)
    if missing:
        return False, "missing license header:\n" + "\n".join(missing)
    return True, "every file has the license header"
