"""What to fix: findings from a diagnosis JSON (the ``hee-monitor analyze --format json``
contract) or from a log analysed on the spot."""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from hee_monitor.action.fixes import log_facts
from hee_monitor.core.errors import UsageError
from hee_monitor.core.models import AutoFix, Diagnosis, Evidence, Finding, Owner, Severity


def finding_from_json(data: dict[str, Any], where: str) -> Finding:
    try:
        pattern_id = str(data["pattern_id"])
        fingerprint = str(data["fingerprint"])
        severity = Severity(str(data.get("severity", "medium")))
    except KeyError as exc:
        raise UsageError(f"{where}: a failure lacks {exc.args[0]!r}") from None
    except ValueError as exc:
        raise UsageError(f"{where}: {exc}") from None
    evidence = tuple(
        Evidence(int(e.get("start_line", 0)), int(e.get("end_line", 0)), str(e.get("text", "")))
        for e in data.get("evidence", [])
        if isinstance(e, dict)
    )
    try:
        owner = Owner(str(data.get("owner", "DEVELOPER")))
        auto_fix = AutoFix(str(data.get("auto_fix", "none")))
    except ValueError as exc:
        raise UsageError(f"{where}: {exc}") from None
    return Finding(
        pattern_id=pattern_id,
        title=str(data.get("title", pattern_id)),
        category=str(data.get("category", "unknown")),
        severity=severity,
        owner=owner,
        risk=int(data.get("risk", 0)),
        transient=bool(data.get("transient", False)),
        confidence=float(data.get("confidence", 1.0)),
        fix_strategy=data.get("fix_strategy"),
        fingerprint=fingerprint,
        evidence=evidence,
        source=str(data.get("source", "pattern")),
        auto_fix=auto_fix,
        rollback_required=bool(data.get("rollback_required", True)),
        details=dict(data.get("details") or {}),
    )


#: the file ``hee-monitor monitor --mode hee`` writes next to its state capsule: the
#: diagnoses of the runs whose decision was a fix, for ``fix apply`` (``auto_fix.py``)
DIAGNOSIS_FILENAME = "hee-diagnosis.json"


def diagnosis_next_to(state_capsule: Path) -> Path:
    """Where the monitor writes (and ``fix apply`` looks for) the cycle's diagnoses."""
    return state_capsule.parent / DIAGNOSIS_FILENAME


def _parse_diagnoses(text: str, path: Path) -> list[Any]:
    """One diagnosis object, a JSON array of them, or JSON Lines (one object per line, what
    ``analyze --format json`` prints for several logs and the monitor writes)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        if not text.strip():
            return []
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            raise UsageError(
                f"diagnosis file {path} is not JSON ({exc})",
                hint="produce it with: hee-monitor analyze --format json LOG > diagnosis.json",
            ) from None
    return data if isinstance(data, list) else [data]


def load_diagnosis(path: Path) -> tuple[dict[str, Any], list[Finding]]:
    """The diagnosis JSON and its findings, in order (most likely root cause first). Several
    diagnoses (an array or JSON Lines) give their findings in file order and, as the data,
    ``{"diagnoses": [...], "failures": [...all...]}``; an empty file gives no findings."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"diagnosis file {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"cannot read diagnosis file {path} ({exc})",
            hint="produce it with: hee-monitor analyze --format json LOG > diagnosis.json",
        ) from None
    items = _parse_diagnoses(text, path)
    findings: list[Finding] = []
    for n, data in enumerate(items):
        where = f"{path}" if len(items) == 1 else f"{path}: diagnosis {n + 1}"
        if not isinstance(data, dict) or not isinstance(data.get("failures"), list):
            raise UsageError(f"{where}: expected an object with a 'failures' list")
        findings += [
            finding_from_json(f, f"{where}: failures[{i}]")
            for i, f in enumerate(data["failures"])
            if isinstance(f, dict)
        ]
    if len(items) == 1:
        return items[0], findings
    return {"diagnoses": items, "failures": [f.to_json() for f in findings]}, findings


def analyze_log(path: Path) -> tuple[dict[str, Any], list[Finding]]:
    """Analyse a log with the pattern database, when the analyzer is installed."""
    try:
        # imported by name: the analyzer ships separately from the fix engine
        analyzer_module: Any = importlib.import_module("hee_monitor.analysis.analyzer")
    except ImportError:
        raise UsageError(
            "this build cannot analyse logs on the spot",
            hint="analyse first (hee-monitor analyze --format json LOG > d.json) "
            "and pass --diagnosis d.json",
        ) from None
    if not path.is_file():
        raise UsageError(f"log file {path} does not exist")
    from hee_monitor.analysis.logreader import log_sources

    sources = log_sources(path)  # a gzip, UTF-16 or zip log as analyze reads it
    analyzer = analyzer_module.Analyzer.from_default_database()
    diagnoses: list[Diagnosis] = [
        _with_log_facts(analyzer.analyze_source(s), _source_text(s)) for s in sources
    ]
    findings = [f for d in diagnoses for f in d.failures]
    if len(diagnoses) == 1:
        return diagnoses[0].to_json(), findings
    return {
        "diagnoses": [d.to_json() for d in diagnoses],
        "failures": [f.to_json() for f in findings],
    }, findings


def _source_text(source: Any) -> str:
    """A log's text for the fix's own reading (bounded like the analyzer's)."""
    chunks: list[bytes] = []
    size = 0
    for chunk in source.open():
        chunks.append(chunk)
        size += len(chunk)
        if size >= log_facts.MAX_STEP_CHARS * 4:
            break
    data = b"".join(chunks)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", "replace")
    return data.decode("utf-8", "replace")


def _with_log_facts(diagnosis: Diagnosis, text: str) -> Diagnosis:
    """Each finding with what its step's log says: the files it names, the permission it
    was denied, the vulnerable packages and their fixed versions."""
    failures = tuple(
        replace(f, details=log_facts.enrich(f.details, text, f.category))
        for f in diagnosis.failures
    )
    return replace(diagnosis, failures=failures)


#: what a local sweep (pre-commit without a diagnosis) tries, and the failure kind each fixes
SWEEP_CATEGORIES: dict[str, str] = {
    "ruff-fix": "lint",
    "ruff-format": "format",
    "black": "format",
    "isort": "format",
    "eslint-fix": "lint",
    "prettier-write": "format",
    "clippy-fix": "lint",
    "cargo-fmt": "format",
    "gofmt": "format",
    "license-header": "license",
    "workflow-timeout": "configuration",
}


def sweep_findings(strategies: Sequence[str]) -> list[Finding]:
    """One synthetic finding per strategy: "this check may be failing here"; the engine's
    pre-validation finds out whether it is."""
    chosen = list(strategies) or list(SWEEP_CATEGORIES)
    findings = []
    for sid in chosen:
        findings.append(
            Finding(
                pattern_id=f"LOCAL-{sid.upper()}",
                title=f"{sid} check",
                category=SWEEP_CATEGORIES.get(sid, "lint"),
                severity=Severity.LOW,
                owner=Owner.DEVELOPER,
                risk=0,
                transient=False,
                confidence=1.0,
                fix_strategy=sid,
                fingerprint=f"local:{sid}",
                evidence=(),
                source="local",
            )
        )
    return findings
