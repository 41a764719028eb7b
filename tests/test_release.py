"""Release hygiene: what the README and the workflow pin exists and runs on today's runners."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the first major of each first-party action that runs on node24
NODE24_MAJORS = {
    "actions/checkout": 5,
    "actions/setup-python": 6,
    "actions/cache": 5,
    "actions/upload-artifact": 6,
    "actions/download-artifact": 7,
}


def _uses(text: str) -> list[str]:
    return re.findall(r"^\s*(?:-\s*)?uses:\s*(\S+)", text, re.M)


def test_readme_snippets_pin_a_commit_not_a_tag_that_does_not_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    revs = re.findall(r"^\s*rev:\s*(\S+)", readme, re.M)
    uses = [u for u in _uses(readme) if "hee-monitor@" in u]
    assert revs and uses
    for ref in [*revs, *(u.split("@", 1)[1] for u in uses)]:
        assert re.fullmatch(r"[0-9a-f]{40}", ref), ref


def test_workflow_actions_run_on_node24_and_third_party_ones_are_pinned_by_commit() -> None:
    files = [*(ROOT / ".github" / "workflows").glob("*.yml"), ROOT / "action.yml"]
    seen = 0
    for path in files:
        for ref in _uses(path.read_text(encoding="utf-8")):
            if ref.startswith("./"):
                continue
            name, _, version = ref.partition("@")
            action = "/".join(name.split("/")[:2])
            seen += 1
            if action.startswith("actions/"):
                assert action in NODE24_MAJORS, f"{path.name}: {ref} (check its node24 major)"
                assert int(version.removeprefix("v").split(".")[0]) >= NODE24_MAJORS[action], ref
            else:
                assert re.fullmatch(r"[0-9a-f]{40}", version), f"{path.name}: {ref} not pinned"
    assert seen
