"""``hee-monitor fix staged`` (the hee-auto-fix hook): only what is being committed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hee_monitor.cli.staged import file_fixers, select_files
from tests.action.fixes.conftest import Repo, init_repo, tool_env

ROOT = Path(__file__).resolve().parents[2]
UNFORMATTED = "import os\nimport sys\nx=[1,2]\nprint(sys.argv,x)\n"

pytestmark = pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")


@pytest.fixture
def work(tmp_path: Path) -> Repo:
    (tmp_path / "home").mkdir()
    repo = init_repo(tmp_path / "repo", tool_env(tmp_path / "home"))
    repo.write("README.md", "# app\n")
    repo.commit("init")
    return repo


def _hook(work: Repo, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(work.env, PYTHONPATH=str(ROOT))
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-c", "from hee_monitor.cli.fix import pre_commit_hook; pre_commit_hook()",
         *args],
        cwd=work.path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_only_the_staged_file_is_fixed_untracked_and_unstaged_files_stay_byte_identical(
    work: Repo,
) -> None:
    work.write("done.py", UNFORMATTED)
    work.commit("a file with unstaged changes later")
    staged = work.write("staged.py", UNFORMATTED)
    untracked = work.write("untracked.py", UNFORMATTED)
    work.git("add", "staged.py")
    partly = work.write("done.py", UNFORMATTED + "y=3\n")  # changed, not staged

    proc = _hook(work, "staged.py", "untracked.py", "done.py")

    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "fixed: staged.py" in proc.stdout
    assert staged.read_text() != UNFORMATTED and "x = [1, 2]" in staged.read_text()
    assert untracked.read_text() == UNFORMATTED
    assert partly.read_text() == UNFORMATTED + "y=3\n"
    assert "left alone: untracked.py: not tracked by git" in proc.stderr
    assert "left alone: done.py: has changes that are not staged" in proc.stderr


def test_without_file_arguments_the_staged_files_are_asked_of_git(work: Repo) -> None:
    staged = work.write("pkg/mod.py", UNFORMATTED)
    untracked = work.write("pkg/other.py", UNFORMATTED)
    work.git("add", "pkg/mod.py")
    proc = _hook(work, "--strategy", "ruff-format")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "x = [1, 2]" in staged.read_text()
    assert "import os" in staged.read_text()  # formatting only: ruff-format was asked for
    assert untracked.read_text() == UNFORMATTED


def test_a_clean_staged_file_passes(work: Repo) -> None:
    work.write("ok.py", "import sys\n\nprint(sys.argv)\n")
    work.git("add", "ok.py")
    proc = _hook(work, "ok.py", "--strategy", "ruff-fix", "--strategy", "ruff-format")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 file(s) checked, nothing to fix" in proc.stdout


def test_a_missing_fixer_tool_fails_loudly_naming_the_additional_dependency(
    work: Repo, tmp_path: Path
) -> None:
    work.write("staged.py", UNFORMATTED)
    work.git("add", "staged.py")
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    # asked for by name
    proc = _hook(work, "staged.py", "--strategy", "black", path=str(bare))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "the fixer tool is not installed: black" in proc.stderr
    assert "additional_dependencies: [black]" in proc.stderr
    # by default: a Python file and no Python fixer at all is an error, not a silent pass
    proc = _hook(work, "staged.py", path=str(bare))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "additional_dependencies: [ruff]" in proc.stderr
    assert (work.path / "staged.py").read_text() == UNFORMATTED


def test_select_files_names_why_each_file_is_left_alone(work: Repo) -> None:
    work.write("a.py", "a = 1\n")
    work.write("b.py", "b = 1\n")
    work.git("add", "a.py")
    selection = select_files(work.path, ["a.py", "b.py"])
    assert selection.files == ("a.py",)
    assert set(selection.skipped) == {"b.py"}


def test_every_file_fixer_names_files_instead_of_the_whole_tree() -> None:
    fixers = file_fixers()
    assert {"ruff-fix", "ruff-format", "black", "isort"} <= set(fixers)
    assert all("." not in fixer.argv for fixer in fixers.values())
    assert fixers["ruff-fix"].covers("src/app.py") and not fixers["ruff-fix"].covers("x.md")


def test_the_hook_manifest_passes_filenames_with_types() -> None:
    import yaml

    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    auto_fix = hooks["hee-auto-fix"]
    assert auto_fix["pass_filenames"] is True
    assert "python" in auto_fix["types_or"]
    assert os.path.basename(auto_fix["entry"]) == "hee-auto-fix-hook"
