"""The ``[detection]`` section, and the check shared by ``[escalation]``, ``[skip]`` and
``[token]`` (all described by ``schemas/detection_config.schema.json``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# re-exported: the [skip] settings check their section with it too
from hee_monitor.core.config import validate_section as validate_section
from hee_monitor.core.errors import ConfigError

#: job/step name patterns of each kind (case-insensitive ``re.search``), in the order tried:
#: "lint" before "test" so that "check-format" is a lint job, "deploy" last.
DEFAULT_JOB_KINDS: dict[str, tuple[str, ...]] = {
    "lint": (
        r"\blint",
        r"\bformat",
        r"\bstyle\b",
        r"\bruff\b",
        r"\beslint\b",
        r"\bclippy\b",
        r"\bmypy\b",
        r"\btype-?check",
    ),
    "test": (
        r"\btests?\b",
        r"\btesting\b",
        r"\bcheck\b",
        r"\bpytest\b",
        r"\bjest\b",
        r"\bspec\b",
        r"\be2e\b",
        r"\bintegration\b",
        r"\bunit\b",
    ),
    "build": (
        r"\bbuild",
        r"\bcompile",
        r"\bmake\b",
        r"\bpackage\b",
        r"\bassemble\b",
        r"\bbundle\b",
    ),
    "deploy": (r"\bdeploy", r"\brelease\b", r"\bpublish", r"\bship\b"),
}


@dataclass(frozen=True)
class DetectionSettings:
    """How run metadata and artifacts are turned into findings."""

    job_kinds: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_JOB_KINDS))
    #: successful runs of a job whose durations are kept and compared with
    history_runs: int = 30
    #: fewer successful durations than this: no opinion on slowness
    min_history: int = 5
    percentile: float = 95.0
    #: a job is slow above percentile × (1 + margin) …
    slow_margin: float = 0.5
    #: … and at least this many seconds above the percentile (short jobs jitter)
    slow_min_seconds: float = 60.0
    #: GitHub's own limit for a job without ``timeout-minutes`` (6 hours)
    default_timeout_minutes: float = 360.0
    timeout_minutes: dict[str, float] = field(default_factory=dict)
    artifacts: bool = True
    max_artifact_bytes: int = 50 * 1024 * 1024
    max_member_bytes: int = 20 * 1024 * 1024
    max_findings_per_file: int = 200
    sarif_levels: tuple[str, ...] = ("error", "warning")
    licenses_allow: tuple[str, ...] = ()
    licenses_deny: tuple[str, ...] = ()

    @classmethod
    def from_section(cls, data: Mapping[str, Any] | None) -> DetectionSettings:
        data = dict(data or {})
        validate_section("detection", data)
        kinds = dict(DEFAULT_JOB_KINDS)
        for kind, patterns in dict(data.pop("job_kinds", {})).items():
            kinds[kind] = tuple(patterns)
        for kind, patterns in kinds.items():
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ConfigError(
                        f"[detection] job_kinds.{kind}: {pattern!r} is not a regular "
                        f"expression ({exc})",
                        hint="write a Python regular expression, e.g. '\\\\bbuild'",
                    ) from None
        if int(data.get("min_history", cls.min_history)) > int(
            data.get("history_runs", cls.history_runs)
        ):
            raise ConfigError(
                "[detection] min_history is larger than history_runs",
                hint="keep at least as many runs as the comparison needs",
            )
        for key in ("sarif_levels", "licenses_allow", "licenses_deny"):
            if key in data:
                data[key] = tuple(data[key])
        if "timeout_minutes" in data:
            data["timeout_minutes"] = {str(k): float(v) for k, v in data["timeout_minutes"].items()}
        return cls(job_kinds=kinds, **data)
