"""hee-monitor: keeps CI pipelines healthy.

Diagnoses failed GitHub Actions jobs from their logs, fixes what is safe to fix, alerts the
right people at the right urgency and keeps a signed, versioned record of pipeline health.
"""

__version__ = "0.1.0"
