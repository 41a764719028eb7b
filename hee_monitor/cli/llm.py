"""``hee-monitor llm check``: is the local model ready for the fallback?"""

from __future__ import annotations

import click

from hee_monitor.analysis.llm import DEFAULT_MODEL, LlmSettings, OllamaClassifier


@click.group("llm")
def llm() -> None:
    """The local LLM fallback (Ollama) for logs no pattern explains.

    \b
    Examples:
      hee-monitor llm check                           is Ollama up, is the model pulled?
      hee-monitor llm check --model qwen2.5 --host http://gpu-box:11434
    """


@llm.command("check")
@click.option("--host", envvar="OLLAMA_HOST", help="Ollama server [default: 127.0.0.1:11434].")
@click.option("--model", default=DEFAULT_MODEL, show_default=True)
@click.option("--timeout", type=float, default=10.0, show_default=True)
def check(host: str | None, model: str, timeout: float) -> int:
    """Check that Ollama answers and the model is pulled before turning the fallback on.

    \b
    Examples:
      hee-monitor llm check                           local server, default model
      hee-monitor llm check --model qwen2.5           another model
      OLLAMA_HOST=http://gpu-box:11434 hee-monitor llm check --timeout 30

    Exit codes: 0 ready, 1 not reachable or model not pulled. Reads $OLLAMA_HOST.
    """
    settings = LlmSettings.from_mapping({"host": host, "model": model, "timeout": timeout})
    status = OllamaClassifier.from_settings(settings).check()
    if not status.reachable:
        click.echo(f"Ollama at {status.host}: not reachable: {status.problem}")
        click.echo("hint: start it with `ollama serve`, or set OLLAMA_HOST / [llm] host", err=True)
        return 1
    click.echo(f"Ollama at {status.host}: reachable, {len(status.models)} model(s)")
    if not status.model_present:
        click.echo(f"model {status.model}: not pulled (have: {', '.join(status.models) or '-'})")
        click.echo(f"hint: ollama pull {status.model}", err=True)
        return 1
    click.echo(f"model {status.model}: ready")
    return 0
