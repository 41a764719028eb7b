"""Evidence: the lines of the original log that show a failure.

The analyzer sees a log as a sequence of blocks. :class:`LineWindow` keeps the few recent
blocks that pending evidence still needs (context before and after a matching line, or up
to an ``end`` line), so memory stays bounded whatever the log size.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from hee_monitor.analysis.logreader import Block, normalise_line
from hee_monitor.analysis.matcher import Searcher


class _WindowBlock:
    """A block plus known line starts; a line is found by walking newlines from the
    nearest known start (cheaper than splitting a block of tens of thousands of lines)."""

    __slots__ = ("_lines", "_offsets", "data", "first_line", "last_line")

    def __init__(self, block: Block) -> None:
        self.first_line = block.first_line
        self.data = block.data
        self.last_line = block.last_line
        self._lines: list[int] = [block.first_line]  # sorted known line starts
        self._offsets: list[int] = [0]

    def anchor(self, number: int, offset: int) -> None:
        i = bisect.bisect_left(self._lines, number)
        if i < len(self._lines) and self._lines[i] == number:
            return
        self._lines.insert(i, number)
        self._offsets.insert(i, offset)

    def line(self, number: int) -> bytes:
        data = self.data
        i = bisect.bisect_right(self._lines, number) - 1
        ln, off = self._lines[i], self._offsets[i]
        if i + 1 < len(self._lines) and self._lines[i + 1] - number < number - ln:
            ln, off = self._lines[i + 1], self._offsets[i + 1]
        while ln < number:
            off = data.index(b"\n", off) + 1
            ln += 1
        while ln > number:
            off = data.rfind(b"\n", 0, off - 1) + 1
            ln -= 1
        self.anchor(number, off)
        stop = data.find(b"\n", off)
        return data[off : stop if stop >= 0 else len(data)]


class LineWindow:
    """The recent blocks of a log, by line number."""

    def __init__(self) -> None:
        self._blocks: deque[_WindowBlock] = deque()

    def add(self, block: Block) -> None:
        if block.data:
            self._blocks.append(_WindowBlock(block))

    def anchor(self, number: int, offset: int) -> None:
        """Line ``number`` of the newest block starts at ``offset`` in its data."""
        self._blocks[-1].anchor(number, offset)

    @property
    def first_line(self) -> int:
        return self._blocks[0].first_line if self._blocks else 1

    @property
    def last_line(self) -> int:
        return self._blocks[-1].last_line if self._blocks else 0

    def text(self, number: int) -> str | None:
        """The normalised text of line ``number``, or None when it is not in the window."""
        for wb in reversed(self._blocks):
            if wb.first_line <= number <= wb.last_line:
                return normalise_line(wb.line(number))
        return None

    def forget_before(self, number: int) -> None:
        """Drop blocks that end before line ``number`` (keeping the newest one)."""
        while len(self._blocks) > 1 and self._blocks[0].last_line < number:
            self._blocks.popleft()


@dataclass(frozen=True)
class Occurrence:
    """A confirmed matching line of one pattern."""

    line: int
    text: str
    step: str | None
    #: the command region the line lies in (see the analyzer's step outcomes); 0 before any
    region: int = 0
    #: the line is a warning by its own marker (``##[warning]``, ``npm WARN``, ``warning:``)
    warning: bool = False


def evidence_range(
    window: LineWindow,
    occ: Occurrence,
    *,
    before: int,
    after: int,
    end: Searcher | None,
    max_lines: int,
) -> tuple[int, int]:
    """The inclusive line range that proves ``occ``: start→end regex when given and found
    within ``max_lines``, else the line with its context."""
    first = max(occ.line - before, window.first_line, 1)
    if end is not None:
        for number in range(occ.line + 1, occ.line + max_lines):
            text = window.text(number)
            if text is None:
                break
            if end.search(text):
                return first, number
    last = min(occ.line + after, window.last_line)
    return first, max(last, occ.line)


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted ranges with overlapping or touching ones merged."""
    merged: list[tuple[int, int]] = []
    for start, stop in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged
