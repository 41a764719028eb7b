from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from hee_monitor.action.fixes.strategies.commands import COMMAND_STRATEGIES
from hee_monitor.action.fixes.strategies.interface import FixContext
from tests.action.fixes.conftest import Repo

UNSORTED = "import sys\nimport os\n\nprint(os.sep, sys.argv)\n"
UNFORMATTED = "x = {  'a':1 }\ndef f( a ):\n  return a\n"


def _ctx(repo: Repo) -> FixContext:
    return FixContext(repo=repo.path, env=repo.env)


def _fix_and_validate(repo: Repo, sid: str) -> None:
    strategy = COMMAND_STRATEGIES[sid]
    if strategy.requirements.missing(repo.path, repo.env["PATH"]):
        pytest.skip(f"{sid}: {strategy.requirements.tools[0]} is not installed here")
    ctx = _ctx(repo)
    (check,) = strategy.plan(ctx).validation
    assert not check.run(repo.path, repo.env).passed
    strategy.apply(ctx)
    result = check.run(repo.path, repo.env)
    assert result.passed, result.output


def test_ruff_fix_removes_an_unused_import(repo: Repo) -> None:
    repo.write("a.py", "import os\nimport sys\n\nprint(sys.argv)\n")
    _fix_and_validate(repo, "ruff-fix")
    assert (repo.path / "a.py").read_text() == "import sys\n\nprint(sys.argv)\n"


def test_ruff_format_formats(repo: Repo) -> None:
    repo.write("a.py", UNFORMATTED)
    _fix_and_validate(repo, "ruff-format")
    assert (repo.path / "a.py").read_text().startswith('x = {"a": 1}\n')


def test_black_formats(repo: Repo) -> None:
    repo.write("a.py", UNFORMATTED)
    _fix_and_validate(repo, "black")


def test_isort_sorts_imports(repo: Repo) -> None:
    repo.write("a.py", UNSORTED)
    _fix_and_validate(repo, "isort")


def test_a_fixer_that_fails_raises_fix_error_with_its_output(repo: Repo) -> None:
    from hee_monitor.core.errors import FixError

    repo.write("a.py", "def broken(:\n")
    strategy = COMMAND_STRATEGIES["ruff-format"]
    with pytest.raises(FixError) as info:
        strategy.apply(_ctx(repo))
    assert "exit code 2" in info.value.message
    assert info.value.hint and "a.py" in info.value.hint


def test_gofmt_fails_on_output(repo: Repo) -> None:
    if shutil.which("gofmt", path=repo.env["PATH"]) is None:
        pytest.skip("gofmt is not installed here")
    repo.write("main.go", "package main\nfunc main(){}\n")
    _fix_and_validate(repo, "gofmt")


def test_cargo_fmt(repo: Repo, tmp_path: Path) -> None:
    if shutil.which("cargo", path=repo.env["PATH"]) is None or shutil.which("rustfmt") is None:
        pytest.skip("cargo fmt is not installed here")
    repo.write("Cargo.toml", '[package]\nname = "demo"\nversion = "0.1.0"\nedition = "2021"\n')
    repo.write("src/main.rs", 'fn main(){println!("hi");}\n')
    _fix_and_validate(repo, "cargo-fmt")


def test_clippy_fix_applies_a_machine_applicable_suggestion(repo: Repo) -> None:
    if shutil.which("cargo", path=repo.env["PATH"]) is None:
        pytest.skip("cargo is not installed here")
    repo.write("Cargo.toml", '[package]\nname = "demo"\nversion = "0.1.0"\nedition = "2021"\n')
    repo.write(
        "src/main.rs",
        "fn main() {\n"
        "    let items: Vec<u32> = std::env::args().map(|a| a.len() as u32).collect();\n"
        '    if items.len() == 0 {\n        println!("none");\n    }\n}\n',
    )
    _fix_and_validate(repo, "clippy-fix")
    assert "items.is_empty()" in (repo.path / "src/main.rs").read_text()


@pytest.mark.slow
def test_prettier_write_formats_javascript(repo: Repo, node_bin: Path) -> None:
    repo.env["PATH"] = str(node_bin) + os.pathsep + repo.env["PATH"]
    repo.write("src/app.js", "const a = {b:1,\n  c:[1,2 ,3]}\nfunction f( x ){return x}\n")
    _fix_and_validate(repo, "prettier-write")
    assert (repo.path / "src/app.js").read_text().startswith("const a = { b: 1, c: [1, 2, 3] };\n")


@pytest.mark.slow
def test_eslint_fix_applies_fixable_rules(repo: Repo, node_bin: Path) -> None:
    repo.env["PATH"] = str(node_bin) + os.pathsep + repo.env["PATH"]
    repo.write(
        "eslint.config.js",
        'module.exports = [{ files: ["**/*.js"], rules: { "prefer-const": "error" } }];\n',
    )
    repo.write("src/app.js", "let total = 1;\nconsole.log(total);\n")
    _fix_and_validate(repo, "eslint-fix")
    assert (repo.path / "src/app.js").read_text() == "const total = 1;\nconsole.log(total);\n"
