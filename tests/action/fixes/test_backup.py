"""Restore is exact: whatever happens to a tree after a snapshot, restore undoes it."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hee_monitor.action.fixes import backup
from hee_monitor.action.fixes.git import Git
from tests.action.fixes.conftest import Repo, init_repo, tool_env, tree_state
from tests.action.fixes.helpers import seed_mixed_tree

NOW = datetime(2026, 11, 22, tzinfo=UTC)
NAMES = ["src/app.py", "run.sh", "notes.txt", "build/out.bin", "debug.log", "new/x.txt",
         "link", "src"]  # fmt: skip

change = st.tuples(
    st.sampled_from(["write", "delete", "chmod", "mkdir-over", "symlink"]),
    st.sampled_from(NAMES),
    st.binary(max_size=20),
)


def _apply(root: Path, op: str, name: str, data: bytes) -> None:
    path = root / name
    try:
        if op == "write":
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():
                path.unlink()
            path.write_bytes(data)
        elif op == "delete":
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        elif op == "chmod" and path.is_file() and not path.is_symlink():
            os.chmod(path, 0o700 if data[:1] < b"\x80" else 0o604)
        elif op == "mkdir-over":
            if path.exists() or path.is_symlink():
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            (path / "inner").mkdir(parents=True)
            (path / "inner" / "f").write_bytes(data)
        elif op == "symlink":
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.symlink_to("elsewhere")
    except (NotADirectoryError, FileExistsError):
        pass  # a parent became a file: that change simply does not happen


def _fresh_repo() -> Repo:
    base = Path(tempfile.mkdtemp(prefix="hee-backup-"))
    (base / "home").mkdir()
    repo = init_repo(base / "repo", tool_env(base / "home"))
    seed_mixed_tree(repo.path)
    repo.commit("init")
    repo.write("notes.txt", "untracked\n", mode=0o640)
    repo.write("build/out.bin", "ignored\n")
    repo.write("debug.log", "log\n")
    return repo


@pytest.mark.slow
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(change, min_size=1, max_size=6))
def test_restore_undoes_any_change(changes: list[tuple[str, str, bytes]]) -> None:
    repo = _fresh_repo()
    try:
        git = Git(repo.path, repo.env)
        before = tree_state(repo.path)
        index_before = (repo.path / ".git" / "index").read_bytes()
        snapshot = backup.take_snapshot(git, "p1", NOW)
        for op, name, data in changes:
            _apply(repo.path, op, name, data)
        backup.restore(git, snapshot)
        backup.discard(git, snapshot)
        assert tree_state(repo.path) == before
        assert (repo.path / ".git" / "index").read_bytes() == index_before
        assert "refs/hee" not in repo.refs()
    finally:
        shutil.rmtree(repo.path.parent, ignore_errors=True)


def test_journal_round_trip_and_lock(repo: Repo) -> None:
    import pytest

    from hee_monitor.core.errors import FixError

    repo.write("a", "a")
    repo.commit()
    git = Git(repo.path, repo.env)
    snapshot = backup.take_snapshot(git, "j1", NOW)
    entry = backup.JournalEntry(snapshot, "P", "s", "fp", "t", 1)
    backup.write_journal(git, entry)
    assert backup.pending_journals(git) == [entry]
    backup.clear_journal(git, "j1")
    assert backup.pending_journals(git) == []
    with (
        backup.repository_lock(git),
        pytest.raises(FixError, match="another hee-monitor fix"),
        backup.repository_lock(git),
    ):
        pass


CRLF = b"first line\r\nsecond line\r\n"


def _converting_repo(repo: Repo) -> None:
    """Files git stores converted: CRLF text under ``eol=lf`` (stored with LF, checked out
    with LF) and a clean filter that upper-cases (checked out upper case)."""
    repo.git("config", "filter.shout.clean", "tr a-z A-Z")
    repo.git("config", "filter.shout.smudge", "cat")
    repo.write(".gitattributes", "*.txt text eol=lf\n*.up filter=shout\n")
    (repo.path / "win.txt").write_bytes(CRLF)
    (repo.path / "quiet.up").write_bytes(b"lower case\n")
    (repo.path / "plain.txt").write_bytes(b"already lf\n")
    repo.commit("converted files")


def test_restore_gives_back_the_bytes_of_files_git_stores_converted(repo: Repo) -> None:
    _converting_repo(repo)
    git = Git(repo.path, repo.env)
    before = tree_state(repo.path)
    snapshot = backup.take_snapshot(git, "c1", NOW)
    manifest = backup.json.loads(snapshot.manifest.read_bytes())
    # only the two whose stored form differs are copied; plain.txt checks out as it is
    assert sorted(manifest["raw"]) == ["quiet.up", "win.txt"]
    (repo.path / "win.txt").write_bytes(b"rewritten by a fixer\n")
    (repo.path / "quiet.up").unlink()
    report = backup.restore(git, snapshot)
    assert (repo.path / "win.txt").read_bytes() == CRLF
    assert (repo.path / "quiet.up").read_bytes() == b"lower case\n"
    assert {"win.txt", "quiet.up"} <= set(report.restored)
    assert tree_state(repo.path) == before


def test_a_line_ending_change_git_cannot_see_is_undone(repo: Repo) -> None:
    _converting_repo(repo)
    git = Git(repo.path, repo.env)
    snapshot = backup.take_snapshot(git, "c2", NOW)
    (repo.path / "win.txt").write_bytes(CRLF.replace(b"\r\n", b"\n"))
    assert backup.changed_paths(git, snapshot)[1] == []  # the same, as git stores it
    report = backup.restore(git, snapshot)
    assert report.restored == ("win.txt",)
    assert (repo.path / "win.txt").read_bytes() == CRLF
