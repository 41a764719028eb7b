"""The pull-request port of the fix engine.

The engine pushes the fix branch with git and then asks a :class:`PullRequestPort` to open
the pull request. The GitHub source (``hee_monitor.sources.github.source.GitHubSource``, the only
module that talks to GitHub) implements it; this module holds no GitHub client of its own.
"""

from __future__ import annotations

from typing import Any, Protocol


class PullRequestPort(Protocol):
    def open_pull_request(
        self, repo: str, head: str, base: str, title: str, body: str, *, draft: bool = False
    ) -> Any:
        """Open (or find the open) pull request; the result has an ``html_url``."""
        ...
