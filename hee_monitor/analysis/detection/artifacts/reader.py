"""Read reports from files, bytes and artifact zips: recognise the format, parse, cap.

The format is recognised from the content, not the name (an artifact's files are often
called ``results.json``): SARIF, pip-audit, npm audit, pip-licenses, license-checker, JUnit
XML. Limits keep a hostile or runaway artifact harmless: the download and each zip member
are capped (the member's real size is checked while reading, not only the size its header
claims), nested archives are not opened, nothing is extracted to disk under its own name.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import IO, Any, Final

from hee_monitor.analysis.detection.artifacts import licenses, sarif, vulns
from hee_monitor.analysis.detection.artifacts.interface import ArtifactReport, skip
from hee_monitor.analysis.detection.settings import DetectionSettings
from hee_monitor.analysis.junit import parse_junit
from hee_monitor.core.errors import HeeError

#: JSON formats in the order they are tried: (name, recogniser, parser)
JSON_FORMATS: Final[
    tuple[
        tuple[
            str,
            Callable[[Any], bool],
            Callable[[Any, str, DetectionSettings], ArtifactReport],
        ],
        ...,
    ]
] = (
    (sarif.FORMAT, sarif.looks_like_sarif, sarif.parse_sarif),
    (vulns.PIP_AUDIT, vulns.looks_like_pip_audit, vulns.parse_pip_audit),
    (vulns.NPM_AUDIT, vulns.looks_like_npm_audit, vulns.parse_npm_audit),
    (licenses.PIP_LICENSES, licenses.looks_like_pip_licenses, licenses.parse_pip_licenses),
    (
        licenses.LICENSE_CHECKER,
        licenses.looks_like_license_checker,
        licenses.parse_license_checker,
    ),
)
#: names inside an artifact that are worth reading (others are ignored silently)
REPORT_SUFFIXES: Final = (".sarif", ".json", ".xml")


def read_bytes(name: str, data: bytes, settings: DetectionSettings) -> ArtifactReport:
    """The findings of one report given as bytes (any content: never raises for it)."""
    if len(data) > settings.max_member_bytes:
        return skip(
            name, f"{len(data)} bytes is over max_member_bytes ({settings.max_member_bytes})"
        )
    head = data.lstrip()[:1]
    if head in (b"{", b"["):
        return _read_json(name, data, settings)
    if head == b"<":
        return _read_xml(name, data)
    if data.startswith(b"PK\x03\x04"):
        return skip(name, "a zip archive inside a report is not opened")
    return skip(name, "not a recognised report (expected SARIF, audit or license JSON, JUnit XML)")


def _read_json(name: str, data: bytes, settings: DetectionSettings) -> ArtifactReport:
    try:
        parsed = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return skip(name, "not UTF-8 text")
    except json.JSONDecodeError as exc:
        return skip(name, f"not valid JSON: {exc.msg} at line {exc.lineno}")
    except RecursionError:
        return skip(name, "JSON nested too deeply")
    return read_json(name, parsed, settings)


def read_json(name: str, parsed: Any, settings: DetectionSettings) -> ArtifactReport:
    """The findings of an already parsed JSON report, by the first format it looks like."""
    for _format, recognise, parse in JSON_FORMATS:
        if recognise(parsed):
            return parse(parsed, name, settings)
    return skip(name, "JSON of no recognised report format")


def _read_xml(name: str, data: bytes) -> ArtifactReport:
    # parse_junit reads a path (and refuses DTDs/entities): hand it a private temp file
    fd, tmp = tempfile.mkstemp(suffix=".xml")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        try:
            findings = parse_junit(tmp)
        except HeeError as exc:
            return skip(name, exc.message.replace(tmp, name))
    finally:
        os.unlink(tmp)
    named = tuple(
        replace(f, details={**f.details, "file": name, "format": "junit"}) for f in findings
    )
    return ArtifactReport(findings=named, formats={name: "junit"})


def read_path(path: Path, settings: DetectionSettings) -> ArtifactReport:
    """A local report file, or a zip of reports (e.g. a downloaded artifact)."""
    name = str(path)
    try:
        size = path.stat().st_size
        if zipfile.is_zipfile(path):
            with path.open("rb") as handle:
                return read_zip(name, handle, settings)
        if size > settings.max_member_bytes:
            return skip(
                name, f"{size} bytes is over max_member_bytes ({settings.max_member_bytes})"
            )
        data = path.read_bytes()
    except OSError as exc:
        return skip(name, f"cannot read: {exc.strerror or exc}")
    return read_bytes(name, data, settings)


def read_zip(name: str, handle: IO[bytes], settings: DetectionSettings) -> ArtifactReport:
    """Every report inside a zip archive (the form GitHub serves artifacts in)."""
    report = ArtifactReport()
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return skip(name, f"not a readable zip archive: {exc}")
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        wanted = [m for m in members if m.filename.lower().endswith(REPORT_SUFFIXES)]
        if not wanted:
            return skip(name, f"no report files among {len(members)} files")
        for member in wanted:
            label = f"{name}:{member.filename}"
            if member.file_size > settings.max_member_bytes:
                report = report + skip(
                    label,
                    f"{member.file_size} bytes is over max_member_bytes "
                    f"({settings.max_member_bytes})",
                )
                continue
            try:
                with archive.open(member) as stream:
                    data = stream.read(settings.max_member_bytes + 1)
            except (
                zipfile.BadZipFile,
                OSError,
                ValueError,
                NotImplementedError,
                RuntimeError,
            ) as exc:
                report = report + skip(label, f"cannot unpack: {exc}")
                continue
            report = report + read_bytes(label, data, settings)
    return report


def collect(
    name: str, chunks: Iterable[bytes], settings: DetectionSettings
) -> tuple[IO[bytes] | None, ArtifactReport]:
    """Spool a streamed download up to ``max_artifact_bytes``; (file, empty report) or
    (None, a skip) when it is larger."""
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > settings.max_artifact_bytes:
            spool.close()
            return None, skip(
                name, f"larger than max_artifact_bytes ({settings.max_artifact_bytes}); not read"
            )
        spool.write(chunk)
    spool.seek(0)
    return spool, ArtifactReport()


def read_stream(name: str, chunks: Iterable[bytes], settings: DetectionSettings) -> ArtifactReport:
    """A streamed artifact zip (capped), read as :func:`read_zip`."""
    spool, report = collect(name, chunks, settings)
    if spool is None:
        return report
    with spool:
        return read_zip(name, spool, settings)
