"""SARIF 2.1.0 (CodeQL, semgrep, trivy, bandit, eslint's SARIF formatter) → PAT-003 findings.

Per the OASIS SARIF 2.1.0 specification: a log has ``runs``; each run's
``tool.driver`` names the tool and lists ``rules``; each ``result`` has a ``ruleId`` (or a
``rule`` reference / ``ruleIndex``), a ``level`` (``error``, ``warning``, ``note``,
``none``; default ``warning``, or the rule's ``defaultConfiguration.level``), a
``message.text`` and ``locations[].physicalLocation`` with ``artifactLocation.uri`` and a
``region`` (``startLine``, ``endLine``). Results with ``suppressions`` or a ``baselineState``
of ``absent`` are not reported. CodeQL and trivy rate security rules in
``properties["security-severity"]`` (a CVSS score), which sets the severity when present.
"""

from __future__ import annotations

from typing import Any

from hee_monitor.analysis.detection.artifacts.interface import (
    ArtifactReport,
    cvss_severity,
    make_finding,
    skip,
    text,
)
from hee_monitor.analysis.detection.settings import DetectionSettings
from hee_monitor.core.models import AutoFix, Evidence, Finding, Owner, Severity

FORMAT = "sarif"
_LEVEL_SEVERITY = {"error": Severity.HIGH, "warning": Severity.MEDIUM, "note": Severity.LOW}


def looks_like_sarif(data: Any) -> bool:
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
        return False
    return "sarif" in text(data.get("$schema")).lower() or text(data.get("version")).startswith(
        "2."
    )


def parse_sarif(data: Any, name: str, settings: DetectionSettings) -> ArtifactReport:
    """Findings of the results at the configured levels; a skip for anything unreadable."""
    if not looks_like_sarif(data):
        return skip(name, "not a SARIF log (no 'runs' list or SARIF version)")
    version = text(data.get("version"))
    if version and version != "2.1.0":
        return skip(name, f"SARIF version {version!r} is not supported (2.1.0 is)")
    findings: list[Finding] = []
    dropped = 0
    bad = 0
    for run in data["runs"]:
        if not isinstance(run, dict):
            bad += 1
            continue
        tool, rules = _tool(run)
        results = run.get("results")
        if not isinstance(results, list):
            continue
        for result in results:
            if not isinstance(result, dict):
                bad += 1
                continue
            finding = _finding(result, tool, rules, name, settings)
            if finding is None:
                continue
            if len(findings) >= settings.max_findings_per_file:
                dropped += 1
                continue
            findings.append(finding)
    report = ArtifactReport(findings=tuple(findings), formats={name: FORMAT})
    notes = []
    if dropped:
        notes.append(f"{dropped} more results not listed (max_findings_per_file)")
    if bad:
        notes.append(f"{bad} runs or results were not objects")
    for note in notes:
        report = report + skip(name, note)
    return report


def _tool(run: dict[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    tool = run.get("tool")
    driver = tool.get("driver") if isinstance(tool, dict) else None
    if not isinstance(driver, dict):
        return "unknown tool", {}
    rules: dict[str, dict[str, Any]] = {}
    raw_rules = driver.get("rules")
    if isinstance(raw_rules, list):
        for index, rule in enumerate(raw_rules):
            if isinstance(rule, dict):
                rules[f"#{index}"] = rule
                rule_id = text(rule.get("id"))
                if rule_id:
                    rules[rule_id] = rule
    return text(driver.get("name"), 100) or "unknown tool", rules


def _rule_of(
    result: dict[str, Any], rules: dict[str, dict[str, Any]]
) -> tuple[str, dict[str, Any]]:
    rule_id = text(result.get("ruleId"), 200)
    ref = result.get("rule")
    if not rule_id and isinstance(ref, dict):
        rule_id = text(ref.get("id"), 200)
    index = result.get("ruleIndex")
    if not isinstance(index, int) and isinstance(ref, dict):
        index = ref.get("index")
    rule = rules.get(rule_id) or (rules.get(f"#{index}") if isinstance(index, int) else None)
    if rule is not None and not rule_id:
        rule_id = text(rule.get("id"), 200)
    return rule_id or "unnamed-rule", rule or {}


def _level(result: dict[str, Any], rule: dict[str, Any]) -> str:
    level = text(result.get("level"))
    if level:
        return level
    config = rule.get("defaultConfiguration")
    if isinstance(config, dict) and text(config.get("level")):
        return text(config.get("level"))
    return "warning"


def _security_severity(result: dict[str, Any], rule: dict[str, Any]) -> Severity | None:
    for holder in (result, rule):
        props = holder.get("properties")
        if isinstance(props, dict):
            raw = props.get("security-severity")
            try:
                return cvss_severity(float(raw))  # type: ignore[arg-type]
            except (TypeError, ValueError, OverflowError):
                continue
    return None


def _location(result: dict[str, Any]) -> tuple[str, int | None, int | None]:
    locations = result.get("locations")
    if not isinstance(locations, list) or not locations or not isinstance(locations[0], dict):
        return "", None, None
    physical = locations[0].get("physicalLocation")
    if not isinstance(physical, dict):
        return "", None, None
    artifact = physical.get("artifactLocation")
    uri = text(artifact.get("uri"), 300) if isinstance(artifact, dict) else ""
    region = physical.get("region")
    start = end = None
    first = region.get("startLine") if isinstance(region, dict) else None
    if isinstance(first, int) and not isinstance(first, bool) and first > 0:
        start = first
        end_line = region.get("endLine") if isinstance(region, dict) else None
        end = end_line if isinstance(end_line, int) and end_line >= start else start
    return uri.removeprefix("file://"), start, end


def _finding(
    result: dict[str, Any],
    tool: str,
    rules: dict[str, dict[str, Any]],
    name: str,
    settings: DetectionSettings,
) -> Finding | None:
    if result.get("suppressions") or result.get("baselineState") == "absent":
        return None
    rule_id, rule = _rule_of(result, rules)
    level = _level(result, rule)
    if level not in settings.sarif_levels:
        return None
    severity = _security_severity(result, rule) or _LEVEL_SEVERITY.get(level, Severity.LOW)
    message = result.get("message")
    msg = text(message.get("text"), 1000) if isinstance(message, dict) else ""
    if not msg:
        short = rule.get("shortDescription")
        msg = text(short.get("text"), 1000) if isinstance(short, dict) else ""
    msg = msg or rule_id
    uri, start, end = _location(result)
    where = f"{uri}:{start}" if uri and start else uri or "(no location)"
    evidence = (Evidence(start or 1, end or start or 1, msg),) if msg else ()
    return make_finding(
        pattern_id="PAT-003",
        title=f"{tool} {rule_id} at {where}: {msg.splitlines()[0][:120]}",
        category="security",
        severity=severity,
        owner=Owner.DEVELOPER,
        risk=5,
        key=[tool, rule_id, uri, msg.splitlines()[0][:200]],
        evidence=evidence,
        details={
            "tool": tool,
            "rule_id": rule_id,
            "level": level,
            "file": uri,
            "line": start,
            "end_line": end,
            "artifact": name,
            "format": FORMAT,
        },
        auto_fix=AutoFix.NONE,
    )
