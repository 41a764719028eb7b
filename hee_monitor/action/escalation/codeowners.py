"""CODEOWNERS: who owns the files a failure points at.

GitHub reads the first of ``.github/CODEOWNERS``, ``CODEOWNERS`` and ``docs/CODEOWNERS``.
Each line is a gitignore-style pattern followed by owners (``@user``, ``@org/team`` or an
e-mail address); the *last* matching line wins, and a pattern without owners leaves the
path unowned. Patterns are matched with ``pathspec``'s gitignore matching (CODEOWNERS has no
``!`` negation; such lines are ignored, as GitHub ignores them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pathspec

#: where GitHub looks, in order
LOCATIONS: Final = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
#: relative file paths in evidence text ("src/app/db.py", "tests/test_api.py:42")
_PATH_IN_TEXT: Final = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)+[\w.-]+\.[A-Za-z0-9]+)")


@dataclass(frozen=True)
class Rule:
    pattern: str
    owners: tuple[str, ...]
    line: int
    spec: pathspec.PathSpec[Any]


@dataclass(frozen=True)
class CodeOwners:
    rules: tuple[Rule, ...] = ()
    #: where the file was read from ("" when there is none)
    source: str = ""

    @classmethod
    def parse(cls, text: str, source: str = "CODEOWNERS") -> CodeOwners:
        rules: list[Rule] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
            if not line or line.startswith("!"):
                continue
            parts = line.split()
            pattern, owners = parts[0].replace("\\#", "#"), tuple(parts[1:])
            try:
                spec = pathspec.PathSpec.from_lines("gitignore", [pattern])
            except (ValueError, TypeError):
                continue  # GitHub skips lines it cannot parse too
            rules.append(Rule(pattern, owners, number, spec))
        return cls(tuple(rules), source)

    def owners_of(self, path: str) -> tuple[str, ...]:
        """Owners of ``path`` (relative to the repository root): the last matching rule's."""
        path = path.removeprefix("./").lstrip("/")
        for rule in reversed(self.rules):
            if rule.spec.match_file(path):
                return rule.owners
        return ()

    def owners_for(self, paths: Iterable[str]) -> tuple[str, ...]:
        """Owners of any of ``paths``, in first-seen order, without duplicates."""
        found: dict[str, None] = {}
        for path in paths:
            for owner in self.owners_of(path):
                found.setdefault(owner, None)
        return tuple(found)


def assignable(owners: Sequence[str]) -> tuple[list[str], list[str]]:
    """(users to assign, teams and e-mails to mention): only users can be issue assignees."""
    users = [o[1:] for o in owners if o.startswith("@") and "/" not in o]
    others = [o for o in owners if not (o.startswith("@") and "/" not in o)]
    return users, others


def paths_in(texts: Iterable[str]) -> list[str]:
    """Relative file paths mentioned in evidence text, in order, without duplicates."""
    found: dict[str, None] = {}
    for text in texts:
        for match in _PATH_IN_TEXT.finditer(text):
            found.setdefault(match.group(1), None)
    return list(found)


def from_checkout(root: Path) -> CodeOwners:
    """The CODEOWNERS of a local checkout (empty when it has none)."""
    for location in LOCATIONS:
        path = root / location
        if path.is_file():
            try:
                return CodeOwners.parse(
                    path.read_text(encoding="utf-8", errors="replace"), location
                )
            except OSError:
                continue
    return CodeOwners()


def from_reader(read: Callable[[str], bytes | None]) -> CodeOwners:
    """The CODEOWNERS read through ``read(path) -> bytes | None`` (the contents API)."""
    for location in LOCATIONS:
        data = read(location)
        if data is not None:
            return CodeOwners.parse(data.decode("utf-8", errors="replace"), location)
    return CodeOwners()
