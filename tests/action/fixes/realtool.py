"""Job logs made by running the real tool, wrapped the way GitHub Actions prints a step."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from hee_monitor.action.fixes.inputs import analyze_log
from hee_monitor.core.models import Finding


def actions_log(
    repo: Path, command: str, env: Mapping[str, str], *, cwd: str = "", shell_line: str = ""
) -> tuple[str, int]:
    """Run ``command`` in ``repo/cwd`` as a runner's bash does; the job log and exit code."""
    proc = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", command],
        cwd=repo / cwd if cwd else repo,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    output = proc.stdout.decode("utf-8", "replace")
    first = command.strip().splitlines()[0]
    lines = [
        "2026-12-07T10:00:00.0000000Z ##[group]Run actions/checkout@v4",
        "2026-12-07T10:00:00.1000000Z with:",
        "2026-12-07T10:00:00.2000000Z ##[endgroup]",
        f"2026-12-07T10:00:01.0000000Z ##[group]Run {first}",
        *(f"2026-12-07T10:00:01.0000000Z {line}" for line in command.strip().splitlines()),
        "2026-12-07T10:00:01.1000000Z shell: " + (shell_line or "/usr/bin/bash -e {0}"),
        "2026-12-07T10:00:01.2000000Z ##[endgroup]",
        *(f"2026-12-07T10:00:02.0000000Z {line}" for line in output.splitlines()),
    ]
    if proc.returncode:
        lines.append(
            "2026-12-07T10:00:03.0000000Z "
            f"##[error]Process completed with exit code {proc.returncode}."
        )
    return "\n".join(lines) + "\n", proc.returncode


def findings_from_tool(
    repo: Path, command: str, env: Mapping[str, str], log_path: Path, *, cwd: str = ""
) -> list[Finding]:
    text, code = actions_log(repo, command, env, cwd=cwd)
    assert code != 0, f"{command} was expected to fail:\n{text}"
    log_path.write_text(text)
    return analyze_log(log_path)[1]
