"""The audit store: processed runs, findings, decisions, transitions, fixes, alerts, metrics."""
