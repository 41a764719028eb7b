"""Test skeletons for the functions to test first.

A Python function gets a pytest module that imports it and lists the lines and branches the
test should reach; anything else gets a language-neutral checklist. Skeletons are skipped
tests, so adding one never turns a build red: a person fills it in and removes the skip.
Existing files are never overwritten.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hee_monitor.analysis.coverage.analyze import TestTarget
from hee_monitor.core.errors import CoverageError

_SOURCE_ROOTS = ("src/", "lib/", "python/")


def _ranges(numbers: Sequence[int]) -> str:
    out: list[str] = []
    start = prev = None
    for n in sorted(numbers):
        if prev is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
        start = prev = n
    if start is not None:
        out.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ", ".join(out)


def module_name(path: str) -> str | None:
    """``src/pkg/mod.py`` → ``pkg.mod``; None when the path is not an importable module."""
    p = path.replace("\\", "/").lstrip("./")
    if not p.endswith(".py"):
        return None
    for root in _SOURCE_ROOTS:
        if p.startswith(root):
            p = p[len(root) :]
            break
    parts = p[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


def _slug(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower() or "target"


def _why(target: TestTarget) -> list[str]:
    lines = [
        f"{target.path}:{target.start_line}-{target.end_line} {target.function}",
        f"uncovered lines: {_ranges(target.uncovered_lines) or 'none'}",
    ]
    if target.branches:
        lines.append(f"branch outcomes: {target.branches} ({target.missing_branches} never taken)")
    if not target.called:
        lines.append("never called by any test")
    lines.append(f"priority score: {target.score} = uncovered lines x (1 + branches)")
    return lines


def pytest_skeleton(target: TestTarget) -> str | None:
    """A pytest module for ``target``, or None if it is not a Python function."""
    module = module_name(target.path)
    if module is None:
        return None
    if not all(part.isidentifier() for part in target.function.split(".")):
        return None  # e.g. "(anonymous_1)" or "<lambda>": nothing to import by name
    owner, _, leaf = target.function.rpartition(".")
    importable = owner.split(".")[0] if owner else target.function
    call = f"{owner}(...).{leaf}(...)" if owner else f"{target.function}(...)"
    why = "\n".join(f"#   {line}" for line in _why(target))
    test_name = f"test_{_slug(target.function)}"
    cases = [f"def {test_name}() -> None:"]
    cases.append("    # Arrange: inputs that reach the uncovered lines listed above")
    cases.append(f"    result = {call}")
    cases.append("    # Assert what the function must do, not just that it runs")
    cases.append("    assert result == ...")
    if target.missing_branches:
        cases += [
            "",
            "",
            f"def {test_name}_other_branch() -> None:",
            "    # Arrange the input that takes the branch no test takes yet",
            f"    result = {call}",
            "    assert result == ...",
        ]
    return (
        f'"""Tests for {module}.{target.function}."""\n\n'
        "from __future__ import annotations\n\n"
        "import pytest\n\n"
        f"from {module} import {importable}\n\n"
        "# Written by `hee-monitor coverage analyze --skeletons`: fill in, then remove the skip.\n"
        f"{why}\n"
        'pytestmark = pytest.mark.skip(reason="test skeleton: not written yet")\n\n\n'
        + "\n".join(cases)
        + "\n"
    )


def generic_skeleton(target: TestTarget) -> str:
    why = "\n".join(f"- {line}" for line in _why(target))
    return (
        f"# Test to write: {target.function} ({target.path})\n\n"
        f"{why}\n\n"
        "## Cases\n\n"
        "1. Given inputs that reach the uncovered lines, when the function runs, then ...\n"
        + (
            "2. Given the input that takes the branch no test takes yet, then ...\n"
            if target.missing_branches
            else ""
        )
    )


@dataclass(frozen=True)
class Skeleton:
    filename: str
    text: str
    language: str


def skeleton_for(target: TestTarget) -> Skeleton:
    text = pytest_skeleton(target)
    stem = f"{_slug(Path(target.path).stem)}_{_slug(target.function)}"
    if text is not None:
        return Skeleton(f"test_{stem}.py", text, "python")
    return Skeleton(f"{stem}.test-plan.md", generic_skeleton(target), "generic")


@dataclass(frozen=True)
class WrittenSkeletons:
    written: tuple[Path, ...]
    kept_existing: tuple[Path, ...]


def write_skeletons(targets: Iterable[TestTarget], directory: Path) -> WrittenSkeletons:
    written: list[Path] = []
    kept: list[Path] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for target in targets:
            skeleton = skeleton_for(target)
            path = directory / skeleton.filename
            try:
                with path.open("x", encoding="utf-8") as fh:  # never overwrite
                    fh.write(skeleton.text)
            except FileExistsError:
                kept.append(path)
                continue
            written.append(path)
    except OSError as exc:
        raise CoverageError(
            f"{directory}: cannot write test skeletons ({exc.strerror})",
            hint="choose a writable --skeletons directory",
        ) from None
    return WrittenSkeletons(tuple(written), tuple(kept))
