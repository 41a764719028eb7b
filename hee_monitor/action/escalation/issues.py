"""Persistent failures as GitHub issues that open, update and close themselves.

A failure fingerprint that persists (``occurrences`` runs, or seen over ``hours``, or the
pipeline reaching *failed*) gets one issue. The issue is found again by the audit store's
``escalation_issues`` table and, should that be lost or shared by several instances, by the
hidden marker ``<!-- hee-fingerprint: … -->`` in its body: a fingerprint never gets a
second issue; one that comes back after its issue was closed reopens it.

GitHub is written to at most once per issue per cycle: :meth:`IssueEscalator.observe`
only counts occurrences (in the store), :meth:`IssueEscalator.sweep`, at the end of each
cycle, opens, updates (one comment, or the body rewritten with the count), reopens or
closes (when the fingerprint was not seen for ``close_after_hours``). With ``dry_run`` the
sweep returns what it would do and writes nothing to GitHub.

The decision for one fingerprint is the pure function :func:`plan`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, Protocol

from hee_monitor.action.escalation.codeowners import (
    CodeOwners,
    assignable,
    from_checkout,
    from_reader,
    paths_in,
)
from hee_monitor.action.escalation.store import EscalationStore, Tracked
from hee_monitor.core.config import validate_section
from hee_monitor.core.errors import HeeError
from hee_monitor.core.models import FailedRun, Finding, HealthState
from hee_monitor.core.redact import redact
from hee_monitor.sources.interface import Files, Issues

log = logging.getLogger(__name__)

MARKER_PREFIX: Final = "<!-- hee-fingerprint: "
_EVIDENCE_CHARS: Final = 1500


def marker(fingerprint: str) -> str:
    return f"{MARKER_PREFIX}{fingerprint} -->"


@dataclass(frozen=True)
class EscalationSettings:
    """The ``[escalation]`` section."""

    #: off by default: filing issues in a repository is something its owners opt into
    enabled: bool = False
    #: failed runs of one fingerprint that make it persistent …
    occurrences: int = 3
    #: … or the hours between its first and latest occurrence (None: not used)
    hours: float | None = 24.0
    #: the pipeline reaching *failed* files an issue for what it saw, at once
    on_failed_state: bool = True
    #: an issue is closed when its fingerprint was not seen for this long
    close_after_hours: float = 24.0
    labels: tuple[str, ...] = ("hee-monitor", "ci-failure")
    assignees: tuple[str, ...] = ()
    #: assign the CODEOWNERS of the files the evidence names
    codeowners: bool = True
    #: read CODEOWNERS from this local checkout (the repository the monitor runs in)
    codeowners_checkout: str | None = None
    #: "comment": one comment per update; "body": rewrite the body with the count
    update: str = "comment"
    dry_run: bool = False

    @classmethod
    def from_section(cls, data: Mapping[str, Any] | None) -> EscalationSettings:
        data = dict(data or {})
        validate_section("escalation", data)
        for key in ("labels", "assignees"):
            if key in data:
                data[key] = tuple(data[key])
        return cls(**data)


class EscalationStep(enum.StrEnum):
    OPEN = "open"
    REOPEN = "reopen"
    UPDATE = "update"
    CLOSE = "close"
    NONE = "none"


def plan(
    tracked: Tracked, settings: EscalationSettings, state: HealthState, now: datetime
) -> tuple[EscalationStep, str]:
    """What to do about one tracked fingerprint, and why. Pure."""
    quiet = now - tracked.last_seen
    close_after = timedelta(hours=settings.close_after_hours)
    if tracked.open_issue:
        if quiet >= close_after:
            return EscalationStep.CLOSE, f"not seen for {_hours(quiet)}"
        if tracked.occurrences > tracked.reported:
            return (
                EscalationStep.UPDATE,
                f"{tracked.occurrences - tracked.reported} new occurrence(s)",
            )
        return EscalationStep.NONE, "issue up to date"
    if (
        tracked.issue_state == "closed"
        and tracked.closed_at is not None
        and tracked.last_seen <= tracked.closed_at
    ):
        return EscalationStep.NONE, "resolved"
    if quiet >= close_after:
        return EscalationStep.NONE, f"not seen for {_hours(quiet)}"
    reasons = []
    if tracked.occurrences >= settings.occurrences:
        reasons.append(f"{tracked.occurrences} occurrences (threshold {settings.occurrences})")
    span = tracked.last_seen - tracked.first_seen
    if (
        settings.hours is not None
        and tracked.occurrences >= 2
        and span >= timedelta(hours=settings.hours)
    ):
        reasons.append(f"failing for {_hours(span)} (threshold {settings.hours:g} h)")
    if settings.on_failed_state and state is HealthState.FAILED:
        reasons.append("the pipeline is in the failed state")
    if not reasons:
        return EscalationStep.NONE, "not persistent yet"
    step = EscalationStep.REOPEN if tracked.issue_number is not None else EscalationStep.OPEN
    return step, "; ".join(reasons)


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


class IssueForge(Issues, Files, Protocol):
    """What escalation asks of the forge: issues, and the CODEOWNERS file."""


@dataclass(frozen=True)
class EscalationAction:
    """One thing done (or, in a dry run, that would be done) on GitHub."""

    step: EscalationStep
    repo: str
    fingerprint: str
    title: str
    reason: str
    number: int | None = None
    url: str | None = None
    body: str = ""
    assignees: tuple[str, ...] = ()
    dry_run: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step.value,
            "repo": self.repo,
            "fingerprint": self.fingerprint,
            "title": self.title,
            "reason": self.reason,
            "number": self.number,
            "url": self.url,
            "assignees": list(self.assignees),
            "dry_run": self.dry_run,
        }


@dataclass
class IssueEscalator:
    """Implements the monitoring cycle's ``Escalator`` port with GitHub issues."""

    store: EscalationStore
    forge: IssueForge | None
    settings: EscalationSettings = field(default_factory=EscalationSettings)
    #: repository → its CODEOWNERS (default: read through the forge, once per repository)
    codeowners_for: Callable[[str], CodeOwners] | None = None
    #: what the last sweep did
    last_actions: list[EscalationAction] = field(default_factory=list)
    _owners: dict[str, CodeOwners] = field(default_factory=dict)

    # -- the cycle's port ----------------------------------------------------------------

    def observe(
        self, run: FailedRun, findings: Sequence[Finding], state: HealthState, now: datetime
    ) -> list[Tracked]:
        """Count one occurrence of each finding's fingerprint (no GitHub call)."""
        if not self.settings.enabled:
            return []
        tracked = []
        for finding in findings:
            latest = _latest(run, finding)
            tracked.append(
                self.store.seen(
                    run.repo,
                    finding.fingerprint,
                    pattern_id=finding.pattern_id,
                    title=finding.title,
                    latest=latest,
                    now=now,
                )
            )
        return tracked

    def sweep(self, state: HealthState, now: datetime) -> list[EscalationAction]:
        """Bring GitHub in line with the store: at most one write per issue."""
        actions: list[EscalationAction] = []
        if not self.settings.enabled:
            return actions
        for tracked in self.store.all():
            step, reason = plan(tracked, self.settings, state, now)
            if step is EscalationStep.NONE:
                continue
            try:
                action = self._act(step, reason, tracked, now)
            except HeeError as exc:
                log.warning(
                    "escalation of %s in %s failed: %s",
                    tracked.fingerprint,
                    tracked.repo,
                    exc.message,
                )
                continue
            actions.append(action)
            log.info(
                "%s%s issue %s in %s for %s: %s",
                "would " if action.dry_run else "",
                action.step.value,
                f"#{action.number}" if action.number else "(new)",
                action.repo,
                action.fingerprint,
                action.reason,
            )
        self.last_actions = actions
        return actions

    # -- acting --------------------------------------------------------------------------

    def _act(
        self, step: EscalationStep, reason: str, tracked: Tracked, now: datetime
    ) -> EscalationAction:
        title = _title(tracked)
        dry = self.settings.dry_run or self.forge is None
        if step in (EscalationStep.OPEN, EscalationStep.REOPEN) and not dry:
            step, tracked = self._adopt(step, tracked, now)
            if step is EscalationStep.UPDATE and tracked.occurrences <= tracked.reported:
                return EscalationAction(step, tracked.repo, tracked.fingerprint, title,
                                        "adopted an existing issue", tracked.issue_number,
                                        tracked.issue_url)  # fmt: skip
        if step is EscalationStep.OPEN:
            users, mentions = self._owners_of(tracked)
            body = render_body(tracked, now, mentions=mentions)
            assignees = tuple(dict.fromkeys([*self.settings.assignees, *users]))
            if dry:
                return EscalationAction(step, tracked.repo, tracked.fingerprint, title, reason,
                                        body=body, assignees=assignees, dry_run=True)  # fmt: skip
            assert self.forge is not None
            issue = self.forge.create_issue(
                tracked.repo, title, body, self.settings.labels, assignees
            )
            self.store.set_issue(
                tracked.repo,
                tracked.fingerprint,
                number=int(issue.number),
                url=str(issue.html_url),
                state="open",
                reported=tracked.occurrences,
                now=now,
            )
            return EscalationAction(step, tracked.repo, tracked.fingerprint, title, reason,
                                    int(issue.number), str(issue.html_url), body,
                                    assignees)  # fmt: skip
        number = tracked.issue_number
        assert number is not None
        if step is EscalationStep.REOPEN:
            text = f"The failure is back ({reason}); reopening.\n\n" + _occurrence_line(tracked)
        elif step is EscalationStep.UPDATE:
            text = _update_text(tracked)
        else:
            text = (
                f"Not seen for {_hours(now - tracked.last_seen)} (last seen "
                f"{_time(tracked.last_seen)}, {tracked.occurrences} occurrence(s)); closing. "
                "hee-monitor reopens this issue if the failure comes back."
            )
        if dry:
            return EscalationAction(step, tracked.repo, tracked.fingerprint, title, reason,
                                    number, tracked.issue_url, text, dry_run=True)  # fmt: skip
        assert self.forge is not None
        if step is EscalationStep.CLOSE:
            self.forge.close_issue(tracked.repo, number, comment=text)
            self.store.set_issue(tracked.repo, tracked.fingerprint, state="closed", now=now)
        elif step is EscalationStep.REOPEN:
            self.forge.update_issue(
                tracked.repo, number, state="open", body=render_body(tracked, now)
            )
            self.forge.comment_issue(tracked.repo, number, text)
            self.store.set_issue(
                tracked.repo, tracked.fingerprint, state="open",
                reported=tracked.occurrences, now=now,
            )  # fmt: skip
        elif self.settings.update == "body":
            self.forge.update_issue(tracked.repo, number, body=render_body(tracked, now))
            self.store.set_issue(
                tracked.repo, tracked.fingerprint, reported=tracked.occurrences, now=now
            )
        else:
            self.forge.comment_issue(tracked.repo, number, text)
            self.store.set_issue(
                tracked.repo, tracked.fingerprint, reported=tracked.occurrences, now=now
            )
        return EscalationAction(step, tracked.repo, tracked.fingerprint, title, reason,
                                number, tracked.issue_url, text)  # fmt: skip

    def _adopt(
        self, step: EscalationStep, tracked: Tracked, now: datetime
    ) -> tuple[EscalationStep, Tracked]:
        """Before filing: an issue with this fingerprint's marker that the store does not
        know (a lost or shared database) is taken over instead of filing a duplicate."""
        if tracked.issue_number is not None:
            return step, tracked
        assert self.forge is not None
        found = self.forge.issues_containing(
            tracked.repo, marker(tracked.fingerprint), labels=self.settings.labels
        )
        if not found:
            return step, tracked
        issue = found[0]
        state = str(issue.state)
        self.store.set_issue(
            tracked.repo,
            tracked.fingerprint,
            number=int(issue.number),
            url=str(issue.html_url),
            state=state,
            reported=tracked.occurrences if state == "open" else None,
            now=now,
        )
        adopted = self.store.get(tracked.repo, tracked.fingerprint)
        assert adopted is not None
        if state == "open":
            return EscalationStep.UPDATE, adopted
        return EscalationStep.REOPEN, adopted

    def _owners_of(self, tracked: Tracked) -> tuple[list[str], list[str]]:
        if not self.settings.codeowners:
            return [], []
        files = [str(f) for f in tracked.latest.get("files", [])]
        if not files:
            return [], []
        try:
            owners = self._codeowners(tracked.repo).owners_for(files)
        except HeeError as exc:
            log.warning("cannot read CODEOWNERS of %s: %s", tracked.repo, exc.message)
            return [], []
        return assignable(owners)

    def _codeowners(self, repo: str) -> CodeOwners:
        if repo not in self._owners:
            if self.codeowners_for is not None:
                self._owners[repo] = self.codeowners_for(repo)
            elif self.settings.codeowners_checkout:
                self._owners[repo] = from_checkout(Path(self.settings.codeowners_checkout))
            elif self.forge is not None:
                forge = self.forge
                self._owners[repo] = from_reader(lambda path: forge.read_file(repo, path))
            else:
                self._owners[repo] = CodeOwners()
        return self._owners[repo]


# -- rendering --------------------------------------------------------------------------


def _latest(run: FailedRun, finding: Finding) -> dict[str, Any]:
    evidence = "\n".join(e.text for e in finding.evidence[:2])[:_EVIDENCE_CHARS]
    files = []
    detail_file = finding.details.get("file") if finding.details else None
    if isinstance(detail_file, str) and detail_file and not detail_file.startswith("/"):
        files.append(detail_file)
    files += [p for p in paths_in([evidence]) if p not in files]
    return {
        "run_key": run.key,
        "run_url": run.html_url,
        "workflow": run.workflow,
        "branch": run.branch,
        "sha": run.head_sha,
        "severity": finding.severity.value,
        "category": finding.category,
        "owner": finding.owner.value if finding.owner else None,
        "source": finding.source,
        "evidence": redact(evidence),
        "files": files[:20],
    }


def _title(tracked: Tracked) -> str:
    return f"CI failure: {tracked.title}"[:200]


def _time(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def _occurrence_line(tracked: Tracked) -> str:
    latest = tracked.latest
    run = (
        f"[{latest.get('run_key')}]({latest['run_url']})"
        if latest.get("run_url")
        else str(latest.get("run_key", ""))
    )
    return (
        f"Seen in **{tracked.occurrences}** failed run(s) since {_time(tracked.first_seen)}; "
        f"latest {_time(tracked.last_seen)}: {run} ({latest.get('workflow')}"
        f"{' on ' + str(latest['branch']) if latest.get('branch') else ''})."
    )


def _update_text(tracked: Tracked) -> str:
    new = tracked.occurrences - tracked.reported
    return f"Seen again: {new} more failed run(s).\n\n" + _occurrence_line(tracked)


def render_body(tracked: Tracked, now: datetime, *, mentions: Sequence[str] = ()) -> str:
    """The issue body: what fails, how often, the latest evidence, and the marker."""
    latest = tracked.latest
    lines = [
        marker(tracked.fingerprint),
        f"**{tracked.title}**",
        "",
        "| pattern | severity | category | owner | fingerprint |",
        "|---|---|---|---|---|",
        f"| {tracked.pattern_id} | {latest.get('severity', '')} | {latest.get('category', '')} "
        f"| {latest.get('owner', '')} | `{tracked.fingerprint}` |",
        "",
        _occurrence_line(tracked),
    ]
    if latest.get("sha"):
        lines.append(f"Commit: `{str(latest['sha'])[:12]}`")
    if latest.get("evidence"):
        lines += ["", "Latest evidence:", "```text", str(latest["evidence"]), "```"]
    if mentions:
        lines += ["", "Code owners: " + " ".join(mentions)]
    lines += [
        "",
        f"_Filed by hee-monitor on {_time(now)}. It updates this issue while the failure "
        "persists and closes it when the failure stops._",
    ]
    return "\n".join(lines)
