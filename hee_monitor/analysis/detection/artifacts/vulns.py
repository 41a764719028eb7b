"""Dependency audit reports → PAT-003 findings with what a dependency fix needs.

* **pip-audit** ``--format json``: ``{"dependencies": [{"name", "version", "vulns": [{"id",
  "fix_versions", "aliases", "description"}]}], "fixes": [...]}`` (older releases wrote the
  dependency list at the top level). A skipped dependency has ``skip_reason`` instead.
* **npm audit** ``--json``, report version 2 (npm 7+): ``{"auditReportVersion": 2,
  "vulnerabilities": {name: {"name", "severity", "isDirect", "via", "range",
  "fixAvailable"}}}`` where ``via`` holds advisories (objects with ``source``, ``title``,
  ``url``, ``severity``, ``range``) or names of other vulnerable packages, and
  ``fixAvailable`` is ``true``, ``false`` or ``{"name", "version", "isSemVerMajor"}``.
* **npm audit** report version 1 (npm 6): ``{"advisories": {id: {"module_name",
  "severity", "title", "url", "vulnerable_versions", "patched_versions", "cves",
  "findings": [{"version", "paths"}]}}}``.

Each vulnerable package gives one finding whose ``details`` carry ``package``,
``installed_version``, ``fixed_versions`` and, when a fixed version is known, ``version``
(the lowest fixed version above the installed one): the input of the ``bump-dependency``
fix strategy.
"""

from __future__ import annotations

import re
from typing import Any

from packaging.version import InvalidVersion, Version

from hee_monitor.analysis.detection.artifacts.interface import (
    ArtifactReport,
    ArtifactSkip,
    make_finding,
    named_severity,
    over_limit,
    skip,
    text,
)
from hee_monitor.analysis.detection.settings import DetectionSettings
from hee_monitor.core.models import AutoFix, Evidence, Finding, Owner, Severity

PIP_AUDIT = "pip-audit"
NPM_AUDIT = "npm-audit"


def looks_like_pip_audit(data: Any) -> bool:
    deps = data.get("dependencies") if isinstance(data, dict) else data
    if not isinstance(deps, list) or not deps:
        return isinstance(data, dict) and data.get("dependencies") == [] and "fixes" in data
    first = deps[0]
    return (
        isinstance(first, dict) and "name" in first and ("vulns" in first or "skip_reason" in first)
    )


def looks_like_npm_audit(data: Any) -> bool:
    return isinstance(data, dict) and (
        (
            isinstance(data.get("vulnerabilities"), dict)
            and ("auditReportVersion" in data or "metadata" in data)
        )
        or isinstance(data.get("advisories"), dict)
    )


def _lowest_fix(installed: str, candidates: list[str]) -> str | None:
    """The lowest candidate above ``installed`` (by PEP 440; npm versions parse too)."""
    parsed: list[tuple[Version, str]] = []
    for candidate in candidates:
        try:
            parsed.append((Version(candidate), candidate))
        except InvalidVersion:
            continue
    try:
        current: Version | None = Version(installed)
    except InvalidVersion:
        current = None
    above = [p for p in parsed if current is None or p[0] > current]
    return min(above)[1] if above else None


def _vuln_finding(
    *,
    tool: str,
    ecosystem: str,
    package: str,
    installed: str,
    ids: list[str],
    fixed: list[str],
    severity: Severity,
    summary: str,
    name: str,
    extra: dict[str, Any] | None = None,
) -> Finding:
    target = _lowest_fix(installed, fixed) if fixed else None
    details: dict[str, Any] = {
        "tool": tool,
        "ecosystem": ecosystem,
        "package": package,
        "installed_version": installed,
        "fixed_versions": fixed,
        "vulnerabilities": ids,
        "artifact": name,
        "format": tool,
        **(extra or {}),
    }
    if target:
        details["version"] = target
    shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
    fix = f"; fixed in {target}" if target else "; no fixed version yet"
    line = f"{package} {installed or '?'}: {shown or 'vulnerable'}{fix}"
    return make_finding(
        pattern_id="PAT-003",
        title=f"Vulnerable dependency {package} {installed}".rstrip()
        + (f" ({shown})" if shown else ""),
        category="security",
        severity=severity,
        owner=Owner.DEVOPS,
        risk=5,
        key=[tool, package, installed, *sorted(ids)],
        evidence=(Evidence(1, 1, line + (f"\n{summary}" if summary else "")),),
        details=details,
        fix_strategy="bump-dependency" if target else None,
        auto_fix=AutoFix.PARTIAL if target else AutoFix.NONE,
    )


def parse_pip_audit(data: Any, name: str, settings: DetectionSettings) -> ArtifactReport:
    if not looks_like_pip_audit(data):
        return skip(name, "not a pip-audit JSON report")
    deps = data.get("dependencies") if isinstance(data, dict) else data
    findings: list[Finding] = []
    skipped: list[ArtifactSkip] = []
    for dep in deps if isinstance(deps, list) else []:
        if not isinstance(dep, dict):
            continue
        vulns = dep.get("vulns")
        if not isinstance(vulns, list) or not vulns:
            continue
        package, installed = text(dep.get("name"), 200), text(dep.get("version"), 100)
        ids: list[str] = []
        fixed: list[str] = []
        summary = ""
        for vuln in vulns:
            if not isinstance(vuln, dict):
                continue
            vid = text(vuln.get("id"), 100)
            if vid:
                ids.append(vid)
            aliases = vuln.get("aliases")
            if isinstance(aliases, list):
                ids += [text(a, 100) for a in aliases if text(a) and text(a) not in ids]
            versions = vuln.get("fix_versions")
            if isinstance(versions, list):
                fixed += [text(v, 100) for v in versions if text(v) and text(v) not in fixed]
            summary = summary or text(vuln.get("description"), 300)
        if not package:
            continue
        if over_limit(findings, skipped, settings.max_findings_per_file, name, package):
            continue
        # pip-audit has no severity: a known, published vulnerability is high
        findings.append(
            _vuln_finding(
                tool=PIP_AUDIT,
                ecosystem="python",
                package=package,
                installed=installed,
                ids=ids,
                fixed=fixed,
                severity=Severity.HIGH,
                summary=summary,
                name=name,
            )
        )
    return ArtifactReport(tuple(findings), tuple(skipped), {name: PIP_AUDIT})


_NPM_RANGE_FLOOR = re.compile(r">=?\s*v?(\d+\.\d+\.\d+[^\s,|]*)")


def parse_npm_audit(data: Any, name: str, settings: DetectionSettings) -> ArtifactReport:
    if not looks_like_npm_audit(data):
        return skip(name, "not an npm audit JSON report")
    if isinstance(data.get("advisories"), dict) and not isinstance(
        data.get("vulnerabilities"), dict
    ):
        return _npm_v1(data["advisories"], name, settings)
    findings: list[Finding] = []
    skipped: list[ArtifactSkip] = []
    for key, vuln in data["vulnerabilities"].items():
        if not isinstance(vuln, dict):
            continue
        package = text(vuln.get("name"), 200) or text(key, 200)
        ids: list[str] = []
        titles: list[str] = []
        for via in vuln.get("via") or []:
            if isinstance(via, dict):
                url = text(via.get("url"), 200)
                ident = url.rsplit("/", 1)[-1] if url else text(via.get("source"), 50)
                if ident and ident not in ids:
                    ids.append(ident)
                if text(via.get("title")):
                    titles.append(text(via.get("title"), 200))
        if not ids and not titles:
            continue  # only vulnerable through another package: that one is reported
        fix = vuln.get("fixAvailable")
        fixed: list[str] = []
        extra: dict[str, Any] = {
            "range": text(vuln.get("range"), 200),
            "direct": bool(vuln.get("isDirect")),
        }
        if isinstance(fix, dict):
            fix_name, fix_version = text(fix.get("name"), 200), text(fix.get("version"), 100)
            extra["fix_semver_major"] = bool(fix.get("isSemVerMajor"))
            if fix_name and fix_name != package:
                extra["fix_via"] = {"package": fix_name, "version": fix_version}
            elif fix_version:
                fixed.append(fix_version)
        # report version 2 names the vulnerable range, not the installed version
        installed = ""
        if over_limit(findings, skipped, settings.max_findings_per_file, name, package):
            continue
        findings.append(
            _vuln_finding(
                tool=NPM_AUDIT,
                ecosystem="npm",
                package=package,
                installed=installed,
                ids=ids,
                fixed=fixed,
                severity=named_severity(text(vuln.get("severity"))),
                summary="; ".join(titles[:3]),
                name=name,
                extra=extra,
            )
        )
    return ArtifactReport(tuple(findings), tuple(skipped), {name: NPM_AUDIT})


def _npm_v1(advisories: dict[str, Any], name: str, settings: DetectionSettings) -> ArtifactReport:
    findings: list[Finding] = []
    skipped: list[ArtifactSkip] = []
    for key, adv in advisories.items():
        if not isinstance(adv, dict):
            continue
        package = text(adv.get("module_name"), 200)
        if not package:
            continue
        versions = [
            text(f.get("version"), 100)
            for f in adv.get("findings") or []
            if isinstance(f, dict) and text(f.get("version"))
        ]
        patched = text(adv.get("patched_versions"), 200)
        fixed = [m.group(1) for m in _NPM_RANGE_FLOOR.finditer(patched)]
        cves = [text(c, 50) for c in adv.get("cves") or [] if text(c)]
        url = text(adv.get("url"), 200)
        ids = [*cves, *([url.rsplit("/", 1)[-1]] if url else [text(key, 50)])]
        if over_limit(findings, skipped, settings.max_findings_per_file, name, package):
            continue
        findings.append(
            _vuln_finding(
                tool=NPM_AUDIT,
                ecosystem="npm",
                package=package,
                installed=versions[0] if versions else "",
                ids=ids,
                fixed=fixed,
                severity=named_severity(text(adv.get("severity"))),
                summary=text(adv.get("title"), 300),
                name=name,
                extra={
                    "range": text(adv.get("vulnerable_versions"), 200),
                    "patched_versions": patched,
                },
            )
        )
    return ArtifactReport(tuple(findings), tuple(skipped), {name: NPM_AUDIT})
