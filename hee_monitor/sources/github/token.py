"""Token hygiene: the GitHub token has what the configured features need, no more, and is
rotated before it lapses.

Checked on start and daily (:class:`TokenWatch`), and on demand with ``hee-monitor token
check``:

* **scopes** of a classic token (GitHub's ``X-OAuth-Scopes``) against what the enabled
  features need (:data:`FEATURE_SCOPES`): fewer is a problem (that feature will fail),
  broader ones (``admin:org``, ``delete_repo``, …) a warning. A fine-grained or app token
  lists no scopes; its read access is probed on each watched repository instead;
* **expiry** (``github-authentication-token-expiration``) and **age** (``[token]
  created_at``) against the rotation policy (90 days by default): expired or older than the
  policy is a problem, expiring within ``warn_days`` a warning, a token that never expires
  or outlives the policy a warning.

Findings become :class:`~hee_monitor.core.models.Alert` values of kind ``"token"``. The token
itself is never part of a message, a log line or an alert: only what GitHub says about it.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Protocol

from hee_monitor.core.config import validate_section
from hee_monitor.core.errors import ConfigError, HeeError
from hee_monitor.core.models import Alert, Severity
from hee_monitor.sources.github.app import GitHubApp, broad_permissions, missing_permissions
from hee_monitor.sources.interface import Runs, TokenInfo, Tokens

log = logging.getLogger(__name__)

#: classic-token scopes each feature needs (private repositories included)
FEATURE_SCOPES: Final[dict[str, frozenset[str]]] = {
    "monitor": frozenset({"repo"}),
    "artifacts": frozenset({"repo"}),
    "rerun": frozenset({"repo"}),
    "escalation": frozenset({"repo"}),
    "codeowners": frozenset({"repo"}),
    # fixes may change files under .github/workflows, which needs "workflow"
    "fixes": frozenset({"repo", "workflow"}),
}
#: a scope grants these too (GitHub's scope hierarchy)
IMPLIED: Final[dict[str, frozenset[str]]] = {
    "repo": frozenset({"repo:status", "repo_deployment", "public_repo", "repo:invite",
                       "security_events"}),
    "admin:org": frozenset({"write:org", "read:org", "manage_runners:org"}),
    "write:org": frozenset({"read:org"}),
    "admin:repo_hook": frozenset({"write:repo_hook", "read:repo_hook"}),
    "write:packages": frozenset({"read:packages"}),
    "user": frozenset({"read:user", "user:email", "user:follow"}),
}  # fmt: skip
#: scopes no feature of hee-monitor needs and that make a leaked token costly
BROAD_SCOPES: Final = frozenset(
    {
        "admin:org", "write:org", "delete_repo", "admin:repo_hook", "admin:org_hook",
        "admin:public_key", "admin:gpg_key", "admin:enterprise", "write:packages",
        "delete:packages", "user", "gist", "site_admin", "codespace", "admin:ssh_signing_key",
        "audit_log", "project", "write:discussion", "manage_billing:enterprise",
    }
)  # fmt: skip
DEFAULT_FEATURES: Final = ("monitor", "rerun", "escalation", "artifacts")


class Level(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"


@dataclass(frozen=True)
class TokenCheck:
    level: Level
    topic: str  # scopes | expiry | age | access | kind
    message: str

    def to_json(self) -> dict[str, str]:
        return {"level": self.level.value, "topic": self.topic, "message": self.message}


@dataclass(frozen=True)
class TokenSettings:
    """The ``[token]`` section."""

    rotation_days: int = 90
    warn_days: int = 14
    #: when the token was created (classic tokens do not say): its age is checked
    created_at: date | None = None
    features: tuple[str, ...] = DEFAULT_FEATURES

    @classmethod
    def from_section(cls, data: Mapping[str, Any] | None) -> TokenSettings:
        data = dict(data or {})
        raw = data.get("created_at")
        if isinstance(raw, date):  # TOML dates arrive as dates
            data["created_at"] = raw.isoformat()
        validate_section("token", data)
        created = None
        if data.get("created_at"):
            try:
                created = date.fromisoformat(str(data["created_at"]))
            except ValueError:
                raise ConfigError(
                    f"[token] created_at: {data['created_at']!r} is not a date",
                    hint="write it as YYYY-MM-DD",
                ) from None
        return cls(
            rotation_days=int(data.get("rotation_days", 90)),
            warn_days=int(data.get("warn_days", 14)),
            created_at=created,
            features=tuple(data.get("features", DEFAULT_FEATURES)),
        )


def granted(scopes: Sequence[str]) -> set[str]:
    """``scopes`` with everything they imply."""
    out = set(scopes)
    for scope in list(out):
        out |= IMPLIED.get(scope, frozenset())
    for scope in list(out):
        out |= IMPLIED.get(scope, frozenset())
    return out


def token_kind(token: str | None) -> str:
    """The kind of token from its documented prefix (the token is not kept)."""
    if not token:
        return "none"
    for prefix, kind in (
        ("github_pat_", "fine-grained"),
        ("ghp_", "classic"),
        ("gho_", "oauth"),
        ("ghs_", "app"),
        ("ghu_", "app-user"),
    ):
        if token.startswith(prefix):
            return kind
    return "unknown"


def check_scopes(facts: TokenInfo, features: Sequence[str]) -> list[TokenCheck]:
    """Scopes against the features' needs (pure)."""
    if not facts.scopes_known:
        return [
            TokenCheck(
                Level.OK,
                "scopes",
                "GitHub lists no scopes for this token (fine-grained or app token): "
                "its access is probed on each repository instead",
            )
        ]
    have = granted(facts.scopes)
    checks: list[TokenCheck] = []
    for feature in features:
        missing = sorted(FEATURE_SCOPES.get(feature, frozenset()) - have)
        if missing:
            checks.append(
                TokenCheck(
                    Level.PROBLEM,
                    "scopes",
                    f"{feature} needs scope {', '.join(missing)}, which the token lacks",
                )
            )
    needed = set().union(*(FEATURE_SCOPES.get(f, frozenset()) for f in features))
    broad = sorted(s for s in facts.scopes if s in BROAD_SCOPES and s not in needed)
    if "workflow" in facts.scopes and "workflow" not in needed:
        broad.append("workflow")
    if broad:
        checks.append(
            TokenCheck(
                Level.WARNING,
                "scopes",
                f"the token has scopes no enabled feature needs: {', '.join(broad)}; "
                "a token with fewer scopes limits what a leak costs",
            )
        )
    if not checks:
        shown = ", ".join(sorted(facts.scopes)) or "none"
        checks.append(TokenCheck(Level.OK, "scopes", f"scopes {shown} fit the enabled features"))
    return checks


def check_lifetime(facts: TokenInfo, settings: TokenSettings, now: datetime) -> list[TokenCheck]:
    """Expiry and age against the rotation policy (pure)."""
    checks: list[TokenCheck] = []
    policy = timedelta(days=settings.rotation_days)
    expires = facts.expires_at
    if expires is None:
        checks.append(
            TokenCheck(
                Level.WARNING,
                "expiry",
                f"the token never expires; the rotation policy asks for a new token every "
                f"{settings.rotation_days} days (set an expiration when you create it)",
            )
        )
    else:
        left = expires - now
        if left <= timedelta(0):
            checks.append(
                TokenCheck(Level.PROBLEM, "expiry", f"the token expired on {_day(expires)}")
            )
        elif left <= timedelta(days=settings.warn_days):
            checks.append(
                TokenCheck(
                    Level.WARNING,
                    "expiry",
                    f"the token expires on {_day(expires)}, in {_days(left)}: "
                    "create its successor and update the secret now",
                )
            )
        elif left > policy:
            checks.append(
                TokenCheck(
                    Level.WARNING,
                    "expiry",
                    f"the token expires on {_day(expires)}, in {_days(left)}: later than the "
                    f"{settings.rotation_days}-day rotation policy",
                )
            )
        else:
            checks.append(
                TokenCheck(Level.OK, "expiry", f"expires on {_day(expires)}, in {_days(left)}")
            )
    if settings.created_at is not None:
        created = datetime(
            settings.created_at.year, settings.created_at.month, settings.created_at.day,
            tzinfo=UTC,
        )  # fmt: skip
        age = now - created
        due = created + policy
        if age >= policy:
            checks.append(
                TokenCheck(
                    Level.PROBLEM,
                    "age",
                    f"the token is {_days(age)} old, past the {settings.rotation_days}-day "
                    f"rotation policy (it was due on {_day(due)})",
                )
            )
        elif due - now <= timedelta(days=settings.warn_days):
            checks.append(
                TokenCheck(
                    Level.WARNING,
                    "age",
                    f"the token is due for rotation on {_day(due)} ({_days(due - now)} left)",
                )
            )
        else:
            checks.append(TokenCheck(Level.OK, "age", f"rotation due on {_day(due)}"))
    return checks


def _day(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d")


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    if days < 1:
        hours = round(max(delta.total_seconds() / 3600, 0))
        return f"{hours} hour{'' if hours == 1 else 's'}"
    whole = round(days)
    return f"{whole} day{'' if whole == 1 else 's'}"


class TokenForge(Tokens, Runs, Protocol):
    """What the check asks: the token's facts, and a read of each repository."""


@dataclass(frozen=True)
class TokenReport:
    checks: tuple[TokenCheck, ...]
    checked_at: datetime
    login: str | None = None
    kind: str = "unknown"

    @property
    def ok(self) -> bool:
        return not any(c.level is Level.PROBLEM for c in self.checks)

    @property
    def warnings(self) -> tuple[TokenCheck, ...]:
        return tuple(c for c in self.checks if c.level is Level.WARNING)

    @property
    def problems(self) -> tuple[TokenCheck, ...]:
        return tuple(c for c in self.checks if c.level is Level.PROBLEM)

    def alerts(self, repo: str) -> list[Alert]:
        """One token alert per warning or problem (deduplicated by topic downstream)."""
        out = []
        for check in (*self.problems, *self.warnings):
            severity = Severity.HIGH if check.level is Level.PROBLEM else Severity.MEDIUM
            if check.topic == "expiry" and check.level is Level.PROBLEM:
                severity = Severity.CRITICAL
            out.append(
                Alert(
                    repo=repo,
                    severity=severity,
                    title=f"GitHub token: {check.message.split(';')[0]}",
                    body=check.message,
                    fingerprint=f"token:{check.topic}:{check.level.value}",
                    kind="token",
                    created_at=self.checked_at,
                )
            )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "login": self.login,
            "kind": self.kind,
            "checked_at": self.checked_at.isoformat(),
            "checks": [c.to_json() for c in self.checks],
        }


def check_token(
    forge: TokenForge,
    settings: TokenSettings,
    now: datetime,
    *,
    token: str | None = None,
    repos: Sequence[str] = (),
) -> TokenReport:
    """Ask GitHub about the token and judge it. A token GitHub rejects is a problem (not an
    exception): the report says so."""
    app = getattr(forge, "app", None)
    if app is not None:
        return check_app(app, settings, now, repos=repos, forge=forge)
    kind = token_kind(token)
    if kind == "none":
        return TokenReport(
            (TokenCheck(Level.PROBLEM, "kind", "no GitHub token is configured "
                        "(GITHUB_TOKEN or [github] token)"),),
            now,
        )  # fmt: skip
    if kind == "app":
        # An installation token (the Actions GITHUB_TOKEN, a GitHub App's): GitHub issues it
        # for an hour and renews it itself, it has no scopes and no user (GET /user answers
        # 403 for it); what it can do is what it can read.
        checks = [
            TokenCheck(
                Level.OK,
                "kind",
                "an installation token (ghs_, e.g. the Actions GITHUB_TOKEN): short-lived and "
                "renewed by GitHub, checked through what it can read",
            ),
            *_access(forge, repos),
        ]
        return TokenReport(tuple(checks), now, None, kind)
    try:
        facts = forge.token_info()
    except HeeError as exc:
        if getattr(exc, "fatal", False):
            return TokenReport((TokenCheck(Level.PROBLEM, REJECTED, exc.message),), now, kind=kind)
        return TokenReport((TokenCheck(Level.PROBLEM, "access", exc.message),), now, kind=kind)
    checks = [*check_scopes(facts, settings.features), *check_lifetime(facts, settings, now)]
    if not facts.scopes_known or kind == "fine-grained":
        checks += _access(forge, repos)
    return TokenReport(tuple(checks), now, getattr(facts, "login", None), kind)


def check_app(
    app: GitHubApp,
    settings: TokenSettings,
    now: datetime,
    *,
    repos: Sequence[str] = (),
    forge: TokenForge | None = None,
) -> TokenReport:
    """A GitHub App: its installations, each one's permissions against the enabled
    features (missing ones a problem, broad ones a warning), each watched repository's
    installation, and a read of each repository with that installation's token."""
    try:
        installations = app.installations()
    except HeeError as exc:
        return TokenReport(
            (TokenCheck(Level.PROBLEM, REJECTED, exc.message),), now, kind="github-app"
        )
    checks = [
        TokenCheck(
            Level.OK,
            "kind",
            f"GitHub App {app.credentials.app_id}: installed on "
            f"{', '.join(i.account for i in installations) or 'no account'}; installation "
            "tokens live an hour and are renewed before they expire",
        )
    ]
    if not installations:
        checks.append(
            TokenCheck(Level.PROBLEM, "install", "the app is not installed anywhere: install "
                       "it on the accounts whose repositories you watch")
        )  # fmt: skip
    owners = {r.split("/", 1)[0].lower() for r in repos}
    for item in installations:
        pinned = app.credentials.installation_id is not None
        if owners and not pinned and item.account.lower() not in owners:
            continue  # an installation no watched repository uses
        perms = ", ".join(f"{k}: {v}" for k, v in sorted(item.permissions.items())) or "none"
        missing = missing_permissions(item.permissions, settings.features)
        for feature, needs in sorted(missing.items()):
            checks.append(
                TokenCheck(
                    Level.PROBLEM,
                    "permissions",
                    f"installation {item.id} on {item.account}: {feature} needs "
                    f"{', '.join(needs)}, which the app lacks (grant it under App settings → "
                    "Permissions, then accept it on the installation)",
                )
            )
        broad = broad_permissions(item.permissions, settings.features)
        if broad:
            checks.append(
                TokenCheck(
                    Level.WARNING,
                    "permissions",
                    f"installation {item.id} on {item.account} has permissions no enabled "
                    f"feature needs: {', '.join(broad)}",
                )
            )
        if not missing and not broad:
            checks.append(
                TokenCheck(
                    Level.OK,
                    "permissions",
                    f"installation {item.id} on {item.account} ({item.repository_selection} "
                    f"repositories): {perms} fit the enabled features",
                )
            )
    reachable = []
    for repo in repos:
        try:
            app.installation_for(repo)
        except HeeError as exc:
            checks.append(TokenCheck(Level.PROBLEM, "install", exc.message))
        else:
            reachable.append(repo)
    if forge is not None:
        checks += _access(forge, reachable)
    return TokenReport(tuple(checks), now, None, "github-app")


#: the topic of a check GitHub answered 401 to: the token is rejected (fatal for a cycle)
REJECTED: Final = "rejected"


def _access(forge: TokenForge, repos: Sequence[str]) -> list[TokenCheck]:
    checks = []
    for repo in repos:
        try:
            forge.successful_runs(repo, None, 1)
        except HeeError as exc:
            topic = REJECTED if getattr(exc, "fatal", False) else "access"
            checks.append(
                TokenCheck(Level.PROBLEM, topic, f"cannot read Actions of {repo}: {exc.message}")
            )
        else:
            checks.append(TokenCheck(Level.OK, "access", f"reads Actions of {repo}"))
    return checks


@dataclass
class TokenWatch:
    """Checks the token on start and then every ``interval``; returns the alerts of each
    check (none between checks) for the cycle to route and record like any other."""

    check: Callable[[datetime], TokenReport]
    repo: str = ""
    interval: timedelta = timedelta(days=1)
    last: TokenReport | None = field(default=None)

    def due(self, now: datetime) -> bool:
        return self.last is None or now - self.last.checked_at >= self.interval

    def __call__(self, now: datetime) -> list[Alert]:
        if not self.due(now):
            return []
        report = self.check(now)
        self.last = report
        rejected = [c for c in report.problems if c.topic == REJECTED]
        if rejected:
            from hee_monitor.sources.github.source import TokenRejected

            self.last = None  # checked again next cycle, once the token is replaced
            raise TokenRejected(rejected[0].message, hint="replace GITHUB_TOKEN")
        for check in report.problems:
            log.error("GitHub token: %s", check.message)
        for check in report.warnings:
            log.warning("GitHub token: %s", check.message)
        return report.alerts(self.repo)
