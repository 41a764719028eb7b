"""A feature whose extra is not installed says which extra to install."""

from __future__ import annotations

import sys

import pytest

from hee_monitor.core.errors import MissingExtraError, require_extra


def test_a_missing_module_names_the_extra_and_the_pip_command() -> None:
    with pytest.raises(MissingExtraError) as info:
        require_extra("hee_no_such_module", "llm", "the local-model fallback (--llm)")
    assert info.value.exit_code == 2
    assert "needs the optional 'llm' extra" in info.value.message
    assert info.value.hint is not None and "pip install 'hee-monitor[llm]'" in info.value.hint


def test_the_llm_fallback_without_the_ollama_client_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hee_monitor.analysis.llm import OllamaClassifier

    monkeypatch.setitem(sys.modules, "ollama", None)  # as if the [llm] extra were missing
    with pytest.raises(MissingExtraError, match=r"'llm' extra \(ollama is not installed\)"):
        OllamaClassifier()


def test_analyze_llm_without_the_extra_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    from pathlib import Path

    from hee_monitor.cli import run

    log = Path(str(tmp_path)) / "job.log"
    log.write_text("something odd happened\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "ollama", None)
    assert run(["analyze", "--llm", str(log)]) == 2
    err = capsys.readouterr().err
    assert "needs the optional 'llm' extra" in err
    assert "pip install 'hee-monitor[llm]'" in err


def test_ollama_host_alone_does_not_demand_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from hee_monitor.analysis.llm_switch import fallback_wanted

    env = {"OLLAMA_HOST": "http://127.0.0.1:11434"}
    assert fallback_wanted(None, None, env) is True  # the extra is installed here
    monkeypatch.setitem(sys.modules, "ollama", None)
    assert fallback_wanted(None, None, env) is False
    assert fallback_wanted({"model": "llama3.2"}, None, env) is True  # configured: asked for
    assert fallback_wanted(None, True, {}) is True
