"""Any other log (a local build, a CI system without step markers): one step, the whole
log, failed when it says so (``Process completed with exit code N``, ``Command exited with
non-zero status N``, a Jenkins freestyle job's ``Finished: FAILURE``) and passed when it
ends with a CI system's verdict that it passed."""

from __future__ import annotations

import re
from typing import ClassVar

from hee_monitor.analysis.dialects.base import StepParser

_EXIT = re.compile(
    r"Process completed with exit code (\d+)|Command exited with non-zero status (\d+)"
)
_VERDICT = re.compile(
    r"^Finished: (?P<jenkins>[A-Z_]+)|Done\. Your build exited with (?P<travis>\d+)"
    r"|^(?P<passed>Job succeeded)|^(?P<failed>ERROR: Job failed)"
)


class PlainParser(StepParser):
    def feed(self, line: int, text: str) -> None:
        if (m := _EXIT.search(text)) is not None:
            self.report(line, int(m.group(1) or m.group(2)))
            return
        if (v := _VERDICT.search(text)) is not None:
            self.verdict = (
                v.group("jenkins") == "SUCCESS"
                or v.group("travis") == "0"
                or v.group("passed") is not None
            )
            if not self.verdict and not self.steps[-1].failed:
                code = v.group("travis")
                self.report(line, int(code) if code else None)


class Plain:
    name: ClassVar[str] = "plain"
    markers: ClassVar[tuple[str, ...]] = (
        r"Process completed with exit code \d+",
        r"Command exited with non-zero status \d+",
        r"^Finished: [A-Z_]+",
        r"Done\. Your build exited with \d+",
        r"^Job succeeded",
        r"^ERROR: Job failed",
    )

    def detect(self, head: bytes) -> bool:
        return True

    def parser(self) -> StepParser:
        return PlainParser()
