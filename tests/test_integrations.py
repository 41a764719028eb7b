"""The files users copy into their repositories: workflow, composite action, hook manifest.

They are checked against the same JSON Schemas editors and GitHub's linters use (vendored
by check-jsonschema from SchemaStore), and every script or command they call must exist
and accept the options they pass.
"""

from __future__ import annotations

import importlib.resources
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _vendored_schema(name: str) -> dict[str, Any]:
    files = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads((files / name).read_text(encoding="utf-8"))
    return schema


def _load_yaml(path: Path) -> Any:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    # YAML 1.1 reads the workflow key `on` as a boolean; GitHub reads it as the string "on".
    if isinstance(data, dict) and True in data:
        data["on"] = data.pop(True)
    return data


def _validate(instance: Any, schema: dict[str, Any]) -> list[str]:
    validator_cls = jsonschema.validators.validator_for(schema)
    validator = validator_cls(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def test_workflow_matches_the_github_workflow_schema() -> None:
    workflow = _load_yaml(ROOT / ".github/workflows/hee-monitor.yml")
    assert _validate(workflow, _vendored_schema("github-workflows.json")) == []


def test_composite_action_matches_the_github_action_schema() -> None:
    action = _load_yaml(ROOT / "action.yml")
    assert _validate(action, _vendored_schema("github-actions.json")) == []


def test_schema_check_catches_a_broken_workflow() -> None:
    workflow = _load_yaml(ROOT / ".github/workflows/hee-monitor.yml")
    del workflow["jobs"]["monitor"]["runs-on"]
    assert _validate(workflow, _vendored_schema("github-workflows.json"))


def _script_invocations() -> list[tuple[str, list[str]]]:
    """(script path, options) for every `python .../scripts/X.py ...` line of the action."""
    action = _load_yaml(ROOT / "action.yml")
    found: list[tuple[str, list[str]]] = []
    for step in action["runs"]["steps"]:
        run = step.get("run", "")
        match = re.search(r"scripts/(\w+\.py)\"?\s+(.*)", run, re.S)
        if match:
            args = shlex.split(match.group(2))
            found.append((match.group(1), [a for a in args if a.startswith("--")]))
    return found


def test_action_calls_scripts() -> None:
    assert {script for script, _ in _script_invocations()} == {
        "ci_monitor.py",
        "auto_fix.py",
        "generate_state_report.py",
    }


@pytest.mark.parametrize(("script", "options"), _script_invocations())
def test_every_script_the_action_calls_exists_and_accepts_its_options(
    script: str, options: list[str]
) -> None:
    path = ROOT / "scripts" / script
    if not path.exists():
        pytest.fail(f"scripts/{script} is called by action.yml but does not exist")
    proc = subprocess.run(
        [sys.executable, str(path), "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    for option in options:
        assert option in proc.stdout, f"scripts/{script} --help does not list {option}"


def test_hook_manifest_entries_are_installed_commands() -> None:
    hooks = _load_yaml(ROOT / ".pre-commit-hooks.yaml")
    ids = {hook["id"] for hook in hooks}
    assert {
        "hee-ci-monitoring",
        "hee-auto-fix",
        "hee-state-validation",
        "hee-patterns-validate",
    } <= ids
    with (ROOT / "pyproject.toml").open("rb") as fh:
        import tomllib

        scripts = tomllib.load(fh)["project"]["scripts"]
    for hook in hooks:
        command = shlex.split(hook["entry"])[0]
        assert command in scripts, f"hook {hook['id']} calls {command}, not a console script"
