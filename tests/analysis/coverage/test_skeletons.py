from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hee_monitor.analysis.coverage.analyze import TestTarget, analyze
from hee_monitor.analysis.coverage.readers import read_report
from hee_monitor.analysis.coverage.skeletons import module_name, skeleton_for, write_skeletons

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("path", "module"),
    [
        ("src/shop/pricing.py", "shop.pricing"),
        ("shop/__init__.py", "shop"),
        ("./app.py", "app"),
        ("src/format.js", None),
        ("scripts/my-tool.py", None),
    ],
)
def test_module_name(path: str, module: str | None) -> None:
    assert module_name(path) == module


def _target(path: str, function: str, missing_branches: int = 1) -> TestTarget:
    return TestTarget(path, function, 9, 13, (11, 12, 13), 2, missing_branches, True)


def test_python_skeleton_imports_the_function_and_lists_what_to_reach() -> None:
    skeleton = skeleton_for(_target("src/shop/pricing.py", "Discount.apply"))
    assert skeleton.language == "python"
    assert skeleton.filename == "test_pricing_discount_apply.py"
    assert "from shop.pricing import Discount" in skeleton.text
    assert "Discount(...).apply(...)" in skeleton.text
    assert "uncovered lines: 11-13" in skeleton.text
    assert "def test_discount_apply_other_branch" in skeleton.text
    compile(skeleton.text, skeleton.filename, "exec")


def test_other_languages_get_a_test_plan() -> None:
    skeleton = skeleton_for(_target("src/format.js", "(anonymous_1)", missing_branches=0))
    assert skeleton.language == "generic"
    assert skeleton.filename == "format_anonymous_1.test-plan.md"
    assert "uncovered lines: 11-13" in skeleton.text
    assert "branch no test takes" not in skeleton.text


def test_written_skeletons_are_collected_by_pytest_as_skipped(tmp_path: Path) -> None:
    package = tmp_path / "src" / "shop"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "pricing.py").write_text(
        "def price(x):\n    return x\n\n\nclass Discount:\n    def apply(self, x):\n"
        "        return x\n"
    )
    (package / "untested.py").write_text("def helper():\n    return 1\n")
    result = analyze(read_report(FIXTURES / "coverage.json"))
    out = tmp_path / "skeletons"
    done = write_skeletons(result.test_targets, out)
    assert sorted(p.name for p in done.written) == [
        "test_pricing_discount_apply.py",
        "test_pricing_price.py",
        "test_untested_helper.py",
    ]
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 skipped" in proc.stdout


def test_existing_files_are_never_overwritten(tmp_path: Path) -> None:
    target = _target("src/shop/pricing.py", "price")
    mine = tmp_path / skeleton_for(target).filename
    mine.write_text("# my real test\n")
    done = write_skeletons([target], tmp_path)
    assert done.written == () and done.kept_existing == (mine,)
    assert mine.read_text() == "# my real test\n"
