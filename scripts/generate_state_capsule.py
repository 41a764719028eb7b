#!/usr/bin/env python3
"""Create version 1 of a state capsule: ``--output FILE [--repository OWNER/REPO]``.

Thin wrapper over ``hee-monitor capsule generate`` (repository defaults to
$GITHUB_REPOSITORY; the signing key comes from --signing-key or $HEE_SIGNING_KEY).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hee_monitor.cli import run

if __name__ == "__main__":
    sys.exit(run(["capsule", "generate", *sys.argv[1:]]))
