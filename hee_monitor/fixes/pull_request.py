"""Opening the fix's pull request on GitHub (PyGithub is imported here only, in this layer).

:class:`PullRequestPort` is what the engine needs; the GitHub source offers the same
method, and :class:`GitHubPullRequests` is a standalone implementation for runs that have
a token but no monitoring source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from hee_monitor.errors import FixError

DEFAULT_API_URL = "https://api.github.com"


class PullRequestPort(Protocol):
    def open_pull_request(
        self, repo: str, head: str, base: str, title: str, body: str, *, draft: bool = False
    ) -> Any:
        """Open (or find the open) pull request; the result has an ``html_url``."""
        ...


@dataclass(frozen=True)
class OpenedPullRequest:
    number: int
    html_url: str
    head: str
    base: str


class GitHubPullRequests:
    def __init__(self, token: str, api_url: str = DEFAULT_API_URL) -> None:
        from github import Auth, Github

        self._gh = Github(auth=Auth.Token(token), base_url=api_url.rstrip("/"), retry=None)

    def open_pull_request(
        self, repo: str, head: str, base: str, title: str, body: str, *, draft: bool = False
    ) -> OpenedPullRequest:
        from github import GithubException

        try:
            pull = self._gh.get_repo(repo).create_pull(
                base=base, head=head, title=title, body=body, draft=draft
            )
        except GithubException as exc:
            # the token is never part of the message: only status and GitHub's own message
            message = exc.data.get("message") if isinstance(exc.data, dict) else None
            raise FixError(
                f"GitHub refused the pull request {head} → {base} in {repo} "
                f"(HTTP {exc.status}: {message or 'no message'})",
                hint="check that the branch was pushed and the token may open pull requests",
            ) from None
        except OSError as exc:
            raise FixError(
                f"cannot reach GitHub to open the pull request in {repo} ({exc})"
            ) from None
        return OpenedPullRequest(pull.number, pull.html_url, head, base)
