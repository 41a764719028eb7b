#!/usr/bin/env python3
"""Monitor CI pipelines: a thin wrapper over ``hee-monitor monitor``.

    scripts/ci_monitor.py --mode hee --state-capsule current.json [--alert-level high]
    scripts/ci_monitor.py --mode continuous --repo octo/app
    scripts/ci_monitor.py --mode pre-commit build.log --junit report.xml
    scripts/ci_monitor.py --run-id 123 --hee-context --detailed --repo octo/app
    scripts/ci_monitor.py --wait-for-commit SHA --repo octo/app

Every option is the same as ``hee-monitor monitor --help``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# run from a checkout without installing: the package sits next to scripts/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hee_monitor.cli import run

if __name__ == "__main__":
    sys.exit(run(["monitor", *sys.argv[1:]]))
