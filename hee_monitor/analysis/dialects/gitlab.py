"""GitLab CI: ``section_start:TIME:name`` … ``section_end:TIME:name`` around each part of a
job (``prepare_executor``, ``get_sources``, ``step_script``, ``after_script`` …); a failed
job ends with ``ERROR: Job failed: exit code N``, which belongs to the last script section
(``after_script`` runs after the failure), a passed one with ``Job succeeded``."""

from __future__ import annotations

import re
from typing import ClassVar

from hee_monitor.analysis.dialects.base import StepParser

_START = re.compile(r"section_start:\d+:([\w.-]+)")
_END = re.compile(r"section_end:\d+:([\w.-]+)")
_FAILED = re.compile(r"^ERROR: Job failed(?:: exit code (\d+))?")
#: sections that run after the script whatever its outcome
_AFTER = ("after_script", "upload_artifacts", "archive_cache", "cleanup", "upload")


class GitLabParser(StepParser):
    def feed(self, line: int, text: str) -> None:
        if (m := _FAILED.match(text)) is not None:
            script = [s for s in self.steps if s.name and not s.name.startswith(_AFTER) and s.index]
            self.report(
                line, int(m.group(1)) if m.group(1) else None, script[-1] if script else None
            )
            self.verdict = False
            return
        if text.startswith("Job succeeded"):
            self.verdict = True
            return
        for m in _START.finditer(text):
            self.start_step(line, m.group(1))
        if _END.search(text) is not None:
            self.end_step(line)


class GitLab:
    name: ClassVar[str] = "gitlab"
    markers: ClassVar[tuple[str, ...]] = (
        r"section_start:\d+:",
        r"section_end:\d+:",
        r"^ERROR: Job failed",
        r"^Job succeeded",
    )

    def detect(self, head: bytes) -> bool:
        return b"section_start:" in head or b"Running with gitlab-runner" in head

    def parser(self) -> StepParser:
        return GitLabParser()
