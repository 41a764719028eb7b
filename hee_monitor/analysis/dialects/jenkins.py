"""Jenkins pipelines: ``[Pipeline] { (Stage)`` starts a stage, ``[Pipeline] sh`` (``bat``,
``powershell``) a command whose output follows until the next ``[Pipeline]`` line; a failed
command is told only at the end, ``ERROR: script returned exit code N``, and belongs to
the last command that ran; the log ends with ``Finished: RESULT``."""

from __future__ import annotations

import re
from typing import ClassVar

from hee_monitor.analysis.dialects.base import Step, StepParser

_STAGE = re.compile(r"^\[Pipeline\] \{ \((.*)\)")
_COMMAND = re.compile(r"^\[Pipeline\] (sh|bat|powershell|pwsh)\b")
_EXIT = re.compile(r"ERROR: script returned exit code (\d+)")
_FINISHED = re.compile(r"^Finished: ([A-Z_]+)")


class JenkinsParser(StepParser):
    def __init__(self) -> None:
        super().__init__()
        self._stage: str | None = None
        self._commands: list[Step] = []
        self._in_command = False

    def feed(self, line: int, text: str) -> None:
        if (m := _EXIT.search(text)) is not None:
            target = self._commands[-1] if self._commands else None
            self.report(line, int(m.group(1)), target)
        elif (m := _FINISHED.match(text)) is not None:
            self.verdict = m.group(1) == "SUCCESS"
        elif (m := _STAGE.match(text)) is not None:
            self._stage = m.group(1).strip()
            self.start_step(line, self._stage)
            self._in_command = False
        elif (m := _COMMAND.match(text)) is not None:
            name = f"{self._stage}: {m.group(1)}" if self._stage else m.group(1)
            self._commands.append(self.start_step(line, name))
            self._in_command = True
        elif text.startswith("[Pipeline] ") and self._in_command:
            # the command's output ends with the pipeline's next step
            self.start_step(line, self._stage)
            self._in_command = False


class Jenkins:
    name: ClassVar[str] = "jenkins"
    markers: ClassVar[tuple[str, ...]] = (
        r"^\[Pipeline\] ",
        r"ERROR: script returned exit code \d+",
        r"^Finished: [A-Z_]+",
    )

    def detect(self, head: bytes) -> bool:
        return b"[Pipeline]" in head or head.startswith(b"Started by ")

    def parser(self) -> StepParser:
        return JenkinsParser()
