"""GitHub App authentication: the app's id and private key, its installations, and one
short-lived installation token per installation.

Organisations install tools as GitHub Apps: no personal token, a rate limit per installation
(5,000 an hour and up, scaling with the organisation), tokens that live an hour. All of it is
PyGithub's: :class:`github.Auth.AppAuth` signs the app's JWT (RS256 through PyJWT),
:class:`github.GithubIntegration` lists the installations, and
:class:`github.Auth.AppInstallationAuth` fetches an installation token and fetches a new one
when the current one is within 20 seconds of its ``expires_at`` (PyGithub's
``TOKEN_REFRESH_THRESHOLD_TIMEDELTA``), so a long-running ``serve`` never sends an expired
token. Each installation gets its own :class:`github.Github` client, hence its own
``rate_limiting`` (the limits are tracked per installation).

Configuration (the key is never logged nor part of an error):

* ``HEE_GITHUB_APP_ID``: the app's numeric id;
* ``HEE_GITHUB_APP_PRIVATE_KEY`` (the PEM text) or ``HEE_GITHUB_APP_PRIVATE_KEY_FILE`` (a path
  to the ``.pem`` GitHub let you download);
* optionally ``HEE_GITHUB_APP_INSTALLATION_ID`` to use one installation for every repository.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from github import Auth, Github, GithubException, GithubIntegration, GithubRetry

from hee_monitor.core.errors import ConfigError, SourceError

APP_ID_ENV: Final = "HEE_GITHUB_APP_ID"
KEY_ENV: Final = "HEE_GITHUB_APP_PRIVATE_KEY"
KEY_FILE_ENV: Final = "HEE_GITHUB_APP_PRIVATE_KEY_FILE"
INSTALLATION_ENV: Final = "HEE_GITHUB_APP_INSTALLATION_ID"
_KEY_HINT: Final = (
    f"set {KEY_ENV} to the PEM text or {KEY_FILE_ENV} to the .pem file GitHub gave you "
    "(App settings → Private keys)"
)


@dataclass(frozen=True)
class AppCredentials:
    """A GitHub App's id and private key (the key is kept out of ``repr``)."""

    app_id: int
    private_key: str = field(repr=False)
    installation_id: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AppCredentials | None:
        """The credentials the environment names; None when no app id is set. Raises
        :class:`ConfigError` (what is wrong and how to fix it) for a half or bad setting."""
        env = os.environ if env is None else env
        raw_id = env.get(APP_ID_ENV, "").strip()
        key_text = env.get(KEY_ENV, "")
        key_file = env.get(KEY_FILE_ENV, "").strip()
        if not raw_id:
            if key_text or key_file:
                raise ConfigError(
                    f"a GitHub App private key is set but {APP_ID_ENV} is not",
                    hint=f"set {APP_ID_ENV} to the app's numeric id (App settings → About)",
                )
            return None
        if not raw_id.isdigit():
            raise ConfigError(
                f"{APP_ID_ENV}={raw_id!r} is not a number",
                hint="use the numeric App ID from the app's settings page, not its name",
            )
        if key_text and key_file:
            raise ConfigError(f"both {KEY_ENV} and {KEY_FILE_ENV} are set", hint="set one")
        if key_file:
            path = Path(key_file).expanduser()
            try:
                key_text = path.read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    f"{KEY_FILE_ENV}: cannot read {path}: {type(exc).__name__}", hint=_KEY_HINT
                ) from None
        if not key_text.strip():
            raise ConfigError(f"{APP_ID_ENV} is set but no private key", hint=_KEY_HINT)
        key_text = key_text.replace("\\n", "\n").strip() + "\n"
        if "-----BEGIN" not in key_text or "PRIVATE KEY-----" not in key_text:
            raise ConfigError("the GitHub App private key is not a PEM private key",
                              hint=_KEY_HINT)  # fmt: skip
        _check_key(key_text)
        raw_installation = env.get(INSTALLATION_ENV, "").strip()
        if raw_installation and not raw_installation.isdigit():
            raise ConfigError(
                f"{INSTALLATION_ENV}={raw_installation!r} is not a number",
                hint="leave it unset to discover the installations",
            )
        return cls(int(raw_id), key_text, int(raw_installation) if raw_installation else None)


def _check_key(pem: str) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError(
            "the GitHub App private key cannot be loaded (damaged, or protected by a passphrase)",
            hint=_KEY_HINT,
        ) from None


@dataclass(frozen=True)
class Installation:
    """One installation of the app, as GitHub lists it."""

    id: int
    account: str
    permissions: Mapping[str, str]
    repository_selection: str


class GitHubApp:
    """The app's installations and one PyGithub client per installation."""

    def __init__(
        self,
        credentials: AppCredentials,
        *,
        api_url: str,
        retry: GithubRetry | None = None,
        timeout: int = 30,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.credentials = credentials
        self.api_url = api_url
        self._app_auth = Auth.AppAuth(credentials.app_id, credentials.private_key)
        self._retry = retry
        self._timeout = timeout
        self._options = dict(client_options or {})
        self._integration = GithubIntegration(
            auth=self._app_auth, base_url=api_url, timeout=timeout, retry=retry
        )
        self._lock = threading.Lock()
        self._installations: tuple[Installation, ...] | None = None
        self._clients: dict[int, Github] = {}

    def installations(self, *, refresh: bool = False) -> tuple[Installation, ...]:
        """``GET /app/installations`` (cached; ``refresh`` reads it again)."""
        with self._lock:
            if self._installations is None or refresh:
                try:
                    found = [
                        Installation(
                            id=int(item.id),
                            account=str(item.raw_data.get("account", {}).get("login", "")),
                            permissions=dict(item.raw_data.get("permissions") or {}),
                            repository_selection=str(item.raw_data.get("repository_selection", "")),
                        )
                        for item in self._integration.get_installations()
                    ]
                except GithubException as exc:
                    raise SourceError(
                        f"GitHub did not list the app's installations (HTTP {exc.status})",
                        hint="check HEE_GITHUB_APP_ID and that the private key is the app's "
                        "current one (App settings → Private keys)",
                    ) from None
                self._installations = tuple(found)
            return self._installations

    def installation_for(self, repo: str) -> Installation:
        """The installation that covers ``repo`` (``owner/name``): the configured one, or
        the installation on the repository's owner."""
        owner = repo.split("/", 1)[0].lower()
        wanted = self.credentials.installation_id
        for item in self.installations():
            if (wanted is not None and item.id == wanted) or (
                wanted is None and item.account.lower() == owner
            ):
                return item
        accounts = ", ".join(sorted(i.account for i in self.installations())) or "none"
        raise SourceError(
            f"the GitHub App is not installed on {owner} (installed on: {accounts})",
            hint=f"install the app on {owner} (App settings → Install App), or stop watching "
            f"{repo}",
        )

    def client(self, repo: str) -> Github:
        """The PyGithub client of ``repo``'s installation (one per installation, reused)."""
        installation = self.installation_for(repo)
        with self._lock:
            client = self._clients.get(installation.id)
            if client is None:
                client = Github(
                    auth=Auth.AppInstallationAuth(self._app_auth, installation.id),
                    base_url=self.api_url,
                    timeout=self._timeout,
                    retry=self._retry,
                    **self._options,
                )
                self._clients[installation.id] = client
            return client

    def clients(self) -> dict[int, Github]:
        with self._lock:
            return dict(self._clients)

    def rate_limits(self) -> dict[int, tuple[int, int]]:
        """(remaining, limit) per installation, as its last answer said (-1: not known)."""
        return {iid: gh.requester.rate_limiting for iid, gh in self.clients().items()}

    def close(self) -> None:
        for client in self.clients().values():
            client.close()
        self._integration.close()


#: what each feature needs of an app installation (GitHub's permission names)
FEATURE_PERMISSIONS: Final[dict[str, dict[str, str]]] = {
    "monitor": {"actions": "read", "metadata": "read"},
    "artifacts": {"actions": "read"},
    "rerun": {"actions": "write"},
    "escalation": {"issues": "write"},
    "codeowners": {"contents": "read"},
    "fixes": {"contents": "write", "pull_requests": "write", "workflows": "write"},
}
#: permissions no feature needs and that make a leaked key costly
BROAD_PERMISSIONS: Final = frozenset(
    {"administration", "members", "organization_administration", "secrets",
     "organization_secrets", "environments", "deployments", "repository_hooks",
     "organization_hooks", "security_events"}
)  # fmt: skip
_LEVEL: Final = {"read": 1, "write": 2, "admin": 3}


def missing_permissions(
    granted: Mapping[str, str], features: Sequence[str]
) -> dict[str, list[str]]:
    """feature → the permissions (``name: level``) the installation lacks for it."""
    out: dict[str, list[str]] = {}
    for feature in features:
        for name, level in FEATURE_PERMISSIONS.get(feature, {}).items():
            if _LEVEL.get(granted.get(name, ""), 0) < _LEVEL[level]:
                out.setdefault(feature, []).append(f"{name}: {level}")
    return out


def broad_permissions(granted: Mapping[str, str], features: Sequence[str]) -> list[str]:
    needed = {n for f in features for n in FEATURE_PERMISSIONS.get(f, {})}
    return sorted(
        f"{name}: {level}"
        for name, level in granted.items()
        if name in BROAD_PERMISSIONS and name not in needed
    )
