"""GitHub Actions: a step starts with ``##[group]Run <command>`` and its echoed script and
env up to ``##[endgroup]``; a failing step ends with ``##[error]Process completed with
exit code N.`` (an action's own failure is another ``##[error]`` line); the runner's
post-job steps start with ``Post job cleanup.`` and ``Cleaning up orphan processes``.

The job's step list from the API, when known, names the failed steps: a log that lost its
exit line (cut, cancelled) still gets its failing step from there."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

from hee_monitor.analysis.dialects.base import Step, StepParser

_RUN = re.compile(r"^##\[group\]Run (.*)")
_RUNNER_STEPS = ("Post job cleanup", "Cleaning up orphan processes")
_EXIT = re.compile(r"##\[error\]Process completed with exit code (\d+)")


class ActionsParser(StepParser):
    def __init__(self, failed_steps: Sequence[str] = ()) -> None:
        super().__init__()
        self._failed_names = {n.strip() for n in failed_steps if n.strip()}

    def feed(self, line: int, text: str) -> None:
        m = _RUN.match(text)
        if m is not None:
            self.start_step(line, m.group(1), header=True)
            return
        if text.startswith("##[endgroup]"):
            self.end_header(line)
        elif text.startswith("Post job cleanup."):
            self.start_step(line, "Post job cleanup")
        elif text.startswith("Cleaning up orphan processes"):
            self.start_step(line, "Cleaning up orphan processes")
        elif "##[error]" in text:
            exit_code = _EXIT.search(text)
            self.report(line, int(exit_code.group(1)) if exit_code else None)

    def finish(self, last_line: int) -> list[Step]:
        steps = super().finish(last_line)
        if steps and steps[-1].name in _RUNNER_STEPS and not steps[-1].failed:
            steps[-1].closed = True  # the runner's own clean-up ends every job
        if self._failed_names and not any(s.failed for s in steps):
            for step in steps:
                if step.name and (
                    "Run " + step.name in self._failed_names or step.name in self._failed_names
                ):
                    step.failed = True
        return steps


class Actions:
    name: ClassVar[str] = "actions"
    markers: ClassVar[tuple[str, ...]] = (
        r"^##\[group\]Run ",
        r"^##\[endgroup\]",
        r"##\[error\]",
        r"^Post job cleanup\.",
        r"^Cleaning up orphan processes",
    )

    def __init__(self, failed_steps: Sequence[str] = ()) -> None:
        self.failed_steps = tuple(failed_steps)

    def detect(self, head: bytes) -> bool:
        return b"##[group]" in head or b"##[error]" in head or b"Current runner version" in head

    def parser(self) -> StepParser:
        return ActionsParser(self.failed_steps)
