from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hee_monitor.cli import run
from tests.record.reports.conftest import capsule_file, database, signed_capsule  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


def test_markdown_to_stdout_is_marked_unverified(
    capsule_file: Path,  # noqa: F811
    capsys: object,
) -> None:
    assert run(["report", "--input", str(capsule_file)]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert "**UNVERIFIED**" in out and "octo/app" in out


def test_html_from_a_signed_store_with_the_audit_store_is_verified(
    tmp_path: Path,
    signed_capsule: tuple[Path, Path],  # noqa: F811
    database: str,  # noqa: F811
) -> None:
    current, pub = signed_capsule
    out = tmp_path / "site" / "report.html"
    code = run(["report", "--input", str(current.parent), "--trusted-key", str(pub),
                "--database", database, "--output", str(out)])  # fmt: skip
    assert code == 0
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "Signature verified" in html and "UNVERIFIED" not in html
    assert "risk 7 is above the threshold 5" in html  # the open approval, from the store


def test_a_tampered_capsule_is_refused_not_reported(
    tmp_path: Path,
    signed_capsule: tuple[Path, Path],  # noqa: F811
) -> None:
    current, pub = signed_capsule
    data = json.loads(current.read_text(encoding="utf-8"))
    data["signed"]["monitoring_state"]["current_status"] = "operational"
    current.write_text(json.dumps(data), encoding="utf-8")
    out = tmp_path / "r.md"
    assert run(["report", "--input", str(current), "--trusted-key", str(pub),
                "--output", str(out)]) != 0  # fmt: skip
    assert not out.exists()


def test_a_missing_database_is_a_usage_error(capsule_file: Path, tmp_path: Path) -> None:  # noqa: F811
    url = f"sqlite:///{tmp_path / 'nope.db'}"
    assert run(["report", "--input", str(capsule_file), "--database", url]) == 2
    assert not (tmp_path / "nope.db").exists()


def test_script_infers_the_format_from_the_suffix(capsule_file: Path, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "report.html"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("HEE_TRUSTED_KEYS", None)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts/generate_state_report.py"),
         "--input", str(capsule_file), "--output", str(out)],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "UNVERIFIED" in proc.stderr
