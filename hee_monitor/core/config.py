"""Configuration: embedded defaults, then a TOML file, then environment variables.

Sections ``[github]``, ``[monitor]``, ``[policy]`` and ``[repos."owner/name"]`` are read
here; ``[alerts]``, ``[llm]``, ``[fix]``, ``[capsule]`` and ``[coverage]`` are handed as
mappings to the component that owns them (:meth:`Config.section`). The file is validated
against ``schemas/config.schema.json``; an error names the file, the key and its line.

Environment: ``HEE_CONFIG`` (the file), ``HEE_DATABASE_URL``, ``HEE_REPOS`` (comma
separated), ``HEE_GITHUB_API_URL``, ``GITHUB_TOKEN``, and ``HEE_<SECTION>__<KEY>`` for any
other key (the value is read as a TOML value when it parses as one, else as a string).
"""

from __future__ import annotations

import copy
import os
import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hee_monitor.core.errors import ConfigError
from hee_monitor.core.models import HealthState
from hee_monitor.core.resources import load_schema

DEFAULT_FILE = "hee-monitor.toml"
#: the application's directory name under the user's state directory
APP_NAME = "hee-monitor"


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where hee-monitor keeps its state when nobody says otherwise: ``$HEE_STATE_DIR``, else
    the user's state directory (``$XDG_STATE_HOME/hee-monitor``, by default
    ``~/.local/state/hee-monitor`` on Linux; each platform's equivalent elsewhere). Never
    the current directory nor a repository being fixed."""
    env = os.environ if env is None else env
    if env.get("HEE_STATE_DIR"):
        return Path(env["HEE_STATE_DIR"])
    if env.get("XDG_STATE_HOME"):  # honoured on every platform, as on Linux
        return Path(env["XDG_STATE_HOME"]) / APP_NAME
    if sys.platform not in ("darwin", "win32"):  # the XDG default, without an import
        return Path.home() / ".local" / "state" / APP_NAME
    from platformdirs import user_state_path

    return user_state_path(APP_NAME, appauthor=False)


def default_database(env: Mapping[str, str] | None = None) -> str:
    """The audit store when none is configured: SQLite in :func:`state_dir`."""
    return f"sqlite:///{state_dir(env) / 'hee-monitor.db'}"


def default_state_capsule(env: Mapping[str, str] | None = None) -> Path:
    """The state capsule when none is configured: ``current.json`` in :func:`state_dir`."""
    return state_dir(env) / "current.json"


def __getattr__(name: str) -> str:
    # DEFAULT_DATABASE depends on the environment: read when asked, not at import
    if name == "DEFAULT_DATABASE":
        return default_database()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: the one default risk threshold: fixes whose risk is above it wait for a person (the risk
#: model is hee_monitor/decision/risk.py; the policy and the fix engine both use this value)
DEFAULT_RISK_THRESHOLD = 3


DEFAULTS: dict[str, Any] = {
    "github": {"repos": [], "api_url": "https://api.github.com"},
    "monitor": {
        "interval_operational": 60,
        "interval_degraded": 30,
        "interval_failed": 30,
        "interval_maintenance": 300,
        # filled in by load_config: default_database() and default_state_capsule()
        "database": None,
        "state_capsule": None,
        "alert_level": "low",
        # seconds one cycle may take; repositories not read by then are listed and retried
        "cycle_deadline": 600,
        # repositories of one API host polled at the same time
        "poll_concurrency": 16,
        # a log that cannot be read is retried after log_retry_base seconds (doubling up to
        # log_retry_max); after log_wait seconds the run is diagnosed from its metadata
        "log_retry_base": 30,
        "log_retry_max": 300,
        "log_wait": 21600,
    },
    "policy": {
        "engine": "rules",
        "escalate_after": 3,
        "window_seconds": 3600,
        "max_reruns": 3,
        "max_fix_failures": 3,
        "risk_threshold": DEFAULT_RISK_THRESHOLD,
        "recovery_seconds": 21600,
        "rerun_cancelled": False,
    },
    "repos": {},
}

#: keys whose values are secrets wherever they appear (an alert channel's apprise ``urls``
#: carry their tokens)
_SECRET = re.compile(r"(token|secret|password|passwd|key|webhook|url_with_auth|dsn|^urls$)", re.I)
_NOT_SECRET = {"api_url", "keyid", "key_file", "public_key", "public_keys"}


@dataclass(frozen=True)
class PolicySettings:
    """The ``[policy]`` section with a repository's overrides applied."""

    #: failures of one fingerprint within ``window_seconds`` that escalate
    escalate_after: int = 3
    window_seconds: int = 3600
    #: re-runs of one run that a transient failure gets
    max_reruns: int = 3
    #: failed attempts of a fix strategy for one fingerprint before it is no longer tried
    max_fix_failures: int = 3
    #: findings with risk above this are not fixed without approval
    risk_threshold: int = DEFAULT_RISK_THRESHOLD
    #: a protected repository is never changed without approval
    protected: bool = False
    #: quiet time after which a degraded or failed pipeline counts as recovered
    recovery_seconds: int = 21600
    #: re-run cancelled runs too (off: a cancellation is somebody's decision)
    rerun_cancelled: bool = False


@dataclass(frozen=True)
class RepoConfig:
    name: str
    enabled: bool = True
    risk_threshold: int | None = None
    protected: bool = False
    branches: tuple[str, ...] = ()
    enabled_patterns: tuple[str, ...] = ()
    alert_channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    data: dict[str, Any]
    #: the file read, if any
    path: Path | None = None
    env_keys: tuple[str, ...] = field(default=())

    # -- [github] ------------------------------------------------------------------------
    @property
    def repos(self) -> tuple[str, ...]:
        """Repositories to watch: [github] repos plus any [repos."x"] not disabled."""
        names = list(self.data["github"].get("repos", []))
        names += [n for n in self.data.get("repos", {}) if n not in names]
        return tuple(n for n in names if self.repo(n).enabled)

    @property
    def api_url(self) -> str:
        return str(self.data["github"].get("api_url", DEFAULTS["github"]["api_url"]))

    @property
    def token(self) -> str | None:
        token = self.data["github"].get("token")
        return str(token) if token else None

    # -- [monitor] -----------------------------------------------------------------------
    @property
    def database(self) -> str:
        return str(self.data["monitor"]["database"])

    @property
    def state_capsule(self) -> str:
        return str(self.data["monitor"]["state_capsule"])

    def interval(self, state: HealthState) -> float:
        """Seconds between polls in ``state``: adaptive, shorter when unhealthy."""
        return float(self.data["monitor"][f"interval_{state.value}"])

    # -- [policy] and [repos] ------------------------------------------------------------
    def repo(self, name: str) -> RepoConfig:
        raw = self.data.get("repos", {}).get(name, {})
        return RepoConfig(
            name=name,
            enabled=bool(raw.get("enabled", True)),
            risk_threshold=raw.get("risk_threshold"),
            protected=bool(raw.get("protected", False)),
            branches=tuple(raw.get("branches", ())),
            enabled_patterns=tuple(raw.get("enabled_patterns", ())),
            alert_channels=tuple(raw.get("alert_channels", ())),
        )

    def policy_for(self, repo: str) -> PolicySettings:
        p = self.data["policy"]
        settings = PolicySettings(
            escalate_after=int(p["escalate_after"]),
            window_seconds=int(p["window_seconds"]),
            max_reruns=int(p["max_reruns"]),
            max_fix_failures=int(p["max_fix_failures"]),
            risk_threshold=int(p["risk_threshold"]),
            recovery_seconds=int(p["recovery_seconds"]),
            rerun_cancelled=bool(p.get("rerun_cancelled", False)),
        )
        override = self.repo(repo)
        if override.risk_threshold is not None:
            settings = replace(settings, risk_threshold=override.risk_threshold)
        return replace(settings, protected=override.protected)

    # -- other components' sections ------------------------------------------------------
    def section(self, name: str) -> dict[str, Any]:
        """A copy of section ``name`` (empty when absent), for the component that owns it."""
        return copy.deepcopy(dict(self.data.get(name, {})))

    def masked(self) -> dict[str, Any]:
        """The effective configuration with every secret replaced by ``"***"``."""
        masked: dict[str, Any] = _mask(self.data)
        return masked


def _mask(value: Any, key: str = "") -> Any:
    if isinstance(value, Mapping):
        return {k: _mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    if key not in _NOT_SECRET and _SECRET.search(key) and value not in (None, ""):
        return "***"
    if isinstance(value, str):
        # credentials inside URLs (database URLs, webhook URLs with user:password@)
        return re.sub(r"(://[^/:@]+):[^@/]+@", r"\1:***@", value)
    return value


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _line_of(text: str, path: list[str | int]) -> int | None:
    """Best-effort line of ``path`` in the TOML text: the key's line after its table header."""
    keys = [p for p in path if isinstance(p, str)]
    if not keys:
        return None
    lines = text.splitlines()
    start = 0
    if len(keys) > 1:
        header = re.compile(
            r"^\s*\[+\s*" + r"\s*\.\s*".join(_key_re(k) for k in keys[:-1]) + r"\s*\]+"
        )
        for i, line in enumerate(lines):
            if header.match(line):
                start = i
                break
    target = re.compile(r"^\s*" + _key_re(keys[-1]) + r"\s*=")
    for i in range(start, len(lines)):
        if target.match(lines[i]):
            return i + 1
    header_only = re.compile(r"^\s*\[+\s*" + r"\s*\.\s*".join(_key_re(k) for k in keys) + r"\s*\]+")
    for i, line in enumerate(lines):
        if header_only.match(line):
            return i + 1
    return None


def _key_re(key: str) -> str:
    escaped = re.escape(key)
    return f"(?:{escaped}|\"{escaped}\"|'{escaped}')"


def validate(data: Mapping[str, Any], *, where: str, text: str = "") -> None:
    """Raise one ConfigError listing every schema violation, each with file, line and key;
    an unknown key comes with the known keys closest to it ("did you mean")."""
    import jsonschema  # only when there is a file or an override to check

    validator = jsonschema.Draft202012Validator(load_schema("config.schema.json"))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    problems: list[str] = []
    for err in errors:
        problems.extend(_describe(err, where, text))
    head = problems[0] if len(problems) == 1 else f"{len(problems)} problems:"
    body = "" if len(problems) == 1 else "\n  " + "\n  ".join(problems)
    raise ConfigError(
        head + body,
        hint="see docs/configuration.md for the keys of each section; "
        "`hee-monitor config check` validates a file",
    )


def _describe(err: Any, where: str, text: str) -> list[str]:
    """One line per problem of a jsonschema error: ``where:line: key: message``."""
    import difflib

    path = list(err.absolute_path)
    if err.validator == "additionalProperties":
        known = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(known))
        lines = []
        for key in extra:
            close = difflib.get_close_matches(str(key), known, n=2, cutoff=0.6)
            guess = (
                f"; did you mean {' or '.join(repr(c) for c in close)}?"
                if close
                else f" (known: {', '.join(known)})"
                if known and len(known) <= 12
                else ""
            )
            lines.append(_locate([*path, key], where, text) + f"unknown key{guess}")
        if lines:
            return lines
    message = err.message
    last = str(path[-1]) if path else ""
    if _SECRET.search(last) and last not in _NOT_SECRET:
        message = f"invalid value (failed {err.validator!r} check; value not shown)"
    if len(message) > 200:
        message = message[:200] + "…"
    return [_locate(path, where, text) + message]


def _locate(path: list[Any], where: str, text: str) -> str:
    key = ".".join(str(p) for p in path) or "(top level)"
    line = _line_of(text, path) if text else None
    location = f"{where}:{line}" if line else where
    return f"{location}: {key}: "


def _env_overrides(env: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    over: dict[str, Any] = {}
    used: list[str] = []

    def put(section: str, key: str, value: Any, name: str) -> None:
        over.setdefault(section, {})[key] = value
        used.append(name)

    for name, raw in sorted(env.items()):
        if not name.startswith("HEE_") or "__" not in name:
            continue
        section, _, key = name[4:].partition("__")
        if not section or not key:
            continue
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        put(section.lower(), key.lower(), value, name)
    if env.get("HEE_DATABASE_URL"):
        put("monitor", "database", env["HEE_DATABASE_URL"], "HEE_DATABASE_URL")
    if env.get("HEE_REPOS"):
        repos = [r.strip() for r in env["HEE_REPOS"].split(",") if r.strip()]
        put("github", "repos", repos, "HEE_REPOS")
    if env.get("HEE_GITHUB_API_URL"):
        put("github", "api_url", env["HEE_GITHUB_API_URL"], "HEE_GITHUB_API_URL")
    if env.get("GITHUB_TOKEN"):
        put("github", "token", env["GITHUB_TOKEN"], "GITHUB_TOKEN")
    return over, used


def read_file(path: Path) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the configuration file ({exc.strerror})",
            hint="check the path given with --config or HEE_CONFIG",
        ) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid TOML: {exc}",
            hint="fix the syntax at the line shown (https://toml.io)",
        ) from None


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Defaults ← file (``path``, else ``HEE_CONFIG``, else ./hee-monitor.toml if present)
    ← environment. Raises ConfigError for an invalid file or environment."""
    env = os.environ if env is None else env
    data = copy.deepcopy(DEFAULTS)
    data["monitor"]["database"] = default_database(env)
    data["monitor"]["state_capsule"] = str(default_state_capsule(env))
    chosen: Path | None = None
    if path is not None:
        chosen = Path(path)
    elif env.get("HEE_CONFIG"):
        chosen = Path(env["HEE_CONFIG"])
    elif Path(DEFAULT_FILE).is_file():
        chosen = Path(DEFAULT_FILE)
    if chosen is not None:
        raw, text = read_file(chosen)
        validate(raw, where=str(chosen), text=text)
        data = _merge(data, raw)
    over, used = _env_overrides(env)
    if over:
        data = _merge(data, over)
        try:
            validate(data, where="environment")
        except ConfigError as exc:
            raise ConfigError(
                f"{exc.message} (set by one of: {', '.join(used)})", hint=exc.hint
            ) from None
    return Config(data=data, path=chosen, env_keys=tuple(used))


def validate_section(name: str, data: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the key when section ``name`` breaks the schema."""
    import jsonschema  # only when a section is checked

    schema = load_schema("detection_config.schema.json")
    validator = jsonschema.Draft202012Validator({**schema, "$ref": f"#/$defs/{name}"})
    errors = sorted(validator.iter_errors(dict(data)), key=lambda e: list(map(str, e.path)))
    if not errors:
        return
    err = errors[0]
    path = [str(p) for p in err.absolute_path]
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        path += extra[:1]
        message = "unknown key"
    else:
        message = err.message[:200]
    key = ".".join([name, *path])
    raise ConfigError(
        f"[{name}] {key}: {message}",
        hint=f"see docs/detection.md, docs/escalation.md and docs/token.md for [{name}]",
    )
