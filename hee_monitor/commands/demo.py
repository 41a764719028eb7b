"""``hee-monitor demo``: the whole product on a scratch repository, no token needed."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("demo")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to put the scratch repository and artefacts (default: a new temp dir).",
)
def demo(workdir: Path | None) -> int:
    """Play a scenario against a local fake of GitHub: diagnose, fix, roll back, alert, report."""
    from hee_monitor.demo import run_demo

    return run_demo(workdir)
