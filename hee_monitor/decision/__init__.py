"""The monitoring policy: what to do about a failure, and how the health state moves."""

from __future__ import annotations

from collections.abc import Callable

from hee_monitor.decision.interface import Policy


def _rules() -> Policy:
    from hee_monitor.decision.rules import RulesPolicy

    return RulesPolicy()


#: policy implementations by name (``[policy] engine`` in the configuration)
POLICIES: dict[str, Callable[[], Policy]] = {"rules": _rules}
