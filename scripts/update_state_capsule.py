#!/usr/bin/env python3
"""Write the next version of the state capsule: ``--output FILE`` plus update edits.

Thin wrapper over ``hee-monitor capsule update``. The capsule to start from is ``--input``
if given, else $STATE_CAPSULE (a path or inline JSON), else the state directory.
Example: ``update_state_capsule.py --output next.json --set-status degraded``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hee_monitor.cli import run

if __name__ == "__main__":
    args = sys.argv[1:]
    if not any(a.split("=")[0] in ("--input", "-i", "--input-env") for a in args) and (
        os.environ.get("STATE_CAPSULE")
    ):
        args = ["--input-env", "STATE_CAPSULE", *args]
    sys.exit(run(["capsule", "update", *args]))
