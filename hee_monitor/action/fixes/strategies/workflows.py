"""Harden GitHub Actions workflow files: a least-privilege ``permissions:`` block, and a
``timeout-minutes`` on every job (raised for a job that ran out of time).

Edits are line insertions and in-place number changes, so comments, key order, quoting and
anchors stay exactly as written; PyYAML only reads, to find what is missing and to prove
the edited file still parses to what was intended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hee_monitor.action.fixes.files import read_text, repo_files, write_preserving_mode
from hee_monitor.action.fixes.strategies.interface import (
    Check,
    FixContext,
    FixPlan,
    Requirements,
    Safety,
    validation_for,
)
from hee_monitor.core.errors import FixError

WORKFLOW_GLOBS = (".github/workflows/*.yml", ".github/workflows/*.yaml")
DEFAULT_TIMEOUT = 30
MAX_TIMEOUT = 360  # GitHub's own ceiling for a job on hosted runners

_COMMENT_OR_BLANK = re.compile(r"^\s*(#.*)?$")
_KEY = re.compile(r"""^(\s*)(?:"([^"]+)"|'([^']+)'|([^\s:#"'][^:#]*?))\s*:(?:\s+(.*?))?\s*$""")


def load_workflow(repo: Path, name: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(read_text(repo / name))
    except yaml.YAMLError as exc:
        raise FixError(f"{name} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise FixError(f"{name} is not a workflow (top level is not a mapping)")
    return data


def _jobs(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    jobs = data.get("jobs")
    if not isinstance(jobs, dict):
        return {}
    return {str(k): v for k, v in jobs.items() if isinstance(v, dict)}


def _indent_unit(lines: list[str]) -> int:
    for line in lines:
        if not _COMMENT_OR_BLANK.match(line) and line[0] == " ":
            return len(line) - len(line.lstrip(" "))
    return 2


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


# ---- permissions ---------------------------------------------------------------------------


def needs_permissions(data: dict[str, Any]) -> bool:
    if "permissions" in data:
        return False
    jobs = _jobs(data)
    return not jobs or not all("permissions" in job for job in jobs.values())


def add_permissions(text: str, permissions: dict[str, str]) -> str:
    nl = _newline(text)
    lines = text.splitlines(keepends=True)
    unit = " " * _indent_unit(lines)
    block = ["permissions:" + nl] + [f"{unit}{k}: {v}{nl}" for k, v in permissions.items()]
    for i, line in enumerate(lines):
        if re.match(r"^jobs\s*:", line):
            lines[i:i] = [*block, nl]
            return "".join(lines)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += nl
    return "".join(lines + block)


class WorkflowPermissionsStrategy:
    id = "workflow-permissions"
    risk = 3
    safety = Safety.MEDIUM
    requirements = Requirements(files=WORKFLOW_GLOBS)

    def _targets(self, ctx: FixContext) -> list[str]:
        only = ctx.detail("workflow")
        return [
            name
            for name in repo_files(ctx.repo, WORKFLOW_GLOBS)
            if (only is None or name.endswith(str(only)))
            and needs_permissions(load_workflow(ctx.repo, name))
        ]

    def _permissions(self, ctx: FixContext) -> dict[str, str]:
        configured = ctx.settings.get("workflow_permissions")
        if isinstance(configured, dict) and configured:
            return {str(k): str(v) for k, v in configured.items()}
        return {"contents": "read"}

    def plan(self, ctx: FixContext) -> FixPlan:
        targets = self._targets(ctx)
        perms = ", ".join(f"{k}: {v}" for k, v in self._permissions(ctx).items())
        return FixPlan(
            strategy=self.id,
            description=f"add a least-privilege permissions block ({perms}) to "
            f"{len(targets)} workflow(s)",
            commands=(),
            files=tuple(targets),
            edits=tuple(f"{t}: insert 'permissions: {{{perms}}}' before jobs:" for t in targets),
            validation=validation_for(
                ctx, self.id, (Check("workflow permissions check", builtin=self.id),)
            ),
            risk=self.risk,
            safety=self.safety,
        )

    def apply(self, ctx: FixContext) -> str:
        done = []
        perms = self._permissions(ctx)
        for name in self._targets(ctx):
            path = ctx.repo / name
            write_preserving_mode(path, add_permissions(read_text(path), perms))
            done.append(name)
        return "added permissions to: " + ", ".join(done)


def check_permissions(repo: Path, args: tuple[str, ...]) -> tuple[bool, str]:
    bad = []
    for name in repo_files(repo, WORKFLOW_GLOBS):
        try:
            data = load_workflow(repo, name)
        except FixError as exc:
            bad.append(exc.message)
            continue
        if needs_permissions(data):
            bad.append(f"{name}: no permissions block")
    if bad:
        return False, "\n".join(bad)
    return True, "every workflow declares its permissions"


# ---- timeout-minutes -----------------------------------------------------------------------


@dataclass(frozen=True)
class TimeoutChange:
    file: str
    job: str
    old: int | None
    new: int


def _job_blocks(lines: list[str]) -> dict[str, tuple[int, int, int]]:
    """job id → (header line index, end line index exclusive, body indent)."""
    start = next((i for i, line in enumerate(lines) if re.match(r"^jobs\s*:", line)), None)
    if start is None:
        return {}
    job_indent: int | None = None
    headers: list[tuple[str, int]] = []
    end = len(lines)
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if _COMMENT_OR_BLANK.match(line):
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent == 0:
            end = i
            break
        if job_indent is None:
            job_indent = indent
        if indent == job_indent:
            m = _KEY.match(line.rstrip("\r\n"))
            if m:
                headers.append((m.group(2) or m.group(3) or m.group(4), i))
    blocks: dict[str, tuple[int, int, int]] = {}
    for n, (job, i) in enumerate(headers):
        stop = headers[n + 1][1] if n + 1 < len(headers) else end
        body_indent = None
        for j in range(i + 1, stop):
            if not _COMMENT_OR_BLANK.match(lines[j]):
                body_indent = len(lines[j]) - len(lines[j].lstrip(" "))
                break
        if body_indent is not None:
            blocks[job] = (i, stop, body_indent)
    return blocks


def set_timeouts(text: str, wanted: dict[str, int]) -> str:
    """Set ``timeout-minutes`` of each job in ``wanted`` (insert or replace the number)."""
    nl = _newline(text)
    lines = text.splitlines(keepends=True)
    # bottom-up so earlier insertions do not shift later blocks
    blocks = sorted(_job_blocks(lines).items(), key=lambda kv: kv[1][0], reverse=True)
    for job, (header, stop, indent) in blocks:
        if job not in wanted:
            continue
        pattern = re.compile("^( {" + str(indent) + r"}timeout-minutes\s*:\s*)(\d+)")
        for j in range(header + 1, stop):
            m = pattern.match(lines[j])
            if m:
                lines[j] = m.group(1) + str(wanted[job]) + lines[j][m.end() :]
                break
        else:
            lines.insert(header + 1, " " * indent + f"timeout-minutes: {wanted[job]}{nl}")
    return "".join(lines)


class WorkflowTimeoutStrategy:
    id = "workflow-timeout"
    #: the job ran out of time on the runner; a local re-run proves nothing about that
    reruns_failing_command = False
    risk = 2
    safety = Safety.HIGH
    requirements = Requirements(files=WORKFLOW_GLOBS)

    def _changes(self, ctx: FixContext) -> list[TimeoutChange]:
        default = int(ctx.settings.get("timeout_minutes", DEFAULT_TIMEOUT))
        only_job = ctx.detail("job")
        timed_out = ctx.finding is not None and ctx.finding.category == "timeout"
        changes = []
        for name in repo_files(ctx.repo, WORKFLOW_GLOBS):
            for job_id, job in _jobs(load_workflow(ctx.repo, name)).items():
                if "uses" in job:  # a reusable-workflow call cannot set timeout-minutes
                    continue
                current = job.get("timeout-minutes")
                if not isinstance(current, int):
                    current = None
                if timed_out and (only_job is None or only_job == job_id) and current:
                    changes.append(
                        TimeoutChange(name, job_id, current, min(current * 2, MAX_TIMEOUT))
                    )
                elif current is None:
                    changes.append(TimeoutChange(name, job_id, None, default))
        return [c for c in changes if c.old != c.new]

    def plan(self, ctx: FixContext) -> FixPlan:
        changes = self._changes(ctx)
        minimums = tuple(f"{c.file}::{c.job}::{c.new}" for c in changes)
        return FixPlan(
            strategy=self.id,
            description=f"set timeout-minutes on {len(changes)} job(s)",
            commands=(),
            files=tuple(sorted({c.file for c in changes})),
            edits=tuple(
                f"{c.file}: jobs.{c.job}.timeout-minutes {c.old or '(none)'} -> {c.new}"
                for c in changes
            ),
            validation=validation_for(
                ctx, self.id, (Check("workflow timeout check", builtin=self.id, args=minimums),)
            ),
            risk=self.risk,
            safety=self.safety,
        )

    def apply(self, ctx: FixContext) -> str:
        changes = self._changes(ctx)
        by_file: dict[str, dict[str, int]] = {}
        for c in changes:
            by_file.setdefault(c.file, {})[c.job] = c.new
        for name, wanted in by_file.items():
            path = ctx.repo / name
            write_preserving_mode(path, set_timeouts(read_text(path), wanted))
        return "\n".join(f"{c.file}: {c.job} timeout-minutes -> {c.new}" for c in changes)


def check_timeouts(repo: Path, args: tuple[str, ...]) -> tuple[bool, str]:
    minimum: dict[tuple[str, str], int] = {}
    for arg in args:
        file, job, value = arg.split("::")
        minimum[(file, job)] = int(value)
    bad = []
    for name in repo_files(repo, WORKFLOW_GLOBS):
        try:
            workflow_jobs = _jobs(load_workflow(repo, name))
        except FixError as exc:
            bad.append(exc.message)
            continue
        for job_id, spec in workflow_jobs.items():
            if "uses" in spec:
                continue
            minutes = spec.get("timeout-minutes")
            if not isinstance(minutes, int):
                bad.append(f"{name}: job {job_id} has no timeout-minutes")
            elif minutes < minimum.get((name, job_id), 0):
                bad.append(f"{name}: job {job_id} timeout-minutes {minutes} is too low")
    if bad:
        return False, "\n".join(bad)
    return True, "every job has a timeout"
