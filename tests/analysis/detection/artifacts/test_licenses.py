from __future__ import annotations

import pytest

from hee_monitor.analysis.detection.artifacts.licenses import normalise, verdict
from hee_monitor.analysis.detection.settings import DetectionSettings


@pytest.mark.parametrize(
    "names",
    [
        (
            "GPL-3.0",
            "GPL-3.0-only",
            "gpl-3.0-or-later",
            "GPL-3.0+",
            "GNU General Public License v3 (GPLv3)",
        ),
        ("LGPL-2.1-only", "LGPL-2.1-or-later", "lgpl-2.1"),
        ("AGPL-3.0-only", "GNU Affero General Public License v3"),
        ("Apache-2.0", "Apache Software License", "Apache 2.0"),
        ("MIT", "MIT License", "mit*"),
    ],
)
def test_every_way_of_stating_one_license_has_one_key(names: tuple[str, ...]) -> None:
    assert len({normalise(n) for n in names}) == 1, {n: normalise(n) for n in names}


def test_different_versions_stay_different() -> None:
    assert normalise("GPL-2.0-only") != normalise("GPL-3.0-only")
    assert normalise("MPL-2.0") != normalise("MPL-1.1")


def test_an_spdx_deny_list_catches_the_trove_classifier() -> None:
    settings = DetectionSettings(licenses_deny=("GPL-3.0-only",))
    assert verdict("GNU General Public License v3 (GPLv3)", settings) == "denied: gpl-3.0"
    assert verdict("GPL-3.0-or-later", settings) == "denied: gpl-3.0"
    assert verdict("MIT OR GPL-3.0-or-later", settings) is None  # MIT may be chosen
    assert verdict("GPL-2.0-only", settings) is None
