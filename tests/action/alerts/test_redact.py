from __future__ import annotations

from hee_monitor.action.alerts.redact import MASK, Scrubber, mask_url, url_secrets


def test_masked_urls_keep_scheme_and_host_only() -> None:
    assert mask_url("mailtos://bot:pw123456@mail.example.org:587/?to=a@b.org") == (
        "mailtos://****@mail.example.org:587?****"
    )
    assert mask_url("json://127.0.0.1:8080/hooks/abcdef123") == "json://127.0.0.1:8080/****"
    # slack:// keeps its team token where a host would be
    assert mask_url("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnl") == "slack://****/****"


def test_scrubber_removes_urls_their_parts_and_token_shapes() -> None:
    url = "jsons://user:hunter2hunter2@hooks.example.org/path/tok3n-abcdef?key=v4lue-xyz123"
    scrub = Scrubber()
    scrub.add_url(url)
    text = (
        f"POST {url} failed; password hunter2hunter2, token tok3n-abcdef, key v4lue-xyz123, "
        "gh token ghp_abcdefghijklmnopqrstuvwxyz0123456789 and xoxb-1234567890-abcdef"
    )
    cleaned = scrub(text)
    for secret in ("hunter2hunter2", "tok3n-abcdef", "v4lue-xyz123", "ghp_", "xoxb-", url):
        assert secret not in cleaned
    assert cleaned.count(MASK) >= 6
    assert "failed; password" in cleaned


def test_short_common_parts_are_not_treated_as_secrets() -> None:
    secrets = url_secrets("json://127.0.0.1:8080/api/v1/abcdef123456")
    assert "api" not in secrets and "v1" not in secrets
    assert "abcdef123456" in secrets


def test_query_options_are_not_secrets_but_credentials_are() -> None:
    secrets = url_secrets(
        "mailto://u:pw-123456@example.org?smtp=mail.example.org&port=2525&mode=insecure"
        "&to=oncall@acme.org&apikey=k3y-abcdefgh&x=Zq7s8d9f0g1h2j3k"
    )
    assert "mail.example.org" not in secrets and "oncall@acme.org" not in secrets
    assert "k3y-abcdefgh" in secrets and "Zq7s8d9f0g1h2j3k" in secrets
