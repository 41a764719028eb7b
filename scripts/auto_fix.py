#!/usr/bin/env python3
"""Apply safe fixes: a thin wrapper over ``hee-monitor fix apply``.

    scripts/auto_fix.py --mode hee-safe --state-capsule current.json --max-severity medium \\
        --diagnosis diagnosis.json [--repo-path DIR] [--hee-dry-run] [--report detailed] \\
        [--no-push]
    scripts/auto_fix.py --mode pre-commit [--safety high] [--strategy ID] [FILE...]

Every option is the command's own: ``hee-monitor fix apply --help``; ``--mode pre-commit``
is ``hee-monitor fix staged`` (only the staged files, never an untracked or unstaged one).
"""

from __future__ import annotations

import sys
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1]
if (_CHECKOUT / "hee_monitor" / "__init__.py").is_file():
    # run from a source checkout: use its package, not another installed copy
    sys.path.insert(0, str(_CHECKOUT))

from hee_monitor.cli import run  # noqa: E402


def _command(argv: list[str]) -> list[str]:
    """``--mode pre-commit`` fixes the files being committed (``fix staged``); any other
    mode is ``fix apply``."""
    for i, arg in enumerate(argv):
        if arg == "--mode" and argv[i + 1 : i + 2] == ["pre-commit"]:
            return ["fix", "staged", *argv[:i], *argv[i + 2 :]]
        if arg == "--mode=pre-commit":
            return ["fix", "staged", *argv[:i], *argv[i + 1 :]]
    return ["fix", "apply", *argv]


if __name__ == "__main__":
    sys.exit(run(_command(sys.argv[1:])))
