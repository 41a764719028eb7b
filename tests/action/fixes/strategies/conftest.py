"""The JavaScript tools the eslint and prettier strategies run, installed once per test
session from the npm registry (skipped where there is no npm or no registry)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

#: majors the strategies are written for (eslint 9: flat config)
NODE_TOOLS = ("prettier@3", "eslint@9")


@pytest.fixture(scope="session")
def node_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the ``prettier`` and ``eslint`` executables."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("node and npm are not installed here")
    prefix = tmp_path_factory.mktemp("node-tools")
    try:
        proc = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(prefix),
                "--no-audit",
                "--no-fund",
                "--fetch-retries=1",
                "--fetch-timeout=30000",
                *NODE_TOOLS,
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm took too long to install {', '.join(NODE_TOOLS)}")
    if proc.returncode != 0:  # no registry within reach: say so, as for a missing tool
        pytest.skip(f"npm could not install {', '.join(NODE_TOOLS)}: {proc.stderr[-300:]}")
    return prefix / "node_modules" / ".bin"
