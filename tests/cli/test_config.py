from __future__ import annotations

from pathlib import Path

import pytest

from hee_monitor.cli import run


@pytest.fixture(autouse=True)
def _no_outside_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("HEE_CONFIG", "HEE_LLM", "OLLAMA_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('[[alerts.inhibit]]\nsource_severity = "urgent"\n', "[[alerts.inhibit]] #1: source_sev"),
        ('[alerts.matrix.critical]\nchannels = ["pager"]\n', "names channel(s) pager"),
        ('[alerts]\nrepeat_interval = "soon"\n', "repeat_interval"),
        ('[repos."octo/app"]\nalert_channels = ["pager"]\n', "alert_channels names channel"),
        ('[llm]\ntimeout = "x"\n', "[llm] timeout"),
    ],
)
def test_check_reads_the_alerts_and_llm_sections_as_the_monitor_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, words: str
) -> None:
    path = tmp_path / "hee-monitor.toml"
    path.write_text(toml, encoding="utf-8")
    assert run(["config", "check", str(path)]) == 2
    assert words in capsys.readouterr().err


def test_check_accepts_inhibit_rules_and_creates_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hee-monitor.toml"
    path.write_text(
        '[[alerts.inhibit]]\nsource_patterns = ["NET-*"]\nwindow = "2h"\n', encoding="utf-8"
    )
    assert run(["config", "check", str(path)]) == 0
    assert capsys.readouterr().out.startswith("ok: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hee-monitor.toml"]


def test_check_reports_the_problems_of_every_section_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hee-monitor.toml"
    path.write_text('[alerts]\nrepeat = "1h"\n\n[llm]\nmodle = "x"\n', encoding="utf-8")
    assert run(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "2 problems:" in err
    assert "[alerts]: unknown key(s) repeat" in err and "modle" in err
