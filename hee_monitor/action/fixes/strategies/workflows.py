"""Harden GitHub Actions workflow files: a least-privilege ``permissions:`` block, and a
``timeout-minutes`` on every job (raised for a job that ran out of time).

Edits are line insertions and in-place number changes, so comments, key order, quoting and
anchors stay exactly as written; PyYAML only reads, to find what is missing and to prove
the edited file still parses to what was intended.
"""

from __future__ import annotations

import json
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

#: scopes of ``permissions:`` (GitHub's list); a log naming anything else is not acted on
PERMISSION_SCOPES = (
    "actions", "attestations", "checks", "contents", "deployments", "discussions",
    "id-token", "issues", "models", "packages", "pages", "pull-requests",
    "repository-projects", "security-events", "statuses",
)  # fmt: skip
_LEVEL = {"none": 0, "read": 1, "write": 2}


def effective_permissions(data: dict[str, Any], job: str) -> dict[str, str] | str | None:
    """The job's token permissions: its own block, else the workflow's; a string for
    ``read-all``/``write-all``; None when neither sets any (the repository default)."""
    spec = _jobs(data).get(job)
    if spec is None:
        raise FixError(f"the workflow has no job {job!r}")
    for block in (spec.get("permissions"), data.get("permissions")):
        if isinstance(block, dict):
            return {str(k): str(v) for k, v in block.items()}
        if isinstance(block, str):
            return block
        if block is not None:
            return {}
    return None


def grants(perms: dict[str, str] | str | None, scope: str, level: str = "write") -> bool:
    if perms == "write-all":
        return True
    if perms == "read-all":
        return level == "read"
    if not isinstance(perms, dict):
        return False
    return _LEVEL.get(perms.get(scope, "none"), 0) >= _LEVEL[level]


def _layout(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) of a YAML file as written."""
    lines = text.splitlines()
    mapping = _indent_unit(lines)
    for i, line in enumerate(lines[:-1]):
        key = re.match(r"^(\s*)[^\s#-][^:#]*:\s*(#.*)?$", line)
        if not key:
            continue
        nxt = next((ln for ln in lines[i + 1 :] if not _COMMENT_OR_BLANK.match(ln)), "")
        dash = re.match(r"^(\s*)- ", nxt)
        if dash:
            offset = len(dash.group(1)) - len(key.group(1))
            return mapping, offset + 2, offset
    return mapping, mapping + 2, mapping


def grant_permission(text: str, job: str, scope: str, level: str = "write") -> str:
    """The workflow with ``scope: level`` granted to ``job`` at job level, merged with
    what the job had (its own block, or the workflow's it inherited, or ``contents: read``
    that checkout needs when nothing was set), comments and layout kept (ruamel.yaml
    round-trip)."""
    from io import StringIO

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError

    y = YAML()
    y.preserve_quotes = True
    y.width = 4096
    mapping, sequence, offset = _layout(text)
    y.indent(mapping=mapping, sequence=sequence, offset=offset)
    try:
        data = y.load(text)
    except YAMLError as exc:
        raise FixError(f"the workflow is not valid YAML: {exc}") from None
    jobs = data.get("jobs") if isinstance(data, dict) else None
    if not isinstance(jobs, dict) or not isinstance(jobs.get(job), dict):
        raise FixError(f"the workflow has no job {job!r}")
    spec = jobs[job]
    current = spec.get("permissions")
    if current is None:
        inherited = data.get("permissions")
        if isinstance(inherited, str):
            raise FixError(
                f"the workflow grants {inherited}; a job-level block would have to list "
                "every scope",
                hint=f"add '{scope}: {level}' to job {job} by hand",
            )
        block = CommentedMap()
        if isinstance(inherited, dict):
            for k, v in inherited.items():
                block[k] = v
        else:
            block["contents"] = "read"
        block[scope] = level
        keys = list(spec.keys())
        anchor = next((k for k in ("runs-on", "needs", "if", "name") if k in keys), None)
        position = keys.index(anchor) + 1 if anchor is not None else 0
        spec.insert(position, "permissions", block)
    elif isinstance(current, dict):
        if _LEVEL.get(str(current.get(scope, "none")), 0) >= _LEVEL[level]:
            raise FixError(
                f"job {job} already grants {scope}: {current.get(scope)}; the failure is not "
                "this permission"
            )
        current[scope] = level
    else:
        if str(current) == "write-all":
            raise FixError(f"job {job} already grants write-all; the failure is not a permission")
        raise FixError(
            f"job {job} sets permissions: {current}; a block would have to list every scope",
            hint=f"add '{scope}: {level}' to job {job} by hand",
        )
    out = StringIO()
    y.dump(data, out)
    result = out.getvalue()
    if "\r\n" in text:
        result = result.replace("\r\n", "\n").replace("\n", "\r\n")
    return result


@dataclass(frozen=True)
class PermissionGrant:
    workflow: str
    job: str
    scope: str
    level: str = "write"


class WorkflowPermissionsStrategy:
    """Grant the job that failed exactly the token permission its log says it was denied."""

    id = "workflow-permissions"
    risk = 3
    safety = Safety.MEDIUM
    requirements = Requirements(files=WORKFLOW_GLOBS)
    #: the token's permissions exist only on the runner: the proof is the workflow itself
    reruns_failing_command = False

    def _grant(self, ctx: FixContext) -> PermissionGrant:
        from hee_monitor.action.fixes.failing_command import find_in_workflows

        scope = ctx.detail("permission")
        if not isinstance(scope, str) or scope not in PERMISSION_SCOPES:
            raise FixError(
                "the log does not name a GITHUB_TOKEN permission the job was denied",
                hint="a registry or cloud credential (Docker Hub, ECR) is fixed in its "
                "secrets or policy, not in the workflow; a person has to look",
            )
        step = ctx.detail("step")
        if not isinstance(step, str) or not step.strip():
            raise FixError("the diagnosis does not name the failing step, so not its job")
        job = ctx.detail("job") if isinstance(ctx.detail("job"), str) else None
        found = find_in_workflows(ctx.repo, step, job=job)
        places = sorted({(f.workflow or "", f.job or "") for f in found})
        if len(places) != 1:
            where = ", ".join(f"{w}:{j}" for w, j in places) or "no workflow"
            raise FixError(
                f"the failing step {step!r} is in {where}; cannot tell which job to grant "
                f"{scope}: write",
                hint="fix apply --diagnosis with details.job naming the job",
            )
        workflow, job_id = places[0]
        return PermissionGrant(workflow, job_id, scope)

    def plan(self, ctx: FixContext) -> FixPlan:
        grant = self._grant(ctx)
        data = load_workflow(ctx.repo, grant.workflow)
        before = effective_permissions(data, grant.job)
        kept = json.dumps(before if isinstance(before, dict) else {}, sort_keys=True)
        return FixPlan(
            strategy=self.id,
            description=f"grant job {grant.job} of {grant.workflow} '{grant.scope}: "
            f"{grant.level}' (the permission its log says was denied)",
            commands=(),
            files=(grant.workflow,),
            edits=(
                f"{grant.workflow}: jobs.{grant.job}.permissions += {grant.scope}: {grant.level}",
            ),
            validation=validation_for(
                ctx,
                self.id,
                (
                    Check(
                        f"job {grant.job} is granted {grant.scope}: {grant.level}",
                        builtin=self.id,
                        impl=check_permissions,
                        args=(grant.workflow, grant.job, grant.scope, grant.level, kept),
                    ),
                ),
            ),
            risk=self.risk,
            safety=self.safety,
        )

    def apply(self, ctx: FixContext) -> str:
        grant = self._grant(ctx)
        path = ctx.repo / grant.workflow
        write_preserving_mode(
            path, grant_permission(read_text(path), grant.job, grant.scope, grant.level)
        )
        return f"{grant.workflow}: job {grant.job} granted {grant.scope}: {grant.level}"


def check_permissions(repo: Path, args: tuple[str, ...]) -> tuple[bool, str]:
    """The job that failed is granted the denied permission, and keeps every other
    permission it had."""
    if len(args) < 4:
        return False, "the permission check needs the workflow, job, scope and level"
    workflow, job, scope, level = args[:4]
    had = json.loads(args[4]) if len(args) > 4 else {}
    try:
        perms = effective_permissions(load_workflow(repo, workflow), job)
    except FixError as exc:
        return False, exc.message
    if not grants(perms, scope, level):
        return False, f"{workflow}: job {job} is not granted {scope}: {level} (has {perms})"
    lost = [f"{k}: {v}" for k, v in had.items() if v in _LEVEL and not grants(perms, k, v)]
    if lost:
        return False, f"{workflow}: job {job} lost " + ", ".join(lost)
    return True, f"{workflow}: job {job} is granted {scope}: {level}"


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
                ctx,
                self.id,
                (
                    Check(
                        "workflow timeout check",
                        builtin=self.id,
                        impl=check_timeouts,
                        args=minimums,
                    ),
                ),
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
