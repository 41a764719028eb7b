"""A corpus of planted secrets, one per format the redaction gate must stop.

Shared by the contract test that runs every exit over it and by
``benchmarks/security_bench.py``. Every value here is made up for the purpose; each entry is
(name, the log line that carries it, the secret that must not leave).
"""

# ruff: noqa: E501
from __future__ import annotations

from pathlib import Path

PLANTED: tuple[tuple[str, str, str], ...] = (
    (
        "github-pat-classic",
        "git clone https://ghp_Zx8Qk2Lm9Np4Rs7Tv1Wy3Ab6Cd0Ef5Gh2Jk9Lm@github.com/o/r",
        "ghp_Zx8Qk2Lm9Np4Rs7Tv1Wy3Ab6Cd0Ef5Gh2Jk9Lm",
    ),
    (
        "github-pat-fine",
        "GH_TOKEN github_pat_11ABCDEFG0aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789abcdef",
        "github_pat_11ABCDEFG0aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789abcdef",
    ),
    (
        "github-actions-token",
        "Authorization: token ghs_Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz1Xc3Vb5N",
        "ghs_Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz1Xc3Vb5N",
    ),
    (
        "aws-access-key-id",
        "AWS_ACCESS_KEY_ID=AKIAZ7Q3M5N8P2R4T6V9 region=eu-west-1",
        "AKIAZ7Q3M5N8P2R4T6V9",
    ),
    (
        "aws-secret-positional",
        "+ aws configure set aws_secret_access_key q8Zr3Lm0Xv7Tn2Pw5Ks9Yh4Bj6Df1Gc8Na3Ve0R",
        "q8Zr3Lm0Xv7Tn2Pw5Ks9Yh4Bj6Df1Gc8Na3Ve0R",
    ),
    (
        "aws-secret-env",
        "export AWS_SECRET_ACCESS_KEY=Uj7Hn3Bg5Vf1Cd9Xs2Za4Qw8Er6Ty0Ui3Op5Lk7",
        "Uj7Hn3Bg5Vf1Cd9Xs2Za4Qw8Er6Ty0Ui3Op5Lk7",
    ),
    ("password-assignment", "DB_PASSWORD=Tr0ub4dor&3xyz psql -h db", "Tr0ub4dor&3xyz"),
    ("password-word", "Using password Hunter2!2024 for the deploy user", "Hunter2!2024"),
    (
        "password-option",
        "+ docker login --username ci --password Pa55w0rd-Reg1stry ghcr.io",
        "Pa55w0rd-Reg1stry",
    ),
    ("password-yaml", "  password: 'c0rr3ct-h0rse-battery'", "c0rr3ct-h0rse-battery"),
    ("mysql-short-option", "+ mysql -uroot -pMyS3cr3tPw app_test < schema.sql", "MyS3cr3tPw"),
    (
        "url-credentials",
        "fatal: unable to access 'https://deploy:Sup3rS3cret@git.example.org/app.git/'",
        "Sup3rS3cret",
    ),
    (
        "url-token-userinfo",
        "pip install git+https://oauth2:Yt6Rd4Es2Wq8Az0Sx9Dc@gitlab.example.org/lib.git",
        "Yt6Rd4Es2Wq8Az0Sx9Dc",
    ),
    (
        "bearer",
        "curl -H 'Authorization: Bearer eyZq9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8Ba7' https://api",
        "eyZq9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8Ba7",
    ),
    (
        "basic-auth",
        "Authorization: Basic ZGVwbG95OnMzY3IzdC1wYXNzd29yZA==",
        "ZGVwbG95OnMzY3IzdC1wYXNzd29yZA==",
    ),
    (
        "jwt",
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaS1ib3QifQ.c2lnbmF0dXJlLXBhcnQtb2YtdGhlLWp3dA",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaS1ib3QifQ.c2lnbmF0dXJlLXBhcnQtb2YtdGhlLWp3dA",
    ),
    (
        "slack-token",
        "SLACK_BOT=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    ),
    (
        "slack-webhook",
        "POST https://hooks.slack.com/services/T01ABCDEF/B02GHIJKL/QwErTyUiOpAsDfGhJkLzXcVb failed",
        "QwErTyUiOpAsDfGhJkLzXcVb",
    ),
    (
        "stripe-live",
        "Stripe.api_key set from sk_live_51HxYz2eZvKYlo2C0aBcDeFgHiJ",
        "sk_live_51HxYz2eZvKYlo2C0aBcDeFgHiJ",
    ),
    (
        "stripe-restricted",
        "using rk_live_9aZ8bY7cX6dW5eV4fU3gT2hS1",
        "rk_live_9aZ8bY7cX6dW5eV4fU3gT2hS1",
    ),
    (
        "npm-authtoken",
        "//registry.npmjs.org/:_authToken=npm_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1eF3hJ5",
        "npm_aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1eF3hJ5",
    ),
    (
        "npm-token-bare",
        "NODE_AUTH: npm_Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8B",
        "npm_Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8B",
    ),
    (
        "pypi-token",
        "twine upload -p pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMAACKlsz",
        "pypi-AgEIcHlwaS5vcmcCJDAwMDAwMDAwLTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMAACKlsz",
    ),
    ("gitlab-pat", "CI_PUSH_TOKEN glpat-xY7zW9vU2tS4rQ6pO8nM", "glpat-xY7zW9vU2tS4rQ6pO8nM"),
    (
        "google-api-key",
        "maps key AIzaSyD3fG5hJ7kL9mN1pQ3rS5tU7vW9xY1zA3b used",
        "AIzaSyD3fG5hJ7kL9mN1pQ3rS5tU7vW9xY1zA3b",
    ),
    (
        "sendgrid",
        "SENDGRID=SG.aBcDeFgHiJkLmNoPqRsTuV.wXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ0123",
        "SG.aBcDeFgHiJkLmNoPqRsTuV.wXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ0123",
    ),
    (
        "openai",
        "OPENAI: sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56",
        "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56",
    ),
    (
        "azure-storage",
        "DefaultEndpointsProtocol=https;AccountName=ci;AccountKey=Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG9mcmVk;",
        "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5d2FsZG9mcmVk",
    ),
    (
        "private-key",
        "-----BEGIN OPENSSH PRIVATE KEY-----b3BlbnNzaC1rZXktdjEAAAAABG5vbmU-----END OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU",
    ),
    (
        "api-key-option",
        "+ ./deploy.sh --api-key 7f3c9a1e5b8d2f4a6c0e9b7d5f3a1c8e",
        "7f3c9a1e5b8d2f4a6c0e9b7d5f3a1c8e",
    ),
    (
        "client-secret-json",
        '{"client_secret": "Qp9Ow8Ie7Ur6Yt5Re4We3Qa2Sd"}',
        "Qp9Ow8Ie7Ur6Yt5Re4We3Qa2Sd",
    ),
    (
        "high-entropy-near-key",
        "signing key loaded: 9fK2mQ7xR4vT8wZ1bN6cJ3hL5pD0sG",
        "9fK2mQ7xR4vT8wZ1bN6cJ3hL5pD0sG",
    ),
    (
        "twilio",
        "TWILIO_SID AC0123456789abcdef0123456789abcdef",
        "AC0123456789abcdef0123456789abcdef",
    ),
    (
        "telegram-bot",
        "bot 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0 started",
        "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
    ),
)

#: secrets that reach the process through its environment (values made up)
PLANTED_ENVIRONMENT: dict[str, str] = {
    "DEPLOY_TOKEN": "plain-Env-Secret-9Xq7",
    "SMTP_PASSWORD": "mailpass-Kq2w-9xZ",
    "REGISTRY_PASSWORD": "registryPw-77-aa",
    "SENTRY_DSN": "dsnvalue-2b4d6f8h",
}


def planted_secrets() -> list[str]:
    """Every value that must never leave the process."""
    return [secret for _, _, secret in PLANTED] + list(PLANTED_ENVIRONMENT.values())


def write_planted_log(directory: Path) -> Path:
    """``directory/job.log``: a failing Actions job whose failing step prints every planted
    secret (the log ones as they appear in logs, the environment ones echoed)."""
    lines = ["##[group]Run ./deploy.sh", *[line for _, line, _ in PLANTED]]
    lines += [f"echo {value}" for value in PLANTED_ENVIRONMENT.values()]
    lines += [
        "Error: deploy failed: authentication refused",
        "##[error]Process completed with exit code 1.",
    ]
    path = directory / "job.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
