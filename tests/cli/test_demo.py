"""``hee-monitor demo`` from the command line, and from a wheel built from a clean clone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from hee_monitor.cli import run

ROOT = Path(__file__).resolve().parents[2]


def test_demo_refuses_a_workdir_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "notes.md").write_text("keep me", encoding="utf-8")
    assert run(["demo", "--workdir", str(tmp_path)]) == 2
    assert (tmp_path / "notes.md").read_text(encoding="utf-8") == "keep me"


def _run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload, no-any-return]


@pytest.mark.slow
def test_demo_runs_from_a_wheel_installed_from_a_clean_clone(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    clone = tmp_path / "clone"
    proc = _run(["git", "clone", "--quiet", str(ROOT), str(clone)])
    assert proc.returncode == 0, proc.stderr
    wheels = tmp_path / "wheels"
    proc = _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels),
         str(clone)],
        timeout=600,
    )  # fmt: skip
    if proc.returncode != 0 and "hatchling" in proc.stderr and "find" in proc.stderr:
        pytest.skip("cannot fetch the build backend (hatchling) from the package index")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (wheel,) = wheels.glob("hee_monitor-*.whl")
    venv = tmp_path / "venv"
    proc = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert proc.returncode == 0, proc.stderr
    python = venv / "bin" / "python"
    target = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).stdout.strip()
    )
    # the dependencies come from the environment running the tests, after the wheel
    (target / "zz_reuse_test_env.pth").write_text(
        sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8"
    )
    proc = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", str(wheel)],
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "HEE_"))}
    where = _run(
        [str(python), "-c", "import hee_monitor; print(hee_monitor.__file__)"],
        env=env,
        cwd=tmp_path,
    )
    assert where.stdout.strip().startswith(str(target)), where.stdout + where.stderr
    work = tmp_path / "work"
    proc = _run(
        [str(venv / "bin" / "hee-monitor"), "demo", "--workdir", str(work)],
        env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (work / "report.html").is_file()
    assert (work / "state_capsules" / "current.json").is_file()
    assert "pull request opened" in proc.stdout
    # the alerts are the console channel's; no log line repeats them at the default level
    assert "alert for demo/ledger" not in proc.stderr and "WARNING" not in proc.stderr
