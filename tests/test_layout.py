"""The package's layout rules that a linter does not check (docs/adr/0003-layout.md)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import hee_monitor

PACKAGE = Path(hee_monitor.__file__).parent


def class_definitions() -> dict[str, list[str]]:
    """Class name → where it is defined (module path:line), nested classes included."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                found[node.name].append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    return found


def test_the_package_is_scanned() -> None:
    found = class_definitions()
    assert "GitHubSource" in found and "CapsulePayload" in found


def test_no_class_name_is_defined_twice() -> None:
    twice = {name: places for name, places in class_definitions().items() if len(places) > 1}
    assert twice == {}, "one name, one meaning: rename or merge " + ", ".join(
        f"{name} ({' '.join(places)})" for name, places in sorted(twice.items())
    )
