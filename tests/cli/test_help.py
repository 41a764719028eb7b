"""Every command's ``--help`` teaches: what it is for, then an Examples block."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest

from hee_monitor.cli import COMMANDS, cli, run

#: leaf commands whose help does not have examples yet; remove a name once it has them
WITHOUT_EXAMPLES_YET: frozenset[str] = frozenset()


def _walk(command: click.Command, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], bool]]:
    """(path, is_leaf) for the command and, recursively, every subcommand of a group."""
    if isinstance(command, click.Group):
        yield path, False
        ctx = click.Context(command, info_name=path[-1] if path else "hee-monitor")
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            assert sub is not None, f"{' '.join(path)} lists {name!r} but cannot load it"
            yield from _walk(sub, (*path, name))
    else:
        yield path, True


def _all_commands() -> list[tuple[tuple[str, ...], bool]]:
    return [entry for entry in _walk(cli, ()) if entry[0]]


def test_walk_reaches_every_registered_command() -> None:
    top = {path[0] for path, _ in _all_commands()}
    assert top == set(COMMANDS)
    # groups are walked into: at least one nested subcommand per group module
    assert ("capsule", "keygen") in {path for path, _ in _all_commands()}


@pytest.mark.parametrize(
    ("path", "leaf"), _all_commands(), ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_help_exits_0_and_leaf_commands_show_examples(
    path: tuple[str, ...], leaf: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run([*path, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Usage: hee-monitor {' '.join(path)}")
    if leaf and " ".join(path) not in WITHOUT_EXAMPLES_YET:
        assert "Examples:" in out, f"hee-monitor {' '.join(path)} --help has no Examples block"
        examples = out.split("Examples:", 1)[1]
        assert f"hee-monitor {path[0]}" in examples, "examples should show real invocations"
