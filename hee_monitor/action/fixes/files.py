"""Small file helpers shared by the file-editing strategies and the built-in checks."""

from __future__ import annotations

import fnmatch
import os
import subprocess
from pathlib import Path


def repo_files(repo: Path, patterns: tuple[str, ...]) -> list[str]:
    """Tracked and untracked-but-not-ignored files matching any glob pattern, sorted.

    Falls back to walking the directory when ``repo`` is not a git work tree.
    """
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=repo,
            capture_output=True,
            check=True,
        ).stdout.decode("utf-8", "surrogateescape")
        names = sorted({n for n in out.split("\0") if n})
    except (subprocess.CalledProcessError, FileNotFoundError):
        names = sorted(
            str(p.relative_to(repo)).replace(os.sep, "/")
            for p in repo.rglob("*")
            if p.is_file() and ".git" not in p.parts
        )
    return [n for n in names if matches(n, patterns) and (repo / n).is_file()]


def matches(path: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """Glob match where ``**/`` also matches the top directory (``**/*.py`` matches ``a.py``)."""
    for pattern in patterns:
        if fnmatch.fnmatchcase(path, pattern):
            return True
        if pattern.startswith("**/") and fnmatch.fnmatchcase(path, pattern[3:]):
            return True
        if pattern.endswith("/**") and path.startswith(pattern[:-3] + "/"):
            return True
    return False


def write_preserving_mode(path: Path, text: str) -> None:
    """Rewrite a file in place (same inode, same mode), keeping its newline bytes as given."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def read_text(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as fh:
        return fh.read()
