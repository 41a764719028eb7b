"""The README's Quick start is what CI runs, and works without `python` or a global pip."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _quick_start() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quick_start_is_two_commands_that_create_a_venv_first() -> None:
    demo, tests = _quick_start()
    for command in (demo, tests):
        # stock Debian/Ubuntu: no `python` before the venv, no pip into the system Python
        assert command.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install")
    assert demo.endswith("hee-monitor demo")
    assert "'.[dev]'" in tests and "pytest -n auto" in tests


def test_ci_runs_exactly_the_readme_test_command() -> None:
    _, tests = _quick_start()
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in run.splitlines()


def test_the_dev_extra_includes_every_other_extra() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    included: set[str] = set()
    for requirement in extras["dev"]:
        found = re.fullmatch(r"hee-monitor\[([\w,\s-]+)\]", requirement)
        if found:
            included |= {e.strip() for e in found.group(1).split(",")}
    assert included == set(extras) - {"dev"}
    assert not any(d.startswith("ollama") for d in project["dependencies"])


def test_the_project_pre_commit_ruff_equals_the_dev_extra_ruff() -> None:
    import tomllib

    import yaml

    dev = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]["dev"]
    pinned = [d for d in dev if d.startswith("ruff")]
    assert len(pinned) == 1 and pinned[0].startswith("ruff==")
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    revs = [r["rev"] for r in config["repos"] if r["repo"].endswith("/ruff-pre-commit")]
    assert revs == ["v" + pinned[0].removeprefix("ruff==")]
