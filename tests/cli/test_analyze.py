from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hee_monitor.cli import cli, run

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "analysis" / "data" / "sample_patterns.yaml"

LOG = (
    "2024-01-01T00:00:00.0000000Z ##[group]Run pytest\n"
    "2024-01-01T00:00:00.0000000Z ##[endgroup]\n"
    "2024-01-01T00:00:01.0000000Z E   ModuleNotFoundError: No module named 'requests'\n"
    "2024-01-01T00:00:02.0000000Z ##[error]Process completed with exit code 2.\n"
)

CONTRACT_KEYS = {
    "pattern_id",
    "title",
    "category",
    "severity",
    "owner",
    "risk",
    "transient",
    "confidence",
    "fix_strategy",
    "fingerprint",
    "evidence",
}


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "job.log"
    path.write_text(LOG, encoding="utf-8")
    return path


def invoke(*args: str, input: bytes | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), input=input, standalone_mode=False)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return int(result.return_value or 0), result.stdout, result.stderr


def test_json_contract(log: Path) -> None:
    code, out, _ = invoke(
        "analyze", "--format", "json", "--no-shipped", "--patterns", str(SAMPLE), str(log)
    )
    assert code == 0
    data = json.loads(out)
    assert set(data) >= {"log", "lines", "failures", "unexplained"}
    assert data["log"] == str(log) and data["lines"] == 4 and data["unexplained"] is False
    root = data["failures"][0]
    assert set(root) >= CONTRACT_KEYS
    assert root["pattern_id"] == "TEST-PY-MODULE-NOT-FOUND" and root["owner"] == "DEVOPS"
    assert root["evidence"] == [
        {
            "start_line": 3,
            "end_line": 3,
            "text": "E   ModuleNotFoundError: No module named 'requests'",
        }
    ]
    assert 0 <= root["confidence"] <= 1 and len(root["fingerprint"]) == 16


def test_json_lines_for_several_logs(log: Path, tmp_path: Path) -> None:
    other = tmp_path / "ok.log"
    other.write_text("all good\n", encoding="utf-8")
    code, out, _ = invoke(
        "analyze",
        "--format",
        "json",
        "--no-shipped",
        "--patterns",
        str(SAMPLE),
        str(log),
        str(other),
    )
    first, second = (json.loads(line) for line in out.splitlines())
    assert (
        code == 0
        and first["failures"]
        and second == {"log": str(other), "lines": 1, "failures": [], "unexplained": True}
    )


def test_stdin(log: Path) -> None:
    code, out, _ = invoke(
        "analyze",
        "--format",
        "json",
        "--no-shipped",
        "--patterns",
        str(SAMPLE),
        "-",
        input=log.read_bytes(),
    )
    data = json.loads(out)
    assert (
        code == 0
        and data["log"] == "<stdin>"
        and data["failures"][0]["evidence"][0]["start_line"] == 3
    )


def test_text_and_markdown(log: Path) -> None:
    code, text, _ = invoke("analyze", "--no-shipped", "--patterns", str(SAMPLE), str(log))
    assert code == 0
    assert "root cause: Python module missing [TEST-PY-MODULE-NOT-FOUND]" in text
    assert "owner DEVOPS" in text and "fix strategy: add-missing-dependency" in text
    assert "3 | E   ModuleNotFoundError" in text
    code, md, _ = invoke(
        "analyze", "--format", "markdown", "--no-shipped", "--patterns", str(SAMPLE), str(log)
    )
    assert "| 1 | **Python module missing** (`TEST-PY-MODULE-NOT-FOUND`)" in md
    assert "3: E   ModuleNotFoundError" in md


def test_junit_findings_are_added(log: Path, tmp_path: Path) -> None:
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuite><testcase classname="t" name="x"><failure message="boom"/></testcase>'
        "</testsuite>",
        encoding="utf-8",
    )
    code, out, _ = invoke(
        "analyze",
        "--format",
        "json",
        "--no-shipped",
        "--patterns",
        str(SAMPLE),
        "--junit",
        str(report),
        str(log),
    )
    ids = [f["pattern_id"] for f in json.loads(out)["failures"]]
    assert code == 0 and "JUNIT-TEST-FAILED" in ids


def test_missing_file_exits_2_naming_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.log"
    assert run(["analyze", str(missing)]) == 2
    err = capsys.readouterr().err
    assert f"log file {missing} does not exist" in err and "hint:" in err


def test_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["analyze", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_unreadable_file_exits_2(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root can read a chmod 000 file")
    log.chmod(0)
    try:
        assert run(["analyze", str(log)]) == 2
    finally:
        log.chmod(0o644)
    assert "cannot read log file" in capsys.readouterr().err


def test_no_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["analyze"]) == 2
    assert "no log given" in capsys.readouterr().err


def test_bad_pattern_file_exits_2(
    log: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("patterns:\n  - id: [\n", encoding="utf-8")
    assert run(["analyze", "--patterns", str(bad), str(log)]) == 2
    assert "bad.yaml:3: invalid YAML" in capsys.readouterr().err


def test_gh_run_view_log_failed_piped_in() -> None:
    """The README's ``gh run view 123 --log-failed | hee-monitor analyze --format json -``:
    gh puts the job and step names before each line."""
    piped = (
        "test\tRun pytest -q\t2025-03-14T09:00:05.0000000Z ##[group]Run pytest -q\n"
        "test\tRun pytest -q\t2025-03-14T09:00:05.0000001Z pytest -q\n"
        "test\tRun pytest -q\t2025-03-14T09:00:05.0000002Z ##[endgroup]\n"
        "test\tRun pytest -q\t2025-03-14T09:00:07.0000000Z ERROR: Could not find a version "
        "that satisfies the requirement requests==99.0 (from versions: 2.31.0)\n"
        "test\tRun pytest -q\t2025-03-14T09:00:07.1000000Z ERROR: No matching distribution "
        "found for requests==99.0\n"
        "test\tRun pytest -q\t2025-03-14T09:00:08.0000000Z ##[error]Process completed with "
        "exit code 1.\n"
    )
    code, out, _ = invoke("analyze", "--format", "json", "-", input=piped.encode())
    data = json.loads(out)
    first = data["failures"][0]
    assert code == 0 and first["category"] == "dependency"
    assert first["evidence"][0]["start_line"] == 4
    assert first["evidence"][0]["text"].startswith("ERROR: Could not find a version")


def test_subprocess_stdin_json() -> None:
    """The installed entry point works end to end from stdin."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hee_monitor",
            "analyze",
            "--format",
            "json",
            "--no-shipped",
            "--patterns",
            str(SAMPLE),
            "-",
        ],
        input=LOG.encode(),
        capture_output=True,
        cwd=REPO,
        env=env,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["failures"][0]["pattern_id"] == "TEST-PY-MODULE-NOT-FOUND"


# --- the LLM fallback ------------------------------------------------------------------------

UNEXPLAINED = "step one\nthe quux reactor refused to spin up\nwidget count mismatch 3 != 4\n"
MODEL_ANSWER = {
    "category": "test",
    "severity": "medium",
    "owner": "DEVELOPER",
    "root_cause": "The widget count check failed: three widgets instead of four.",
    "evidence_lines": [3],
    "suggested_fix": "Register the fourth widget.",
    "confidence": 0.9,
}


@pytest.fixture
def no_llm_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No configuration file and none of the variables that turn the fallback on."""
    for name in ("HEE_LLM", "OLLAMA_HOST", "HEE_CONFIG", "HEE_LLM__ENABLED"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "job.log"
    path.write_text(UNEXPLAINED)
    return path


def test_llm_explains_a_log_no_pattern_explains(
    no_llm_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fakes.ollama import Answer, FakeOllama

    with FakeOllama() as fake:
        fake.script(Answer(MODEL_ANSWER))
        code = run(["analyze", "--format", "json", "--llm-host", fake.url, str(no_llm_env)])
        assert len(fake.chat_requests) == 1
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    (finding,) = out["failures"]
    assert finding["source"] == "llm:llama3.2"
    assert finding["pattern_id"] == "LLM-TEST"
    assert finding["fix_strategy"] is None
    assert [e["start_line"] for e in finding["evidence"]] == [3]


def test_llm_on_from_config_section_with_model_from_option(
    no_llm_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fakes.ollama import Answer, FakeOllama

    with FakeOllama(models=("qwen2.5:latest",)) as fake:
        fake.script(Answer(MODEL_ANSWER))
        Path("hee-monitor.toml").write_text(f'[llm]\nhost = "{fake.url}"\n')
        code = run(["analyze", "--format", "json", "--llm-model", "qwen2.5", str(no_llm_env)])
        assert fake.chat_requests[0].json["model"] == "qwen2.5"
    assert code == 0
    (finding,) = json.loads(capsys.readouterr().out)["failures"]
    assert finding["source"] == "llm:qwen2.5"


def test_llm_model_down_gives_a_note_and_exit_0(
    no_llm_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fakes.ollama import closed_port_url

    url = closed_port_url()
    assert run(["analyze", "--llm", "--llm-host", url, str(no_llm_env)]) == 0
    out = capsys.readouterr().out
    assert "no known failure pattern matched this log" in out
    assert f"note: LLM fallback unavailable: cannot connect to Ollama at {url}" in out


def test_llm_off_by_default_and_with_no_llm(
    no_llm_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fakes.ollama import FakeOllama

    with FakeOllama() as fake:
        assert run(["analyze", "--format", "json", str(no_llm_env)]) == 0
        monkeypatch.setenv("OLLAMA_HOST", fake.url)
        assert run(["analyze", "--no-llm", "--format", "json", str(no_llm_env)]) == 0
        assert fake.requests == []
    for line in capsys.readouterr().out.splitlines():
        assert json.loads(line)["failures"] == []


def test_analyze_without_a_model_configured_does_not_import_the_model_client(
    log: Path, tmp_path: Path
) -> None:
    """Start-up cost: ollama, httpx and SQLAlchemy load only when the fallback is wanted."""
    code = (
        "import sys\n"
        "from hee_monitor.cli import run\n"
        f"code = run(['analyze', '--format', 'json', {str(log)!r}])\n"
        "print(code, sorted(m for m in ('ollama', 'httpx', 'sqlalchemy') if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEE_", "OLLAMA"))}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "0 []"


def test_generic_summary_is_folded_into_the_root_cause(log: Path) -> None:
    """The "exit code 2" summary is not a second failure: the root cause names it."""
    args = ("--format", "json", "--no-shipped", "--patterns", str(SAMPLE), str(log))
    code, out, _ = invoke("analyze", *args)
    data = json.loads(out)
    assert code == 0 and [f["pattern_id"] for f in data["failures"]] == ["TEST-PY-MODULE-NOT-FOUND"]
    root = data["failures"][0]
    # the existing keys keep their meaning; "related" is the one addition
    assert set(root) == CONTRACT_KEYS | {"details", "related"}
    assert root["related"] == ["TEST-EXIT-CODE"]
    assert root["evidence"][0]["start_line"] == 3

    code, out, _ = invoke("analyze", "--all-findings", *args)
    full = json.loads(out)
    assert [f["pattern_id"] for f in full["failures"]] == [
        "TEST-PY-MODULE-NOT-FOUND",
        "TEST-EXIT-CODE",
    ]
    assert all("related" not in f for f in full["failures"])
    assert set(full["failures"][0]) == CONTRACT_KEYS | {"details"}


def test_also_matched_in_text_and_markdown(log: Path) -> None:
    _, text, _ = invoke("analyze", "--no-shipped", "--patterns", str(SAMPLE), str(log))
    assert "    also matched: TEST-EXIT-CODE" in text and "also #2" not in text
    _, md, _ = invoke(
        "analyze", "--format", "markdown", "--no-shipped", "--patterns", str(SAMPLE), str(log)
    )
    assert "(`TEST-PY-MODULE-NOT-FOUND`)<br>also matched: `TEST-EXIT-CODE` |" in md
    _, full, _ = invoke(
        "analyze", "--all-findings", "--no-shipped", "--patterns", str(SAMPLE), str(log)
    )
    assert "also #2: " in full and "also matched" not in full


def test_a_log_with_only_generic_findings_points_into_the_failing_step(tmp_path: Path) -> None:
    path = tmp_path / "generic.log"
    path.write_text(LOG.replace("ModuleNotFoundError: No module named 'requests'", "x"))
    code, out, _ = invoke(
        "analyze", "--format", "json", "--no-shipped", "--patterns", str(SAMPLE), str(path)
    )
    data = json.loads(out)
    # the exit-code line only anchors the search: the block above it in the failing step
    # is the root cause, owner unknown, and the generic finding is folded into it
    assert code == 0 and [f["pattern_id"] for f in data["failures"]] == ["GEN-FAILING-STEP"]
    root = data["failures"][0]
    assert root["related"] == ["TEST-EXIT-CODE"] and root["owner"] is None
    assert [(e["start_line"], e["end_line"]) for e in root["evidence"]] == [(3, 3), (4, 4)]


def test_a_run_log_archive_gives_one_diagnosis_per_job(tmp_path: Path) -> None:
    import gzip
    import zipfile

    example = REPO / "examples" / "logs" / "npm-eresolve.log"
    _, raw_out, _ = invoke("analyze", "--format", "json", str(example))
    expected = [f["pattern_id"] for f in json.loads(raw_out)["failures"]]
    run = tmp_path / "logs_42.zip"
    with zipfile.ZipFile(run, "w") as archive:
        archive.writestr("0_build.txt", example.read_bytes())
        archive.writestr("build/2_Run npm ci.txt", example.read_bytes())
        archive.writestr("1_lint.txt", b"all good\n")
    packed = tmp_path / "job.log.gz"
    packed.write_bytes(gzip.compress(example.read_bytes()))
    code, out, _ = invoke("analyze", "--format", "json", str(run), str(packed))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [r["log"] for r in rows] == [f"{run}!0_build.txt", f"{run}!1_lint.txt", str(packed)]
    assert [f["pattern_id"] for f in rows[0]["failures"]] == expected
    assert rows[1]["failures"] == [] and rows[1]["unexplained"]
    assert [f["pattern_id"] for f in rows[2]["failures"]] == expected


def test_a_powershell_utf16_log_gives_the_diagnosis_of_its_text(tmp_path: Path) -> None:
    example = REPO / "examples" / "logs" / "npm-eresolve.log"
    _, raw_out, _ = invoke("analyze", "--format", "json", str(example))
    utf16 = tmp_path / "build.log"
    text = example.read_text(encoding="utf-8").replace("\n", "\r\n")
    utf16.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    code, out, _ = invoke("analyze", "--format", "json", str(utf16))
    expected, got = json.loads(raw_out), json.loads(out)
    assert code == 0 and got["lines"] == expected["lines"]
    assert [(f["pattern_id"], f["evidence"]) for f in got["failures"]] == [
        (f["pattern_id"], f["evidence"]) for f in expected["failures"]
    ]


def test_a_damaged_archive_is_a_usage_error(tmp_path: Path) -> None:
    broken = tmp_path / "logs.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    assert run(["analyze", str(broken)]) == 2


def test_a_run_log_archive_piped_in(tmp_path: Path) -> None:
    """``gh api repos/OWNER/REPO/actions/runs/ID/logs | hee-monitor analyze -``"""
    import io
    import zipfile

    example = REPO / "examples" / "logs" / "npm-eresolve.log"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("0_build.txt", example.read_bytes())
    code, out, _ = invoke("analyze", "--format", "json", "-", input=buffer.getvalue())
    row = json.loads(out)
    assert code == 0 and row["log"] == "<stdin>!0_build.txt"
    assert row["failures"][0]["pattern_id"] == "JS-NPM-ERESOLVE"


def test_github_format_annotates_the_run_and_the_source_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = REPO / "examples" / "logs" / "ruff-lint-failure.log"
    (tmp_path / "src" / "billing").mkdir(parents=True)
    (tmp_path / "src" / "billing" / "invoice.py").write_text("import json\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = invoke("analyze", "--format", "github", str(example))
    _, as_json, _ = invoke("analyze", "--format", "json", str(example))
    findings = json.loads(as_json)["failures"]
    lines = out.splitlines()
    assert code == 0 and len(lines) == len(findings)
    first = lines[0]
    assert first.startswith("::warning title=Python lint violations")
    assert ",file=src/billing/invoice.py,line=3::" in first
    assert "%0Asrc/billing/invoice.py:3:8: F401" in first


def test_github_format_cannot_be_made_to_issue_other_commands(tmp_path: Path) -> None:
    """Log text is data: escaped so it never starts a workflow command of its own."""
    log = tmp_path / "job.log"
    log.write_text(
        "ERROR: Could not find a version that satisfies the requirement x==1 %0A::add-mask::"
        "\n::set-output name=x::y\nERROR: No matching distribution found for x==1\n"
    )
    code, out, _ = invoke("analyze", "--format", "github", str(log))
    lines = out.splitlines()
    assert code == 0 and lines
    assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in lines)
    assert "%250A::add-mask::" in out


# --- --baseline: the last green run's log of the same job -----------------------------------

FAILING = (
    "2024-01-01T00:00:00.0000000Z ##[group]Run ./ci.sh\n"
    "2024-01-01T00:00:00.0000000Z ##[endgroup]\n"
    "2024-01-01T00:00:01.0000000Z note: could not reach mirror 2, retrying\n"
    "2024-01-01T00:00:02.0000000Z config mismatch in settings.toml: key timeout\n"
    "2024-01-01T00:00:03.0000000Z note: could not reach mirror 3, retrying\n"
    "2024-01-01T00:00:04.0000000Z ##[error]Process completed with exit code 1.\n"
)
PASSING = (
    "2024-01-02T00:00:00.0000000Z ##[group]Run ./ci.sh\n"
    "2024-01-02T00:00:00.0000000Z ##[endgroup]\n"
    "2024-01-02T00:00:01.0000000Z note: could not reach mirror 1, retrying\n"
    "2024-01-02T00:00:02.0000000Z all checks passed\n"
)


def _root_lines(out: str) -> list[tuple[int, int]]:
    root = json.loads(out)["failures"][0]
    return [(e["start_line"], e["end_line"]) for e in root["evidence"]]


def test_baseline_lines_are_noise(tmp_path: Path) -> None:
    fail = tmp_path / "fail.log"
    fail.write_text(FAILING.replace("config mismatch in settings.toml: key timeout", "done"))
    ok = tmp_path / "pass.log"
    ok.write_text(PASSING)
    _, without, _ = invoke("analyze", "--format", "json", str(fail))
    code, with_baseline, _ = invoke("analyze", "--format", "json", "--baseline", str(ok), str(fail))
    assert code == 0
    # without it the nearest retry note is the best guess; with it, the note is noise
    assert _root_lines(without)[0] == (5, 5)
    assert (5, 5) not in _root_lines(with_baseline)
    assert any("pass.log" in n for n in json.loads(with_baseline)["notes"])


def test_baseline_keeps_the_real_cause_and_several_are_merged(tmp_path: Path) -> None:
    fail = tmp_path / "fail.log"
    fail.write_text(FAILING)
    ok, other = tmp_path / "pass.log", tmp_path / "other.log"
    ok.write_text(PASSING)
    other.write_text("something else entirely\n")
    code, out, _ = invoke(
        "analyze", "--format", "json", "--baseline", str(ok), "--baseline", str(other), str(fail)
    )
    assert code == 0 and _root_lines(out)[0] == (4, 4)


def test_an_unrelated_or_empty_baseline_has_no_effect(tmp_path: Path) -> None:
    fail = tmp_path / "fail.log"
    fail.write_text(FAILING)
    unrelated, empty = tmp_path / "unrelated.log", tmp_path / "empty.log"
    unrelated.write_text("".join(f"compiling module {i}\n" for i in range(50)))
    empty.write_bytes(b"")
    _, plain, _ = invoke("analyze", "--format", "json", str(fail))
    for baseline in (unrelated, empty):
        code, out, _ = invoke("analyze", "--format", "json", "--baseline", str(baseline), str(fail))
        assert code == 0 and _root_lines(out) == _root_lines(plain)
        assert any("ignored" in note for note in json.loads(out)["notes"])


def test_a_missing_or_binary_baseline_is_a_clear_error(tmp_path: Path) -> None:
    fail = tmp_path / "fail.log"
    fail.write_text(FAILING)
    binary = tmp_path / "core.bin"
    binary.write_bytes(bytes(range(256)) * 64)
    from hee_monitor.core.errors import UsageError

    with pytest.raises(UsageError, match=r"baseline log not found: .*nope\.log") as missing:
        invoke("analyze", "--baseline", str(tmp_path / "nope.log"), str(fail))
    assert missing.value.hint and "passing run" in missing.value.hint
    with pytest.raises(UsageError, match=r"core\.bin is not a text log"):
        invoke("analyze", "--baseline", str(binary), str(fail))
