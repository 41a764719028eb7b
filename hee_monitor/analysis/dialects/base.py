"""The interface of a log dialect: where a CI system's steps start and end, and how each
one ended.

A dialect names the *marker* lines it reads (regexes written for normalised lines, like
patterns); the analyzer scans for them in the same pass as the patterns and hands each
selected line, normalised with every carriage-return redraw kept (``travis_fold:…`` comes
before the CR), to the dialect's :class:`StepParser` in line order. The parser builds the
log's :class:`Step` list: start line, end line, name or command, outcome and exit code.

A step that a later step followed without reporting a failure ended well (the runner went
on): that is how a retried download, ``cmd || fallback`` or an informational command that
failed is told from the command that broke the build.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

#: a step header (``##[group]Run … ##[endgroup]``) never runs longer than this
MAX_HEADER_LINES = 400


@dataclass
class Step:
    """One command or step of a CI log. Lines are 1-based and inclusive."""

    index: int
    #: the marker line that starts it
    start: int
    #: its name or command, as the log shows it
    name: str | None
    #: first line of its output (after an echoed header, if any)
    body_start: int = 0
    #: last line; 0 while it is still running
    end: int = 0
    #: the exit status the log reports, when it reports one
    exit_code: int | None = None
    #: the line that reports the outcome ("exited with 1", "Process completed with exit
    #: code 2", "ERROR: script returned exit code 1")
    exit_line: int | None = None
    failed: bool = False
    #: the log reported success explicitly ("exited with 0")
    succeeded: bool = False
    #: a later step started, or the step's end marker was read
    closed: bool = False

    @property
    def outcome(self) -> str:
        """``failure``, ``success`` (reported, or a later step followed with no failure
        reported) or ``unknown`` (the log ends inside it)."""
        if self.failed:
            return "failure"
        if self.succeeded or self.closed:
            return "success"
        return "unknown"

    def contains(self, line: int) -> bool:
        return self.start <= line <= (self.end or line)


class StepParser:
    """Builds the steps of one log from its marker lines (fed in line order)."""

    def __init__(self) -> None:
        #: what the log prints before its first step marker is a step too (set-up, or
        #: the whole log when it marks none)
        self.steps: list[Step] = [Step(0, 1, None, body_start=1)]
        #: the log ends with the build's own verdict: True passed, False failed, None none
        self.verdict: bool | None = None
        self._header_start: int | None = None
        self.last_line = 0

    # --- what the analyzer asks --------------------------------------------------------

    @property
    def current(self) -> int:
        """Index of the step running at the last line fed, -1 before any."""
        return len(self.steps) - 1

    def in_header(self, line: int) -> bool:
        """Whether ``line`` lies in the current step's echoed header (its script and env,
        not its output)."""
        start = self._header_start
        return start is not None and line - start <= MAX_HEADER_LINES

    def feed(self, line: int, text: str) -> None:
        """Read one marker line (normalised, redraws kept)."""
        raise NotImplementedError

    def finish(self, last_line: int) -> list[Step]:
        """The steps, once the whole log was fed (``last_line``: its line count)."""
        self.last_line = last_line
        if self.steps:
            last = self.steps[-1]
            if not last.end:
                last.end = max(last_line, last.start)
            if self.verdict is True:
                last.closed = True
        return self.steps

    # --- what dialects use -------------------------------------------------------------

    def start_step(self, line: int, name: str | None, *, header: bool = False) -> Step:
        if self.steps and self.steps[-1].start == line and len(self.steps) == 1:
            self.steps.pop()  # the log starts with a step: no set-up part before it
        if self.steps:
            prev = self.steps[-1]
            if not prev.end:
                prev.end = max(line - 1, prev.start)
            prev.closed = True
        step = Step(len(self.steps), line, (name or "").strip()[:200] or None, body_start=line + 1)
        self.steps.append(step)
        self._header_start = line if header else None
        return step

    def end_header(self, line: int) -> None:
        if self._header_start is not None and self.steps:
            self.steps[-1].body_start = line + 1
        self._header_start = None

    def end_step(self, line: int) -> None:
        if self.steps and not self.steps[-1].end:
            self.steps[-1].end = line
            self.steps[-1].closed = True

    def report(self, line: int, code: int | None, step: Step | None = None) -> None:
        """The current step (or ``step``) ended with ``code`` (None: failed, status not
        told)."""
        if step is None:
            if not self.steps:
                self.start_step(1, None)
            step = self.steps[-1]
        if code == 0:
            if not step.failed:
                step.succeeded = True
                step.exit_code = 0
                step.exit_line = line
            return
        first = not step.failed
        step.failed = True
        if code is not None and (step.exit_code in (None, 0)):
            step.exit_code = code
            step.exit_line = line
        elif first or step.exit_line is None:
            step.exit_line = line


class Dialect(Protocol):
    """A CI system's log format: one module per dialect (see the package registry)."""

    name: ClassVar[str]
    #: regexes selecting the lines its parser reads
    markers: ClassVar[tuple[str, ...]]

    def detect(self, head: bytes) -> bool:
        """Whether the first bytes of a log are in this dialect."""
        ...

    def parser(self) -> StepParser: ...


def first_failing(steps: list[Step]) -> Step | None:
    return next((s for s in steps if s.failed), None)
