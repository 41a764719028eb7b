from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from hee_monitor.core.clock import FakeClock
from hee_monitor.sources.github.source import GitHubSource, TokenRejected
from hee_monitor.sources.github.token import (
    Level,
    TokenSettings,
    TokenWatch,
    check_lifetime,
    check_scopes,
    check_token,
    token_kind,
)
from tests.fakes.github import GitHubFake

NOW = datetime(2026, 6, 1, tzinfo=UTC)
TOKEN = "ghp_hygiene0123456789abcdefABCDEF0123"


@dataclass(frozen=True)
class Facts:
    scopes: tuple[str, ...] = ("repo",)
    expires_at: datetime | None = NOW + timedelta(days=60)
    scopes_known: bool = True


def levels(checks: list) -> list[tuple[str, Level]]:  # type: ignore[type-arg]
    return [(c.topic, c.level) for c in checks]


def test_scopes_less_than_needed_is_a_problem_more_a_warning() -> None:
    assert levels(check_scopes(Facts(("repo",)), ["monitor", "escalation"])) == [
        ("scopes", Level.OK)
    ]
    lacking = check_scopes(Facts(("public_repo",)), ["monitor", "fixes"])
    assert [c.level for c in lacking] == [Level.PROBLEM, Level.PROBLEM]
    assert "fixes needs scope repo, workflow" in lacking[1].message
    broad = check_scopes(Facts(("repo", "admin:org", "delete_repo", "workflow")), ["monitor"])
    assert levels(broad) == [("scopes", Level.WARNING)]
    assert "admin:org, delete_repo, workflow" in broad[0].message
    fine_grained = check_scopes(Facts((), scopes_known=False), ["monitor"])
    assert fine_grained[0].level is Level.OK and "probed" in fine_grained[0].message


def test_expiry_and_age_against_the_rotation_policy() -> None:
    settings = TokenSettings(rotation_days=90, warn_days=14)
    assert levels(check_lifetime(Facts(), settings, NOW)) == [("expiry", Level.OK)]
    soon = check_lifetime(Facts(expires_at=NOW + timedelta(days=5)), settings, NOW)
    assert soon[0].level is Level.WARNING and "in 5 days" in soon[0].message
    expired = check_lifetime(Facts(expires_at=NOW - timedelta(hours=1)), settings, NOW)
    assert expired[0].level is Level.PROBLEM
    never = check_lifetime(Facts(expires_at=None), settings, NOW)
    assert never[0].level is Level.WARNING and "never expires" in never[0].message
    long = check_lifetime(Facts(expires_at=NOW + timedelta(days=365)), settings, NOW)
    assert long[0].level is Level.WARNING and "rotation policy" in long[0].message
    old = TokenSettings(created_at=date(2026, 1, 1))
    assert levels(check_lifetime(Facts(), old, NOW))[1] == ("age", Level.PROBLEM)
    due = TokenSettings(created_at=date(2026, 3, 10))
    assert levels(check_lifetime(Facts(), due, NOW))[1] == ("age", Level.WARNING)
    fresh = TokenSettings(created_at=date(2026, 5, 20))
    assert levels(check_lifetime(Facts(), fresh, NOW))[1] == ("age", Level.OK)


def test_token_kind_from_its_prefix() -> None:
    assert token_kind("github_pat_11AAA") == "fine-grained"
    assert token_kind(TOKEN) == "classic"
    assert token_kind(None) == "none"
    assert token_kind("something") == "unknown"


def test_settings_section() -> None:
    settings = TokenSettings.from_section(
        {"created_at": date(2026, 2, 1), "features": ["monitor", "fixes"], "warn_days": 7}
    )
    assert settings.created_at == date(2026, 2, 1)
    assert settings.features == ("monitor", "fixes")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[GitHubFake]:
    with GitHubFake(clock=clock) as server:
        server.require_token(TOKEN)
        server.add_repo("octo/app")
        yield server


def source(fake: GitHubFake, clock: FakeClock, token: str = TOKEN) -> GitHubSource:
    return GitHubSource(["octo/app"], token=token, api_url=fake.url, clock=clock,
                        write_interval=None)  # fmt: skip


def test_check_against_github_and_the_token_never_appears_in_logs(
    fake: GitHubFake, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake.token_scopes = "repo, admin:org"
    fake.token_expiration = "2026-06-08 00:00:00 UTC"
    caplog.set_level(logging.DEBUG)
    with source(fake, clock) as s:
        report = check_token(s, TokenSettings(), NOW, token=TOKEN, repos=["octo/app"])
    assert report.ok  # warnings only
    assert report.kind == "classic"
    assert {(c.topic, c.level) for c in report.warnings} == {
        ("scopes", Level.WARNING),
        ("expiry", Level.WARNING),
    }
    alerts = report.alerts("octo/app")
    assert {a.kind for a in alerts} == {"token"}
    assert len(caplog.records) > 0  # PyGithub and urllib3 did log at DEBUG
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in logged and TOKEN[4:20] not in logged
    assert all(TOKEN not in (a.title + a.body) for a in alerts)


def test_a_rejected_token_is_a_problem_without_the_token(
    fake: GitHubFake, clock: FakeClock
) -> None:
    wrong = "ghp_wrongwrongwrongwrong0123456789"
    with source(fake, clock, wrong) as s:
        report = check_token(s, TokenSettings(), NOW, token=wrong)
    assert not report.ok
    assert "401" in report.problems[0].message and wrong not in report.problems[0].message


def test_fine_grained_tokens_are_probed_per_repository(fake: GitHubFake, clock: FakeClock) -> None:
    fake.token_scopes = None
    fake.token_expiration = "2026-07-01 00:00:00 UTC"
    fake.forbid_repo("octo/secret")
    with source(fake, clock) as s:
        report = check_token(
            s, TokenSettings(), NOW, token=TOKEN, repos=["octo/app", "octo/secret"]
        )
    access = [(c.level, c.message) for c in report.checks if c.topic == "access"]
    assert access[0] == (Level.OK, "reads Actions of octo/app")
    assert access[1][0] is Level.PROBLEM and "octo/secret" in access[1][1]
    assert not report.ok


def test_the_watch_checks_on_start_and_daily_and_alerts(fake: GitHubFake, clock: FakeClock) -> None:
    fake.token_scopes = "repo"
    fake.token_expiration = "2026-06-03 00:00:00 UTC"
    with source(fake, clock) as s:
        watch = TokenWatch(
            lambda now: check_token(s, TokenSettings(features=("monitor",)), now, token=TOKEN),
            repo="octo/app",
        )
        first = watch(clock.now())
        assert watch(clock.now() + timedelta(hours=5)) == []
        second = watch(clock.now() + timedelta(days=1))
    assert [a.fingerprint for a in first + second] == ["token:expiry:warning"] * 2
    assert {a.kind for a in first} == {"token"}


def test_an_installation_token_is_checked_through_what_it_reads_without_alerts(
    fake: GitHubFake, clock: FakeClock
) -> None:
    installation = "ghs_actionsinstallation0123456789abcd"
    fake.require_token(installation)
    fake.installation_token = True  # GET /user answers 403, as for the Actions GITHUB_TOKEN
    fake.token_scopes = None
    with source(fake, clock, installation) as s:
        report = check_token(s, TokenSettings(), NOW, token=installation, repos=["octo/app"])
    assert report.ok and report.kind == "app"
    assert report.alerts("octo/app") == []
    assert not any(r.path == "/user" for r in fake.requests)
    assert [c.topic for c in report.checks] == ["kind", "access"]


def test_the_watch_stops_the_cycle_on_a_rejected_token(fake: GitHubFake, clock: FakeClock) -> None:
    wrong = "ghp_wrongwrongwrongwrong0123456789"
    fake.require_token(TOKEN)
    with source(fake, clock, wrong) as s:
        watch = TokenWatch(lambda now: check_token(s, TokenSettings(), now, token=wrong))
        with pytest.raises(TokenRejected) as caught:
            watch(clock.now())
    assert "401" in caught.value.message and wrong not in caught.value.message
    assert caught.value.exit_code == 3
