"""Travis CI: every command starts with ``travis_time:start:ID`` and its echoed ``$ cmd``;
a command of the script phase ends with ``The command "cmd" exited with N.``, one of the
other phases with ``… failed and exited with N during .``; a stalled build with "No output
has been received in the last …"; the log with ``Done. Your build exited with N.``."""

from __future__ import annotations

import re
from typing import ClassVar

from hee_monitor.analysis.dialects.base import StepParser

_EVENT = re.compile(
    r"travis_time:start:(?:[0-9a-f]{8}|\w*)(?P<cmd>(?:(?!travis_)[^\n])*)"
    r'|" (?:failed and )?exited with (?P<code>\d+)'
    r"|(?P<stalled>No output has been received in the last|Your build has been stopped)"
    r"|Done\. Your build exited with (?P<verdict>\d+)"
)


class TravisParser(StepParser):
    def feed(self, line: int, text: str) -> None:
        for m in _EVENT.finditer(text):
            if m.group("cmd") is not None:
                cmd = m.group("cmd").strip()
                self.start_step(line, cmd[2:] if cmd.startswith("$ ") else cmd or None)
            elif m.group("code") is not None:
                self.report(line, int(m.group("code")))
            elif m.group("stalled") is not None:
                self.report(line, None)
            elif m.group("verdict") is not None:
                self.verdict = m.group("verdict") == "0"


class Travis:
    name: ClassVar[str] = "travis"
    markers: ClassVar[tuple[str, ...]] = (
        r"travis_time:start:",
        r'" (failed and )?exited with \d+',
        r"No output has been received in the last",
        r"Your build has been stopped",
        r"Done\. Your build exited with \d+",
    )

    def detect(self, head: bytes) -> bool:
        return b"travis_fold:" in head or b"travis_time:" in head

    def parser(self) -> StepParser:
        return TravisParser()
