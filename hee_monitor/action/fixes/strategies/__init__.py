"""Fix strategies: a literal registry, id → implementation.

Ids are the ``fix_strategy`` values of the pattern database. Repositories add command
strategies of their own in configuration; :func:`registry` merges them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hee_monitor.action.fixes.strategies.commands import COMMAND_STRATEGIES, CommandStrategy
from hee_monitor.action.fixes.strategies.dependencies import (
    BumpDependencyStrategy,
    PinDependencyStrategy,
    RegenerateLockfileStrategy,
)
from hee_monitor.action.fixes.strategies.interface import FixStrategy
from hee_monitor.action.fixes.strategies.license_header import LicenseHeaderStrategy
from hee_monitor.action.fixes.strategies.rerun import RerunStrategy
from hee_monitor.action.fixes.strategies.workflows import (
    WorkflowPermissionsStrategy,
    WorkflowTimeoutStrategy,
)
from hee_monitor.core.errors import ConfigError

STRATEGIES: dict[str, FixStrategy] = {
    **COMMAND_STRATEGIES,
    "license-header": LicenseHeaderStrategy(),
    "pin-dependency": PinDependencyStrategy(),
    "bump-dependency": BumpDependencyStrategy(),
    "regenerate-lockfile": RegenerateLockfileStrategy(),
    "workflow-permissions": WorkflowPermissionsStrategy(),
    "workflow-timeout": WorkflowTimeoutStrategy(),
    "rerun": RerunStrategy(),
}


def registry(extra: Iterable[CommandStrategy] = ()) -> Mapping[str, FixStrategy]:
    """The built-in strategies plus the repository's own; a repository may not redefine a
    built-in id (that would silently change what a pattern's fix does)."""
    merged: dict[str, FixStrategy] = dict(STRATEGIES)
    for strategy in extra:
        if strategy.id in STRATEGIES:
            raise ConfigError(
                f"fixes.strategies: {strategy.id!r} is a built-in strategy",
                hint="pick another id, or set fixes.validation to change how it is validated",
            )
        merged[strategy.id] = strategy
    return merged
