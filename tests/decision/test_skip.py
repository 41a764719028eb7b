from __future__ import annotations

import pytest

from hee_monitor.core.errors import ConfigError
from hee_monitor.core.models import FailedRun, HealthState
from hee_monitor.decision.interface import Action, Decision
from hee_monitor.decision.skip import SkipSettings, apply_skip, skip_decision

DEFAULT = SkipSettings()


def run(
    message: str = "Fix the build", labels: tuple[str, ...] = (), repo: str = "o/a"
) -> FailedRun:
    return FailedRun(
        repo, 1, 1, "CI", "abc", "main", "push", "failure", (),
        head_commit_message=message, labels=labels,
    )  # fmt: skip


@pytest.mark.parametrize(
    "message",
    ["Bump deps [skip hee]", "WIP [SKIP HEE]\n\nmore", "Refactor\n\n[hee skip] please"],
)
def test_commit_marker(message: str) -> None:
    decision = skip_decision(run(message), DEFAULT)
    assert decision is not None and decision.source == "commit"
    assert "head commit message" in decision.reason


def test_label_repository_and_nothing() -> None:
    labelled = skip_decision(run(labels=("bug", "HEE:SKIP")), DEFAULT)
    assert labelled is not None and (labelled.source, labelled.flag) == ("label", "hee:skip")
    repo = skip_decision(run(repo="o/frozen"), SkipSettings(repos=("o/frozen",)))
    assert repo is not None and repo.source == "repository"
    assert skip_decision(run("skip hee without brackets", ("skip",)), DEFAULT) is None
    custom = SkipSettings.from_section({"markers": ["[no autofix]"], "alerts": True})
    flagged = skip_decision(run("x [no autofix]"), custom)
    assert flagged is not None and flagged.alerts
    assert skip_decision(run("[skip hee]"), custom) is None


def test_bad_section() -> None:
    with pytest.raises(ConfigError, match=r"skip\.markers"):
        SkipSettings.from_section({"markers": "[skip hee]"})


def decision(*actions: Action) -> Decision:
    return Decision(
        actions, ("failure_detected",), HealthState.OPERATIONAL, HealthState.DEGRADED,
        ("a failure",), ("rule",),
    )  # fmt: skip


def test_apply_skip_withholds_fixes_and_optionally_alerts() -> None:
    flag = skip_decision(run("[skip hee]"), DEFAULT)
    narrowed = apply_skip(decision(Action.ALERT, Action.AUTO_FIX, Action.RERUN), flag)
    assert narrowed.actions == (Action.ALERT,)
    assert narrowed.triggers == ("failure_detected",)  # the state still moves
    assert narrowed.reasons[-1].startswith("skip flag:")
    loud = skip_decision(run("[skip hee]"), SkipSettings(alerts=True))
    assert apply_skip(decision(Action.ALERT, Action.OPEN_PR), loud).actions == (Action.NONE,)
    unchanged = decision(Action.AUTO_FIX)
    assert apply_skip(unchanged, None) is unchanged
