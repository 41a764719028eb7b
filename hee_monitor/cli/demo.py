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
    """Play the whole product against a local fake of GitHub: no token, no server.

    Four CI runs fail on a scratch repository (a lint failure, a flaky test, a dependency
    conflict, a critical compile error); hee-monitor diagnoses each, moves the health
    state, fixes the lint failure on a branch and opens its pull request, re-runs the
    flaky test, rolls back a fix that does not validate, alerts on the console, signs the
    state capsule and writes the HTML report. It ends by printing where each artefact is.

    \b
    Examples:
      hee-monitor demo                          # artefacts in a new temporary directory
      hee-monitor demo --workdir demo-run       # keep them in ./demo-run
      hee-monitor report --input demo-run/state_capsules/current.json --output r.md

    Exit 0 when the scenario ran to the end.
    """
    from hee_monitor.demo.story import run_demo

    return run_demo(workdir)
