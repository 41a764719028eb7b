"""State reports: the capsule and the audit store as Markdown or one self-contained HTML file.

:func:`load_report` gathers the data (:mod:`.model`); :mod:`.markdown` and :mod:`.html`
render it; :mod:`.charts` draws the inline SVG.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from hee_monitor.core.errors import HeeError, UsageError
from hee_monitor.record.reports.html import render_html
from hee_monitor.record.reports.markdown import render_markdown
from hee_monitor.record.reports.model import ReportModel, build_model, read_audit

#: output format → renderer (the literal registry of formats)
RENDERERS: dict[str, Callable[[ReportModel], str]] = {
    "markdown": render_markdown,
    "html": render_html,
}
SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}


def format_for(output: Path | None, given: str | None) -> str:
    """The format asked for, else the one the output's suffix names, else markdown."""
    if given:
        return given
    if output is not None:
        return SUFFIXES.get(output.suffix.lower(), "markdown")
    return "markdown"


def read_capsule(
    path: Path, trusted: Sequence[str], *, env: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], bool, str]:
    """(payload, verified, verification note). Verified against ``trusted`` keys (or
    HEE_TRUSTED_KEYS); without keys it is read as it is, and the report says so."""
    from hee_monitor.record.capsule.envelope import open_capsule, read_unverified
    from hee_monitor.record.capsule.fsutil import read_bytes
    from hee_monitor.record.capsule.keys import TRUSTED_KEYS_ENV, load_trusted_keys

    if path.is_dir():
        path = path / "current.json"
    if not path.is_file():
        raise UsageError(
            f"{path}: no such capsule file",
            hint="pass the capsule with --input (e.g. state_capsules/current.json)",
        )
    raw = read_bytes(path)
    environ = env if env is not None else os.environ
    if trusted or environ.get(TRUSTED_KEYS_ENV):
        keys = load_trusted_keys(trusted, env=environ)
        capsule = open_capsule(raw, keys, now=None, source=str(path))
        return capsule.payload, True, "signed by " + ", ".join(k[:16] for k in capsule.keyids)
    payload, signatures = read_unverified(raw, source=str(path))
    why = (
        "no trusted key given: pass --trusted-key FILE or set HEE_TRUSTED_KEYS"
        if signatures
        else "the file carries no signatures"
    )
    return payload, False, why


def pattern_info() -> dict[str, tuple[str, str]]:
    """Pattern id → (title, category) from the shipped database; empty if unreadable."""
    from hee_monitor.analysis.patterns import load_database

    try:
        return {p.id: (p.title, str(p.category)) for p in load_database()}
    except HeeError:
        return {}


def load_report(
    capsule: Path,
    *,
    now: datetime,
    trusted: Sequence[str] = (),
    database: str | None = None,
    coverage_targets: Mapping[str, float] | None = None,
    env: Mapping[str, str] | None = None,
) -> ReportModel:
    payload, verified, note = read_capsule(capsule, trusted, env=env)
    audit = None
    if database:
        from hee_monitor.record.db import open_engine

        if database.startswith("sqlite:///") and ":memory:" not in database:
            file = Path(database.removeprefix("sqlite:///"))
            if not file.is_file():
                raise UsageError(
                    f"{file}: no such audit store",
                    hint="pass the --database URL the monitor writes to",
                )
        engine = open_engine(database)
        try:
            audit = read_audit(engine, str(payload.get("repository") or "") or None)
        finally:
            engine.dispose()
    return build_model(
        payload,
        verified=verified,
        verification=note,
        now=now,
        audit=audit,
        pattern_info=pattern_info(),
        coverage_targets=coverage_targets,
    )


__all__ = [
    "RENDERERS",
    "ReportModel",
    "format_for",
    "load_report",
    "render_html",
    "render_markdown",
]
