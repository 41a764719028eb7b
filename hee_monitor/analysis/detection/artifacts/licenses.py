"""License reports against the allow/deny lists of ``[detection]`` → PAT-004 findings.

* **pip-licenses** ``--format=json``: a list of ``{"Name", "Version", "License"}`` objects
  (more keys with ``--with-urls`` and friends); ``License`` is a trove classifier name
  ("MIT License", "BSD License") or the package's license field.
* **license-checker** ``--json``: ``{"name@version": {"licenses": "MIT" | [..], "repository",
  "publisher", "path", "licenseFile"}}``; a license ending in ``*`` was guessed from the
  license file.

An SPDX expression is honoured: ``A OR B`` is acceptable when one side is, ``A AND B`` only
when both are. A license on the deny list is a violation; with an allow list, so is any
license not on it (including an unknown one). Names compare case-insensitively, without a
trailing "License" and with common trove names mapped to SPDX ids.
"""

from __future__ import annotations

import re
from typing import Any

from hee_monitor.analysis.detection.artifacts.interface import (
    ArtifactReport,
    ArtifactSkip,
    make_finding,
    over_limit,
    skip,
    text,
)
from hee_monitor.analysis.detection.settings import DetectionSettings
from hee_monitor.core.models import Evidence, Finding, Owner, Severity

PIP_LICENSES = "pip-licenses"
LICENSE_CHECKER = "license-checker"

_TROVE = {
    "mit": "mit",
    "bsd": "bsd",
    "apache software": "apache-2.0",
    "apache 2.0": "apache-2.0",
    "apache-2": "apache-2.0",
    "mozilla public license 2.0 (mpl 2.0)": "mpl-2.0",
    "gnu general public license v3 (gplv3)": "gpl-3.0",
    "gnu general public license v2 (gplv2)": "gpl-2.0",
    "gnu affero general public license v3": "agpl-3.0",
    "gnu lesser general public license v3 (lgplv3)": "lgpl-3.0",
    "gnu lesser general public license v2 (lgplv2)": "lgpl-2.0",
    "python software foundation": "psf-2.0",
    "isc license (iscl)": "isc",
    "the unlicense (unlicense)": "unlicense",
}
_SPLIT_OR = re.compile(r"\s+OR\s+|\s*/\s*|\s*;\s*", re.IGNORECASE)
_SPLIT_AND = re.compile(r"\s+AND\s+", re.IGNORECASE)


#: SPDX's "-only" / "-or-later" (and the older "+") name terms of one license version
_SPDX_VARIANT = re.compile(r"(?:-only|-or-later|\+)$")


def normalise(name: str) -> str:
    """The comparison key of a license name: lower case, no trailing "License", trove
    names as SPDX ids, and SPDX's ``-only`` / ``-or-later`` / ``+`` terms dropped, so
    ``GPL-3.0-only``, ``GPL-3.0-or-later``, ``GPL-3.0+`` and the trove name "GNU General
    Public License v3 (GPLv3)" are one license for the allow and deny lists (a deny list
    naming one version of a copyleft license catches every way of stating it)."""
    key = re.sub(r"\s+", " ", name.strip().rstrip("*").strip().lower())
    key = re.sub(r" licen[cs]e$", "", key)
    if key in _TROVE:
        return _TROVE[key]
    key = key.strip("()").strip()
    key = _TROVE.get(key, key)
    return _SPDX_VARIANT.sub("", key) if re.search(r"\d", key) else key


def _alternatives(expression: str) -> list[list[str]]:
    expression = expression.strip()
    if not expression:
        return [["unknown"]]
    if normalise(expression) in _TROVE.values():  # a trove name, parentheses and all
        return [[normalise(expression)]]
    return [
        [normalise(term) for term in _SPLIT_AND.split(alt.strip().strip("()")) if term.strip()]
        or ["unknown"]
        for alt in _SPLIT_OR.split(expression.strip("()"))
        if alt.strip()
    ] or [["unknown"]]


def verdict(expression: str, settings: DetectionSettings) -> str | None:
    """Why ``expression`` is not acceptable ("denied: gpl-3.0"), or None when it is."""
    allow = {normalise(a) for a in settings.licenses_allow}
    deny = {normalise(d) for d in settings.licenses_deny}
    if not allow and not deny:
        return None
    reasons: list[str] = []
    for alternative in _alternatives(expression):
        denied = [t for t in alternative if t in deny]
        unlisted = [t for t in alternative if allow and t not in allow and t not in deny]
        if not denied and not unlisted:
            return None
        if denied:
            reasons.append("denied: " + ", ".join(denied))
        else:
            reasons.append("not on the allow list: " + ", ".join(unlisted))
    return "; ".join(dict.fromkeys(reasons))


def looks_like_pip_licenses(data: Any) -> bool:
    return (
        isinstance(data, list)
        and bool(data)
        and isinstance(data[0], dict)
        and "Name" in data[0]
        and "License" in data[0]
    )


def looks_like_license_checker(data: Any) -> bool:
    if not isinstance(data, dict) or not data:
        return False
    key, value = next(iter(data.items()))
    return "@" in str(key)[1:] and isinstance(value, dict) and "licenses" in value


def _license_finding(
    tool: str, package: str, version: str, license_text: str, why: str, name: str
) -> Finding:
    severity = Severity.HIGH if why.startswith("denied") else Severity.MEDIUM
    return make_finding(
        pattern_id="PAT-004",
        title=f"License of {package} {version} not allowed: {license_text or 'unknown'} ({why})",
        category="license",
        severity=severity,
        owner=Owner.DEVOPS,
        risk=3,
        key=[tool, package, license_text],
        evidence=(Evidence(1, 1, f"{package} {version}: {license_text or 'UNKNOWN'}"),),
        details={
            "tool": tool,
            "package": package,
            "installed_version": version,
            "license": license_text,
            "reason": why,
            "artifact": name,
            "format": tool,
        },
    )


def parse_pip_licenses(data: Any, name: str, settings: DetectionSettings) -> ArtifactReport:
    if not looks_like_pip_licenses(data):
        return skip(name, "not a pip-licenses JSON report")
    return _check(
        PIP_LICENSES,
        (
            (text(e.get("Name"), 200), text(e.get("Version"), 100), text(e.get("License"), 300))
            for e in data
            if isinstance(e, dict)
        ),
        name,
        settings,
    )


def parse_license_checker(data: Any, name: str, settings: DetectionSettings) -> ArtifactReport:
    if not looks_like_license_checker(data):
        return skip(name, "not a license-checker JSON report")

    def entries() -> Any:
        for key, value in data.items():
            if not isinstance(value, dict):
                continue
            package, _, version = str(key)[:300].rpartition("@")
            licenses = value.get("licenses")
            if isinstance(licenses, list):
                expression = " OR ".join(text(x, 100) for x in licenses if text(x))
            else:
                expression = text(licenses, 300)
            yield package or str(key)[:200], version, expression

    return _check(LICENSE_CHECKER, entries(), name, settings)


def _check(tool: str, entries: Any, name: str, settings: DetectionSettings) -> ArtifactReport:
    findings: list[Finding] = []
    skipped: list[ArtifactSkip] = []
    if not settings.licenses_allow and not settings.licenses_deny:
        return ArtifactReport(
            skipped=(ArtifactSkip(name, "no licenses_allow or licenses_deny configured"),),
            formats={name: tool},
        )
    for package, version, expression in entries:
        if not package:
            continue
        why = verdict(expression, settings)
        if why is None:
            continue
        if over_limit(findings, skipped, settings.max_findings_per_file, name, package):
            continue
        findings.append(_license_finding(tool, package, version, expression, why, name))
    return ArtifactReport(tuple(findings), tuple(skipped), {name: tool})
