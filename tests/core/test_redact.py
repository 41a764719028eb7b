from __future__ import annotations

import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hee_monitor.core.redact import PLACEHOLDER, redact, redact_lines

ALNUM = string.ascii_letters + string.digits
# ordinary log text: anything printable, newlines and some unicode
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)


def _token(prefix: str, alphabet: str, size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=size, max_size=size + 10).map(
        lambda body: prefix + body
    )


JWT_PART = ALNUM + "_-"
SECRETS: dict[str, st.SearchStrategy[tuple[str, str]]] = {
    # (what is written into the log, the secret that must disappear)
    "github": st.sampled_from(["ghp_", "gho_", "ghs_", "ghu_", "ghr_"]).flatmap(
        lambda p: _token(p, ALNUM, 36).map(lambda t: (t, t))
    ),
    "github_pat": _token("github_pat_", ALNUM + "_", 60).map(lambda t: (t, t)),
    "aws": _token("AKIA", string.ascii_uppercase + string.digits, 16).map(
        lambda t: (t[:20], t[:20])
    ),
    "slack": st.sampled_from(["xoxb-", "xoxp-", "xoxa-"]).flatmap(
        lambda p: _token(p, ALNUM + "-", 20).map(lambda t: (t, t))
    ),
    "jwt": st.tuples(
        st.text(JWT_PART, min_size=8, max_size=30),
        st.text(JWT_PART, min_size=8, max_size=30),
        st.text(JWT_PART, min_size=8, max_size=30),
    ).map(lambda p: (f"eyJ{p[0]}.eyJ{p[1]}.{p[2]}", f"eyJ{p[0]}.eyJ{p[1]}.{p[2]}")),
    "key_value": st.tuples(
        st.sampled_from(
            ["token", "password", "DB_PASSWORD", "secret", "api_key", "API-KEY", "client_secret"]
        ),
        st.sampled_from(["=", ": ", " = ", '": "', "='"]),
        st.text(ALNUM + "!@#$%^*()_+-./~", min_size=8, max_size=30),
    ).map(lambda p: (f"{p[0]}{p[1]}{p[2]}", p[2])),
    "bearer": st.text(ALNUM + "._-", min_size=12, max_size=40).map(
        lambda t: (f"Authorization: Bearer {t}", t)
    ),
    "basic": st.text(ALNUM + "+/", min_size=12, max_size=40).map(
        lambda t: (f"Basic {t}1==", f"{t}1==")
    ),
    "url_credentials": st.tuples(
        st.text(ALNUM, min_size=3, max_size=10), st.text(ALNUM + "!$%*", min_size=8, max_size=20)
    ).map(lambda p: (f"https://{p[0]}:{p[1]}@example.org/repo.git", f"{p[0]}:{p[1]}")),
    "email": st.tuples(
        st.text(ALNUM + "._+", min_size=3, max_size=12), st.text(string.ascii_lowercase, min_size=3)
    ).map(lambda p: (f"{p[0]}@{p[1]}.com", f"{p[0]}@{p[1]}.com")),
    "private_key": st.text(ALNUM + "+/=\n", min_size=20, max_size=200).map(
        lambda body: (
            f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----",
            body,
        )
    ),
}


@pytest.mark.parametrize("kind", sorted(SECRETS))
@settings(max_examples=60, deadline=None)
@given(data=st.data(), prefix=TEXT, suffix=TEXT)
def test_a_secret_anywhere_in_text_never_survives(
    kind: str, data: st.DataObject, prefix: str, suffix: str
) -> None:
    written, secret = data.draw(SECRETS[kind])
    # a secret that also occurs in the surrounding text by chance is not this test's case
    assume(secret not in prefix and secret not in suffix and secret.strip())
    # separate the token from the random text only by what a log may put there
    text = prefix + data.draw(st.sampled_from(["", " ", "\n", "="])) + written + " " + suffix
    out = redact(text)
    if kind == "private_key":
        for line in secret.splitlines():
            if len(line) >= 8:
                assert line not in out
    else:
        assert secret not in out
    assert PLACEHOLDER in out


@settings(max_examples=150, deadline=None)
@given(
    prefix=TEXT,
    suffix=TEXT,
    secret=st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=6, max_size=40
    ),
)
def test_a_configured_secret_never_survives(prefix: str, suffix: str, secret: str) -> None:
    assume(secret not in PLACEHOLDER and "[" not in secret and "]" not in secret)
    out = redact(prefix + secret + suffix, extra_secrets=["unrelated-value", secret])
    assert secret not in out


@settings(max_examples=150, deadline=None)
@given(st.lists(TEXT, max_size=12))
def test_line_count_is_preserved(lines: list[str]) -> None:
    assert len(redact_lines(lines, extra_secrets=["hunter22"])) == len(lines)


@given(TEXT)
@settings(max_examples=150, deadline=None)
def test_text_without_secrets_is_unchanged_or_only_loses_secret_shapes(text: str) -> None:
    out = redact(text)
    # redaction only ever replaces: what is left of the text appears in order
    pieces = [p for p in out.split(PLACEHOLDER) if p]
    pos = 0
    for piece in pieces:
        found = text.find(piece, pos)
        assert found >= 0
        pos = found + len(piece)


@pytest.mark.parametrize(
    ("line", "kept", "gone"),
    [
        (
            "remote: Invalid username or password for user@corp.example",
            "remote: Invalid",
            "user@corp.example",
        ),
        (
            "git clone https://x-access-token:ghs_abc@github.com/o/r",
            "git clone https://",
            "ghs_abc",
        ),
        (
            "curl -H 'Authorization: token ghp_0123456789abcdefghij0123456789abcdef'",
            "curl -H",
            "ghp_0123",
        ),
        ("export POSTGRES_PASSWORD=s3cr3t-Value", "export POSTGRES_PASSWORD=", "s3cr3t-Value"),
        ('{"api_key": "sk-live-123456"}', '{"api_key": "', "sk-live-123456"),
        (
            "POST https://hooks.slack.com/services/T000/B000/XXXX failed",
            "hooks.slack.com",
            "T000/B000",
        ),
        ("error: failed to push to git@github.com:org/repo.git", "git@github.com", "\x00"),
        (
            "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE region=us-east-1",
            "region=us-east-1",
            "AKIAIOSFODNN7EXAMPLE",
        ),
        (
            "npm ERR! 404 Not Found - GET https://registry.npmjs.org/left-pad",
            "npm ERR! 404 Not Found",
            "\x00",
        ),
    ],
)
def test_real_log_lines(line: str, kept: str, gone: str) -> None:
    out = redact(line)
    assert kept in out
    assert gone not in out


def test_private_key_block_cut_off_by_the_excerpt_is_still_removed() -> None:
    lines = [
        "step 1",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXktdjEAAAAA",
        "AAAABG5vbmU",
    ]
    out = redact_lines(lines)
    assert out[0] == "step 1"
    assert out[1:] == [PLACEHOLDER] * 3


def test_short_configured_values_are_ignored_to_keep_the_log_readable() -> None:
    assert redact("the cat sat", extra_secrets=["cat", ""]) == "the cat sat"


def test_a_value_that_starts_another_key_does_not_shield_the_next_value() -> None:
    # found by hypothesis: the first key's value ("token:") used to swallow the second key
    out = redact("TOKEN=token: 00000000")
    assert "00000000" not in out


def test_environment_secrets_are_chosen_by_the_words_of_their_names() -> None:
    from hee_monitor.core import redact as gate

    gate.forget_registered_secrets()
    try:
        gate.register_environment(
            {
                "PWD": "/home/ci/work",
                "OLDPWD": "/home/ci",
                "DB_PWD": "pw-db-123456",
                "XDG_SESSION_ID": "c2-session",
                "DEPLOY_TOKEN": "tok-9988776655",
            }
        )
        out = redact("cd /home/ci/work && deploy pw-db-123456 tok-9988776655 c2-session")
        assert "/home/ci/work" in out and "c2-session" in out
        assert "pw-db-123456" not in out and "tok-9988776655" not in out
    finally:
        gate.forget_registered_secrets()


def test_a_secret_registered_later_is_redacted_in_text_seen_before() -> None:
    from hee_monitor.core import redact as gate

    gate.forget_registered_secrets()
    try:
        line = "deploying with plain-value-5f3e1 now"
        assert redact(line) == line  # remembered as clean
        gate.register_secret("plain-value-5f3e1")
        assert "plain-value-5f3e1" not in redact(line)
    finally:
        gate.forget_registered_secrets()
