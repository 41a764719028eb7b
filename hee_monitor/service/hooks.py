"""The monitoring cycle's hooks for detection beyond the log, skip flags, issue escalation
and token hygiene, built from the configuration in one call:
``MonitorCycle(..., **cycle_hooks(config, engine=..., github=...))``. Token alerts come back
to the cycle, which routes and records them like any other alert.

Without a GitHub source (pre-commit, local files) only the metadata detector and the skip
flags are on: artifacts, duration backfill, issues and the token need the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from hee_monitor.action.escalation.issues import EscalationSettings, IssueEscalator
from hee_monitor.action.escalation.store import EscalationStore
from hee_monitor.analysis.detection.detector import RunDetector
from hee_monitor.analysis.detection.durations import DurationStore
from hee_monitor.analysis.detection.settings import DetectionSettings
from hee_monitor.core.config import Config
from hee_monitor.core.models import FailedRun
from hee_monitor.decision.skip import SkipDecision, SkipSettings, skip_decision
from hee_monitor.sources.github.token import TokenReport, TokenSettings, TokenWatch, check_token


def validate_sections(config: Config) -> None:
    """Raise ConfigError for an invalid ``[detection]``, ``[skip]``, ``[escalation]`` or
    ``[token]`` section (``hee-monitor config check`` calls this)."""
    DetectionSettings.from_section(config.section("detection"))
    SkipSettings.from_section(config.section("skip"))
    EscalationSettings.from_section(config.section("escalation"))
    TokenSettings.from_section(config.section("token"))


def cycle_hooks(
    config: Config,
    *,
    engine: Engine,
    github: Any | None = None,
    repos: Sequence[str] = (),
) -> dict[str, Any]:
    """Keyword arguments for :class:`~hee_monitor.service.cycle.MonitorCycle`. Raises
    ConfigError for an invalid ``[detection]``, ``[skip]``, ``[escalation]`` or ``[token]``."""
    detection = DetectionSettings.from_section(config.section("detection"))
    skip = SkipSettings.from_section(config.section("skip"))
    escalation = EscalationSettings.from_section(config.section("escalation"))
    token = TokenSettings.from_section(config.section("token"))
    watched = list(repos) or list(config.repos)

    def skip_for(run: FailedRun) -> SkipDecision | None:
        return skip_decision(run, skip)

    detector = RunDetector(detection, durations=DurationStore(engine), forge=github)
    hooks: dict[str, Any] = {"detector": detector.detect, "skip_for": skip_for}
    if github is None:
        return hooks
    if escalation.enabled:
        hooks["escalator"] = IssueEscalator(EscalationStore(engine), github, escalation)

    def check(now: datetime) -> TokenReport:
        return check_token(github, token, now, token=config.token, repos=watched)

    hooks["token_watch"] = TokenWatch(check, repo=",".join(watched))
    return hooks
