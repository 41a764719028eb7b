"""Built-in checks: the validations of the file-editing strategies, run in-process.

Each takes the repository and the check's arguments and returns (passed, output), like a
command's exit status and output.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hee_monitor.action.fixes.strategies.dependencies import CHECKS as DEPENDENCY_CHECKS
from hee_monitor.action.fixes.strategies.license_header import check_license_header
from hee_monitor.action.fixes.strategies.workflows import check_permissions, check_timeouts

BuiltinCheck = Callable[[Path, tuple[str, ...]], tuple[bool, str]]

BUILTIN_CHECKS: dict[str, BuiltinCheck] = {
    "license-header": check_license_header,
    "workflow-permissions": check_permissions,
    "workflow-timeout": check_timeouts,
    **DEPENDENCY_CHECKS,
}
