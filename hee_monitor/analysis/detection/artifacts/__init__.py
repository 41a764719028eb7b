"""Findings from the reports CI jobs upload: SARIF, dependency audits, licenses, JUnit."""

from hee_monitor.analysis.detection.artifacts.interface import ArtifactReport, ArtifactSkip
from hee_monitor.analysis.detection.artifacts.reader import (
    read_bytes,
    read_path,
    read_stream,
    read_zip,
)

__all__ = ["ArtifactReport", "ArtifactSkip", "read_bytes", "read_path", "read_stream", "read_zip"]
