"""Small file helpers shared by the file-editing strategies and the built-in checks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from hee_monitor.decision.fix_gate import matches as matches  # the protected-path globs


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


def write_preserving_mode(path: Path, text: str) -> None:
    """Rewrite a file in place (same inode, same mode), keeping its newline bytes as given."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def read_text(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as fh:
        return fh.read()
