"""Build a monitoring cycle from the configuration: the real sources, analyzer, policy,
audit store, capsule and notifier. Each port's implementations are listed in a literal
registry; the GitHub source, the alert router and the signed capsule are loaded by name
so that a build without one of them still monitors (and says what is missing).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hee_monitor.clock import Clock
from hee_monitor.config import Config
from hee_monitor.errors import ConfigError
from hee_monitor.models import Severity
from hee_monitor.monitor.capsule_file import PlainCapsuleFile
from hee_monitor.monitor.cycle import MonitorCycle
from hee_monitor.monitor.ports import Analyzer, Capsule, Notifier, RunControl, Source
from hee_monitor.policy import POLICIES
from hee_monitor.store.audit import AuditStore

if TYPE_CHECKING:
    from hee_monitor.analysis.analyzer import Analyzer as PatternAnalyzer


@dataclass
class Wiring:
    """Everything a cycle needs, plus what the commands use directly."""

    config: Config
    audit: AuditStore
    capsule: Capsule
    clock: Clock
    github: Any = None  # the GitHub source, when repositories are watched
    notes: list[str] = field(default_factory=list)


def _optional(module: str, attr: str) -> Any:
    try:
        return getattr(importlib.import_module(module), attr)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        raise


def github_source(
    config: Config, repos: Sequence[str], audit: AuditStore, clock: Clock, lookback_hours: float
) -> Any:
    """The GitHub source for ``repos``, its processed-runs register backed by ``audit``."""
    cls = _optional("hee_monitor.sources.github", "GitHubSource")
    if cls is None:
        raise ConfigError(
            "this build has no GitHub source (hee_monitor.sources.github)",
            hint="install the full hee-monitor package, or use --mode pre-commit on local logs",
        )
    return cls(
        list(repos),
        token=config.token,
        api_url=config.api_url,
        clock=clock,
        state=audit,
        lookback=timedelta(hours=lookback_hours),
    )


def pattern_analyzer() -> PatternAnalyzer:
    """The shipped pattern database, compiled once."""
    from hee_monitor.analysis.analyzer import Analyzer as Concrete

    return Concrete.from_default_database()


def analyzer() -> Analyzer:
    built: Analyzer = pattern_analyzer()
    return built


#: capsule implementations by name
CAPSULES: dict[str, Callable[[Path, str], Capsule]] = {
    "plain": lambda path, repo: PlainCapsuleFile(path, repo),
}


def build(
    config: Config,
    *,
    clock: Clock,
    repos: Sequence[str] | None = None,
    capsule_path: str | None = None,
    database: str | None = None,
    need_github: bool = True,
    lookback_hours: float = 24.0,
) -> Wiring:
    audit = AuditStore.open(database or config.database)
    watched = list(repos) if repos else list(config.repos)
    path = Path(capsule_path or config.state_capsule)
    capsule = CAPSULES["plain"](path, watched[0] if len(watched) == 1 else ",".join(watched))
    wiring = Wiring(config=config, audit=audit, capsule=capsule, clock=clock)
    if need_github:
        if not watched:
            raise ConfigError(
                "no repositories to watch",
                hint="name them with --repo owner/name, HEE_REPOS, "
                'or [github] repos = ["owner/name"] in hee-monitor.toml',
            )
        wiring.github = github_source(config, watched, audit, clock, lookback_hours)
    return wiring


def cycle(
    wiring: Wiring,
    *,
    sources: Sequence[Source],
    alert_level: Severity,
    notifier: Notifier | None = None,
    run_control: RunControl | None = None,
    analyzer_impl: Analyzer | None = None,
    on_run: Callable[[str], None] | None = None,
) -> MonitorCycle:
    config = wiring.config
    engine = str(config.data["policy"].get("engine", "rules"))
    return MonitorCycle(
        sources=sources,
        analyzer=analyzer_impl or analyzer(),
        policy=POLICIES[engine](),
        audit=wiring.audit,
        capsule=wiring.capsule,
        clock=wiring.clock,
        notifier=notifier,
        run_control=run_control,
        settings_for=config.policy_for,
        alert_level=alert_level,
        on_run=on_run,
    )
