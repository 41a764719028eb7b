#!/usr/bin/env python3
"""Write a state report: ``--input current.json --output report.md|report.html``.

Thin wrapper over ``hee-monitor report`` (``--format markdown|html``, inferred from the
output suffix; ``--database URL`` adds the time series, approvals and alert volume;
``--trusted-key FILE`` verifies the capsule).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hee_monitor.cli import run

if __name__ == "__main__":
    sys.exit(run(["report", *sys.argv[1:]]))
