"""GitHub App authentication over HTTP: PyGithub's real JWT and installation-token flow
against the loopback fake, which checks the JWT with the app's public key."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth

from hee_monitor.core.errors import ConfigError
from hee_monitor.core.models import FailedRun
from hee_monitor.sources.github.app import (
    AppCredentials,
    broad_permissions,
    missing_permissions,
)
from hee_monitor.sources.github.source import GitHubSource
from tests.fakes.github import GitHubFake

APP_ID = 424242


def _key() -> tuple[str, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


KEY, PUBLIC = _key()
OTHER_KEY, _ = _key()


@pytest.fixture
def app_fake() -> Iterator[GitHubFake]:
    with GitHubFake() as fake:
        fake.enable_app(APP_ID, PUBLIC, {"acme": 11, "octo": 22}, token_lifetime=3600)
        yield fake


def _source(fake: GitHubFake, repos: list[str], key: str = KEY) -> GitHubSource:
    return GitHubSource(
        repos,
        api_url=fake.url,
        app=AppCredentials(APP_ID, key),
        since=fake.clock.now() - timedelta(days=1),
        write_interval=None,
        retry=None,
    )


def _failed(items: object) -> list[FailedRun]:
    return [i for i in items if isinstance(i, FailedRun)]  # type: ignore[attr-defined]


def test_polls_each_repository_with_its_installations_token(app_fake: GitHubFake) -> None:
    app_fake.add_run("acme/api")
    app_fake.add_run("octo/web")
    with _source(app_fake, ["acme/api", "octo/web"]) as source:
        runs = _failed(source.poll())
        assert sorted(r.repo for r in runs) == ["acme/api", "octo/web"]
        assert source.app is not None
        assert [i.account for i in source.app.installations()] == ["acme", "octo"]
        # one token per installation, each installation's calls made with its own token,
        # and a rate limit known per installation
        assert app_fake.app_tokens_issued == {11: 1, 22: 1}
        assert set(app_fake.app_requests) == {11, 22}
        limits = source.app.rate_limits()
        assert set(limits) == {11, 22}
        assert all(remaining >= 0 for remaining, _limit in limits.values())
        # no personal token was ever sent
        assert all(r.authorized for r in app_fake.requests)


def test_a_token_about_to_expire_is_refreshed_before_use() -> None:
    with GitHubFake() as fake:
        # 21 s: PyGithub fetches a new token once the current one is within 20 s of expiry
        fake.enable_app(APP_ID, PUBLIC, {"acme": 11}, token_lifetime=21)
        fake.add_run("acme/api")
        with _source(fake, ["acme/api"]) as source:
            assert len(_failed(source.poll())) == 1
            assert fake.app_tokens_issued == {11: 1}
            time.sleep(1.2)
            fake.add_run("acme/api")
            assert len(_failed(source.poll())) == 1
            assert fake.app_tokens_issued == {11: 2}
            assert not [r for r in fake.requests if r.status == 401]


def test_the_fake_rejects_an_expired_installation_token_and_a_foreign_jwt() -> None:
    with GitHubFake() as fake:
        fake.enable_app(APP_ID, PUBLIC, {"acme": 11}, token_lifetime=0.3)
        fake.add_repo("acme/api")
        jwt_token = Auth.AppAuth(APP_ID, KEY).token
        issued = _call(fake.url + "/app/installations/11/access_tokens", jwt_token, "POST")
        assert issued[0] == 201
        token = issued[1]["token"]
        assert _call(fake.url + "/repos/acme/api", token)[0] == 200
        time.sleep(0.4)
        assert _call(fake.url + "/repos/acme/api", token)[0] == 401
        foreign = Auth.AppAuth(APP_ID, OTHER_KEY).token
        assert _call(fake.url + "/app/installations", foreign)[0] == 401


def test_a_repository_of_an_account_without_the_app_is_skipped_with_a_hint(
    app_fake: GitHubFake,
) -> None:
    app_fake.add_run("acme/api")
    app_fake.add_repo("elsewhere/lib")
    with _source(app_fake, ["acme/api", "elsewhere/lib"]) as source:
        items = list(source.poll())
    skipped = [i for i in items if not isinstance(i, FailedRun)]
    assert len(_failed(items)) == 1
    assert len(skipped) == 1
    assert "not installed on elsewhere" in str(skipped[0])


def test_a_wrong_private_key_is_a_clear_error(app_fake: GitHubFake) -> None:
    app_fake.add_run("acme/api")
    with _source(app_fake, ["acme/api"], key=OTHER_KEY) as source:
        assert source.app is not None
        with pytest.raises(Exception, match="did not list the app's installations"):
            source.app.installations()


def test_credentials_from_env_and_file(tmp_path: Path) -> None:
    assert AppCredentials.from_env({}) is None
    pem = tmp_path / "app.pem"
    pem.write_text(KEY)
    from_file = AppCredentials.from_env(
        {"HEE_GITHUB_APP_ID": "42", "HEE_GITHUB_APP_PRIVATE_KEY_FILE": str(pem)}
    )
    assert from_file is not None and from_file.app_id == 42
    # a key pasted into one line with \n escapes, as CI secret stores often hold it
    one_line = KEY.strip().replace("\n", "\\n")
    from_env = AppCredentials.from_env(
        {"HEE_GITHUB_APP_ID": "42", "HEE_GITHUB_APP_PRIVATE_KEY": one_line}
    )
    assert from_env == from_file
    assert "PRIVATE" not in repr(from_env)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HEE_GITHUB_APP_PRIVATE_KEY": KEY}, "HEE_GITHUB_APP_ID is not"),
        ({"HEE_GITHUB_APP_ID": "my-app", "HEE_GITHUB_APP_PRIVATE_KEY": KEY}, "not a number"),
        ({"HEE_GITHUB_APP_ID": "1"}, "no private key"),
        ({"HEE_GITHUB_APP_ID": "1", "HEE_GITHUB_APP_PRIVATE_KEY": "hello"}, "not a PEM"),
        ({"HEE_GITHUB_APP_ID": "1", "HEE_GITHUB_APP_PRIVATE_KEY_FILE": "/nonexistent.pem"},
         "cannot read"),
    ],
)  # fmt: skip
def test_bad_app_settings_say_what_to_do(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        AppCredentials.from_env(env)
    assert "BEGIN" not in str(caught.value)


def test_permissions_against_features() -> None:
    granted = {"actions": "read", "metadata": "read", "administration": "write"}
    assert missing_permissions(granted, ["monitor"]) == {}
    assert missing_permissions(granted, ["monitor", "rerun", "escalation"]) == {
        "rerun": ["actions: write"],
        "escalation": ["issues: write"],
    }
    assert broad_permissions(granted, ["monitor"]) == ["administration: write"]


def _call(url: str, token: str, method: str = "GET") -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(
        url, method=method, headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}
