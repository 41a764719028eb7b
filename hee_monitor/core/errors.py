"""One exception base per layer.

Third-party errors are translated into these where they enter the program; only the CLI
turns them into exit codes and messages. Every error carries a ``hint``: what the user can
do next. Messages must never contain a secret (token, key, webhook URL).
"""

from __future__ import annotations


class HeeError(Exception):
    """Base of every error hee-monitor raises on purpose."""

    #: exit code the CLI uses for this error
    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(HeeError):
    """Bad arguments or unreadable input named on the command line."""

    exit_code = 2


class ConfigError(HeeError):
    """The configuration file or environment is invalid."""

    exit_code = 2


class SourceError(HeeError):
    """A source of failed runs (GitHub, webhook, local files) failed."""


class PatternError(HeeError):
    """The pattern database is invalid or cannot be loaded."""

    exit_code = 2


class AnalysisError(HeeError):
    """A log could not be analysed."""


class LogReadError(UsageError, ValueError):
    """A log named as input cannot be read: unreadable, or a damaged gzip or zip archive
    (also a ValueError: the content, not the program, is at fault)."""


class CapsuleError(HeeError):
    """A state capsule is invalid, untrusted or cannot be stored."""


class PolicyError(HeeError):
    """The policy rules could not reach a decision."""


class StateError(HeeError):
    """An invalid health state transition was requested."""


class StoreError(HeeError):
    """The audit store failed."""


class FixError(HeeError):
    """A fix could not be applied or rolled back."""


class CoverageError(HeeError):
    """A coverage report or coverage targets file is unreadable or malformed."""

    exit_code = 2


class MissingExtraError(UsageError):
    """A feature needs an optional part of the install (an extra) that is not installed."""


def require_extra(module: str, extra: str, feature: str) -> None:
    """Raise :class:`MissingExtraError` naming ``extra`` when ``module`` cannot be imported."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise MissingExtraError(
            f"{feature} needs the optional '{extra}' extra ({module} is not installed)",
            hint=f"pip install 'hee-monitor[{extra}]'  (from a checkout: pip install '.[{extra}]')",
        )
