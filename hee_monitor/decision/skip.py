"""Skip flags: telling the monitor "not this one".

A run is left alone (no automatic fix, no fix pull request, no approval request for a fix,
no re-run) when its head commit message carries a marker (``[skip hee]`` by default), when
its pull request has a skip label (``hee:skip``), or when its repository is listed in
``[skip] repos``. With ``[skip] alerts = true`` the run is not alerted on either. The run is
still analysed and recorded: the decision's reasons say that, and why, it was skipped, so
the audit log shows the flag.

:func:`skip_decision` is pure; :func:`apply_skip` narrows a policy decision accordingly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from hee_monitor.analysis.detection.settings import validate_section
from hee_monitor.core.models import FailedRun
from hee_monitor.decision.interface import Action, Decision

DEFAULT_MARKERS: Final = ("[skip hee]", "[hee skip]", "[no hee]")
DEFAULT_LABELS: Final = ("hee:skip",)
#: what a skip flag withholds
FIX_ACTIONS: Final = frozenset({Action.AUTO_FIX, Action.OPEN_PR, Action.ASK_APPROVAL, Action.RERUN})
ALERT_ACTIONS: Final = frozenset({Action.ALERT, Action.ESCALATE})


@dataclass(frozen=True)
class SkipSettings:
    """The ``[skip]`` section."""

    markers: tuple[str, ...] = DEFAULT_MARKERS
    labels: tuple[str, ...] = DEFAULT_LABELS
    #: repositories whose runs are never fixed
    repos: tuple[str, ...] = ()
    #: also withhold alerts for a skipped run
    alerts: bool = False

    @classmethod
    def from_section(cls, data: Mapping[str, Any] | None) -> SkipSettings:
        data = dict(data or {})
        validate_section("skip", data)
        return cls(
            markers=tuple(data.get("markers", DEFAULT_MARKERS)),
            labels=tuple(data.get("labels", DEFAULT_LABELS)),
            repos=tuple(data.get("repos", ())),
            alerts=bool(data.get("alerts", False)),
        )


@dataclass(frozen=True)
class SkipDecision:
    """Why a run is skipped, and what is withheld."""

    #: "commit", "label" or "repository"
    source: str
    #: the marker, label or repository that matched
    flag: str
    alerts: bool = False

    @property
    def reason(self) -> str:
        where = {
            "commit": f"{self.flag!r} in the head commit message",
            "label": f"pull request label {self.flag!r}",
            "repository": f"repository {self.flag} is set to skip",
        }[self.source]
        withheld = "fixes and alerts" if self.alerts else "fixes"
        return f"skip flag: {where}; {withheld} withheld"

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "flag": self.flag, "alerts": self.alerts}


def skip_decision(run: FailedRun, repo_config: SkipSettings) -> SkipDecision | None:
    """The skip flag ``run`` carries, first of: repository setting, commit marker, label."""
    if run.repo in repo_config.repos:
        return SkipDecision("repository", run.repo, repo_config.alerts)
    message = (run.head_commit_message or "").lower()
    for marker in repo_config.markers:
        if marker.lower() in message:
            return SkipDecision("commit", marker, repo_config.alerts)
    wanted = {label.lower(): label for label in repo_config.labels}
    for label in run.labels:
        if label.lower() in wanted:
            return SkipDecision("label", wanted[label.lower()], repo_config.alerts)
    return None


def apply_skip(decision: Decision, skip: SkipDecision | None) -> Decision:
    """``decision`` without what ``skip`` withholds, its reason added. State triggers stay:
    a skipped run still failed, and the health state says so."""
    if skip is None:
        return decision
    withheld = FIX_ACTIONS | (ALERT_ACTIONS if skip.alerts else frozenset())
    actions = tuple(a for a in decision.actions if a not in withheld) or (Action.NONE,)
    return replace(
        decision,
        actions=actions,
        reasons=(*decision.reasons, skip.reason),
        rules=(*decision.rules, "skip_flag"),
    )
