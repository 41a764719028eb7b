from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from hee_monitor.cli import run
from hee_monitor.record.db import open_engine
from hee_monitor.record.schema import decisions


def test_a_read_only_open_of_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state/hee.db"
    engine = open_engine(url, read_only=True)
    assert decisions.name in inspect(engine).get_table_names()  # an empty store to query
    assert not (tmp_path / "state").exists()
    open_engine(url)  # a writer creates it
    assert (tmp_path / "state" / "hee.db").is_file()
    assert open_engine(url, read_only=True).url.database == f"{tmp_path}/state/hee.db"


@pytest.mark.parametrize(
    "command",
    [
        ["metrics"],
        ["audit", "query"],
        ["audit", "transitions"],
        ["approvals", "list"],
        ["silence", "list"],
        ["escalation", "status"],
        ["state", "show"],
    ],
)
def test_commands_that_only_show_leave_no_file_behind(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HEE_CONFIG", "HEE_DATABASE_URL", "HEE_SIGNING_KEY", "HEE_REPOS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    assert run(command) == 0
    assert list(tmp_path.iterdir()) == []
