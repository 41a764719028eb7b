from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from hee_monitor.action.escalation.codeowners import (
    CodeOwners,
    assignable,
    from_checkout,
    from_reader,
    paths_in,
)

# The examples of GitHub's CODEOWNERS documentation, in its order (later lines win).
TEXT = """\
# This is a comment.
*       @global-owner1 @global-owner2
*.js    @js-owner #This is an inline comment.
*.go docs@example.com
*.txt @octo-org/octocats
/build/logs/ @doctocat
docs/*  docs@example.com
apps/ @octocat
/docs/ @doctocat
/scripts/ @doctocat @octocat
**/logs @octocat
/apps/ @octocat
/apps/github
!ignored.md @nobody
"""


def test_last_matching_rule_wins_as_on_github() -> None:
    owners = CodeOwners.parse(TEXT)
    assert owners.owners_of("README.md") == ("@global-owner1", "@global-owner2")
    assert owners.owners_of("src/app.js") == ("@js-owner",)
    assert owners.owners_of("main.go") == ("docs@example.com",)
    assert owners.owners_of("notes/todo.txt") == ("@octo-org/octocats",)
    assert owners.owners_of("build/logs/out.log") == ("@octocat",)  # **/logs is later
    assert owners.owners_of("docs/getting-started.md") == ("@doctocat",)
    assert owners.owners_of("scripts/deploy.sh") == ("@doctocat", "@octocat")
    assert owners.owners_of("apps/web/index.html") == ("@octocat",)
    # a pattern without owners leaves the path unowned
    assert owners.owners_of("apps/github/main.py") == ()
    assert owners.owners_of("./README.md") == owners.owners_of("README.md")


def test_owners_for_several_files_and_who_can_be_assigned() -> None:
    owners = CodeOwners.parse(TEXT)
    found = owners.owners_for(["src/app.js", "notes/a.txt", "src/other.js"])
    assert found == ("@js-owner", "@octo-org/octocats")
    users, mentions = assignable(found)
    assert users == ["js-owner"] and mentions == ["@octo-org/octocats"]


def test_paths_in_evidence_text() -> None:
    text = (
        "FAILED tests/test_api.py::test_total - assert 41 == 42\n"
        "  File /home/runner/work/app/app/src/db.py, line 3\n"
        "src/app/db.py:42:5: error: bad"
    )
    assert paths_in([text]) == ["tests/test_api.py", "src/app/db.py"]


def test_read_from_a_checkout_or_through_a_reader(tmp_path: Path) -> None:
    assert from_checkout(tmp_path).rules == ()
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "CODEOWNERS").write_text("* @docs-team\n")
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "CODEOWNERS").write_text("* @first\n")
    assert from_checkout(tmp_path).owners_of("x.py") == ("@first",)
    asked: list[str] = []

    def read(path: str) -> bytes | None:
        asked.append(path)
        return b"*.py @py\n" if path == "CODEOWNERS" else None

    assert from_reader(read).owners_of("a.py") == ("@py",)
    assert asked == [".github/CODEOWNERS", "CODEOWNERS"]


@given(st.text(max_size=300), st.text(max_size=60))
def test_any_codeowners_text_parses_and_answers(text: str, path: str) -> None:
    owners = CodeOwners.parse(text)
    assert all(isinstance(o, str) and o for o in owners.owners_of(path))
