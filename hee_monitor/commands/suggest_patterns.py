"""Top-level alias ``hee-monitor suggest-patterns`` of ``hee-monitor patterns suggest``."""

from hee_monitor.commands.suggest import suggest

__all__ = ["suggest"]
