#!/usr/bin/env python3
"""Verify the state capsule named by $STATE_CAPSULE (a path or inline JSON) and print it.

Thin wrapper over ``hee-monitor capsule load --input-env STATE_CAPSULE``; extra arguments
(e.g. ``--output current.json``, ``--field /monitoring_state/current_status``) pass through.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hee_monitor.cli import run

if __name__ == "__main__":
    sys.exit(run(["capsule", "load", "--input-env", "STATE_CAPSULE", *sys.argv[1:]]))
