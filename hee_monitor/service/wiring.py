"""Build a monitoring cycle from the configuration: the real sources, analyzer, policy,
audit store, capsule and notifier. Each port's implementations are listed in a literal
registry (forges in :data:`hee_monitor.sources.SOURCES`); the forge, the alert router and
the signed capsule are loaded by name so that a build without one of them still monitors
(and says what is missing). :func:`forge` is the one place a forge is built.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from hee_monitor.action.alerts import AlertRouter
from hee_monitor.core.clock import Clock
from hee_monitor.core.config import Config
from hee_monitor.core.errors import ConfigError
from hee_monitor.core.models import Severity
from hee_monitor.decision import POLICIES
from hee_monitor.record.audit import AuditStore
from hee_monitor.record.capsule.access import PlainCapsuleFile, SignedCapsule
from hee_monitor.record.leases import Leases
from hee_monitor.record.state import read_state
from hee_monitor.service.baseline import GreenForge, LastGreenBaselines
from hee_monitor.service.cycle import MonitorCycle
from hee_monitor.service.hooks import cycle_hooks
from hee_monitor.service.ports import CapsuleStore, LogAnalyzer, Notifier, RunControl, Source
from hee_monitor.sources import open_forge
from hee_monitor.sources.interface import Forge, ForgeSettings, PollCursors, ProcessedRuns

if TYPE_CHECKING:
    from hee_monitor.analysis.analyzer import Analyzer as PatternAnalyzer
    from hee_monitor.analysis.interface import FallbackClassifier


@dataclass
class Wiring:
    """Everything a cycle needs, plus what the commands use directly."""

    config: Config
    audit: AuditStore
    capsule: CapsuleStore
    clock: Clock
    forge: Forge | None = None  # when repositories are watched
    notes: list[str] = field(default_factory=list)
    #: --llm / --no-llm; None: the rule of hee_monitor.analysis.llm.fallback_wanted
    llm: bool | None = None


#: the forge a configuration watches (``[github]``: the only hosted forge so far)
FORGE_KIND = "github"


def forge(
    config: Config,
    repos: Sequence[str],
    *,
    clock: Clock | None = None,
    state: ProcessedRuns | None = None,
    cursors: PollCursors | None = None,
    lookback_hours: float = 24.0,
    api_url: str | None = None,
    token: str | None = None,
    retries: int | None = None,
    write_interval: float | None = 1.0,
    kind: str = FORGE_KIND,
) -> Forge:
    """The forge watching ``repos``, built through the source registry. With the audit store
    as ``state`` and ``cursors`` the forge hands out a run until the cycle has recorded it,
    and an idle repository costs no counted request, across restarts. Raises ConfigError
    when ``kind`` names a source that is not a whole forge."""
    built = open_forge(
        kind,
        ForgeSettings(
            repos=tuple(repos),
            token=token or config.token,
            api_url=api_url or config.api_url,
            clock=clock,
            state=state,
            cursors=cursors,
            lookback=timedelta(hours=lookback_hours),
            retries=retries,
            write_interval=write_interval,
        ),
    )
    if not isinstance(built, Forge):
        raise ConfigError(
            f"source {kind!r} reads files, it does not watch repositories",
            hint="watch repositories with a forge such as 'github'",
        )
    return built


def pattern_analyzer(fallback: FallbackClassifier | None = None) -> PatternAnalyzer:
    """The shipped pattern database, compiled once."""
    from hee_monitor.analysis.analyzer import Analyzer as Concrete

    return Concrete.from_default_database(fallback=fallback)


def llm_fallback(w: Wiring) -> FallbackClassifier | None:
    """The local-model classifier when ``[llm]`` (or --llm, HEE_LLM, OLLAMA_HOST) asks for it;
    its answers are cached in the audit store unless ``[llm] cache`` names another place."""
    from hee_monitor.analysis.llm import configured_classifier

    return configured_classifier(
        w.config.section("llm"), flag=w.llm, default_cache=w.audit.engine, clock=w.clock
    )


def analyzer(w: Wiring | None = None) -> LogAnalyzer:
    built: LogAnalyzer = pattern_analyzer(llm_fallback(w) if w is not None else None)
    return built


def signed_capsule(path: Path, repo: str, config: Config, clock: Clock) -> CapsuleStore:
    """The signed capsule file; keys from [capsule] signing_key / trusted_keys /
    encryption_key (paths) or HEE_SIGNING_KEY / HEE_TRUSTED_KEYS / HEE_CAPSULE_ENCRYPTION_KEY."""
    from hee_monitor.record.capsule.keys import load_signer, load_trusted_keys
    from hee_monitor.record.capsule.sealing import load_encryption_key

    section = config.section("capsule")
    key_file = section.get("signing_key")
    signer = load_signer(Path(key_file) if key_file else None)
    trusted = load_trusted_keys([str(k) for k in section.get("trusted_keys", [])], fallback=signer)
    enc = section.get("encryption_key")
    return SignedCapsule(
        path,
        signer,
        trusted,
        repository=repo,
        encryption_key=load_encryption_key(Path(enc) if enc else None),
        clock=clock,
        directory=False,
    )


def _signing_configured(config: Config) -> bool:
    return bool(os.environ.get("HEE_SIGNING_KEY") or config.section("capsule").get("signing_key"))


#: capsule implementations by name: signed when a signing key is configured, else plain JSON
CAPSULES: dict[str, Callable[[Path, str, Config, Clock], CapsuleStore]] = {
    "signed": signed_capsule,
    "plain": lambda path, repo, _config, _clock: PlainCapsuleFile(path, repo),
}


def capsule_file(
    path: Path, repo: str | None, config: Config, clock: Clock
) -> tuple[CapsuleStore, str | None]:
    """The state capsule at ``path`` as every writer opens it: signed (and verified on every
    read) when a signing key is configured, else plain JSON, with a note saying so. ``repo``
    names a capsule created afresh (default: the first configured repository)."""
    name = repo or (config.repos[0] if config.repos else "local/local")
    kind = "signed" if _signing_configured(config) else "plain"
    note = "capsule not signed: set HEE_SIGNING_KEY to sign it" if kind == "plain" else None
    return CAPSULES[kind](path, name, config, clock), note


def build(
    config: Config,
    *,
    clock: Clock,
    repos: Sequence[str] | None = None,
    capsule_path: str | None = None,
    database: str | None = None,
    need_github: bool = True,
    lookback_hours: float = 24.0,
    llm: bool | None = None,
) -> Wiring:
    audit = AuditStore.open(database or config.database)
    watched = list(repos) if repos else list(config.repos)
    path = Path(capsule_path or config.state_capsule)
    # one capsule per pipeline: named after the (first) repository watched
    capsule, note = capsule_file(path, watched[0] if watched else None, config, clock)
    wiring = Wiring(config=config, audit=audit, capsule=capsule, clock=clock, llm=llm)
    if note:
        wiring.notes.append(note)
    if need_github:
        if not watched:
            raise ConfigError(
                "no repositories to watch",
                hint="name them with --repo owner/name, HEE_REPOS, "
                'or [github] repos = ["owner/name"] in hee-monitor.toml',
            )
        wiring.forge = forge(
            config,
            watched,
            clock=clock,
            state=audit,
            cursors=audit,
            lookback_hours=lookback_hours,
        )
    return wiring


def notifier(w: Wiring) -> Notifier:
    """The alert router on the audit store's database, configured by [alerts]."""
    from hee_monitor.service.notify import RouterNotifier

    config = w.config
    routes = {repo: config.repo(repo).alert_channels for repo in config.data.get("repos", {})}
    router = AlertRouter.from_config(
        config.section("alerts"), w.audit.engine, w.clock, repo_channels=routes
    )
    return RouterNotifier(router, lambda: read_state(w.capsule.load()).state)


def cycle(
    wiring: Wiring,
    *,
    sources: Sequence[Source],
    alert_level: Severity,
    notifier: Notifier | None = None,
    run_control: RunControl | None = None,
    analyzer_impl: LogAnalyzer | None = None,
    on_run: Callable[[str], None] | None = None,
) -> MonitorCycle:
    config = wiring.config
    engine = str(config.data["policy"].get("engine", "rules"))
    return MonitorCycle(
        sources=sources,
        analyzer=analyzer_impl or analyzer(wiring),
        policy=POLICIES[engine](),
        audit=wiring.audit,
        capsule=wiring.capsule,
        clock=wiring.clock,
        notifier=notifier,
        run_control=run_control,
        settings_for=config.policy_for,
        scope_for=lambda repo: (config.repo(repo).branches, config.repo(repo).enabled_patterns),
        alert_level=alert_level,
        on_run=on_run,
        baseline_for=(
            LastGreenBaselines(wiring.forge, wiring.audit.engine, wiring.clock)
            if isinstance(wiring.forge, GreenForge)
            else None
        ),
        # any number of instances on one database: each run is processed by one of them
        leases=Leases(wiring.audit.engine),
        **cycle_hooks(config, engine=wiring.audit.engine, github=wiring.forge),
    )
