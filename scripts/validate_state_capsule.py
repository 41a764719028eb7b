#!/usr/bin/env python3
"""Validate a state capsule: ``--input FILE [--hee-rules]``.

Thin wrapper over ``hee-monitor capsule validate``: exit 0 valid, 1 invalid (every problem
listed with its JSON pointer), 2 usage error.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hee_monitor.cli import run

if __name__ == "__main__":
    sys.exit(run(["capsule", "validate", *sys.argv[1:]]))
