from __future__ import annotations

import pytest

from hee_monitor.action.fixes.strategies.interface import FixContext
from hee_monitor.action.fixes.strategies.license_header import LicenseHeaderStrategy, add_header
from hee_monitor.core.errors import FixError
from tests.action.fixes.conftest import Repo


def test_adds_the_spdx_header_of_the_license_file_after_shebang(repo: Repo) -> None:
    repo.write("LICENSE", "                                 Apache License\n Version 2.0\n")
    repo.write("tool.py", "#!/usr/bin/env python3\nprint(1)\n", mode=0o755)
    repo.write("lib/a.js", "export const a = 1;\n")
    repo.write("has.py", "# SPDX-License-Identifier: Apache-2.0\nx = 1\n")
    repo.write("README.md", "# readme\n")
    ctx = FixContext(repo=repo.path, env=repo.env)
    strategy = LicenseHeaderStrategy()
    plan = strategy.plan(ctx)
    assert plan.files == ("lib/a.js", "tool.py")
    (check,) = plan.validation
    assert not check.run(repo.path).passed
    strategy.apply(ctx)
    assert check.run(repo.path).passed
    assert (repo.path / "tool.py").read_text() == (
        "#!/usr/bin/env python3\n# SPDX-License-Identifier: Apache-2.0\nprint(1)\n"
    )
    assert (repo.path / "tool.py").stat().st_mode & 0o777 == 0o755
    assert (
        (repo.path / "lib/a.js").read_text().startswith("// SPDX-License-Identifier: Apache-2.0\n")
    )
    assert (repo.path / "has.py").read_text() == "# SPDX-License-Identifier: Apache-2.0\nx = 1\n"


def test_configured_header_and_crlf_files(repo: Repo) -> None:
    assert add_header("a\r\nb\r\n", "Copyright ACME", "# ") == "# Copyright ACME\r\na\r\nb\r\n"
    ctx = FixContext(repo=repo.path, settings={"license_header": "Copyright ACME"})
    repo.write("a.py", "x = 1\n")
    LicenseHeaderStrategy().apply(ctx)
    assert (repo.path / "a.py").read_text() == "# Copyright ACME\nx = 1\n"


def test_without_license_or_configuration_it_says_what_to_set(repo: Repo) -> None:
    with pytest.raises(FixError, match="no license header") as info:
        LicenseHeaderStrategy().plan(FixContext(repo=repo.path))
    assert info.value.hint == "set fixes.license_header in the repository configuration"
