"""Why a state capsule was refused: one class per reason, all :class:`CapsuleError`.

Callers that only care "is it trustworthy?" catch :class:`CapsuleError`; callers that react
differently (a restore after a rollback, a re-sign after an expiry) catch the subclass.
Messages name the file, version and JSON pointer involved, never a secret value.
"""

from __future__ import annotations

from dataclasses import dataclass

from hee_monitor.core.errors import CapsuleError


class CapsuleFormatError(CapsuleError):
    """The file is not a capsule envelope: not UTF-8, not JSON, wrong shape, or its bytes
    differ from the deterministic form hee-monitor writes (edited after signing)."""


class SignatureError(CapsuleError):
    """The signatures do not meet the threshold of trusted keys."""


class MissingSignatureError(SignatureError):
    """The envelope carries no signature at all."""


class BadSignatureError(SignatureError):
    """A signature by a trusted key does not match the payload (tampering or corruption)."""


class UnknownKeyError(SignatureError):
    """The capsule is signed only by keys that are not trusted."""


class ThresholdError(SignatureError):
    """Fewer valid signatures by distinct trusted keys than the threshold requires."""


@dataclass(frozen=True)
class Violation:
    """One broken rule: where (a JSON pointer into the payload), which rule, and why."""

    pointer: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message} [{self.rule}]"


class SchemaViolationError(CapsuleError):
    """The payload does not match schemas/state_capsule.schema.json."""

    def __init__(self, message: str, violations: list[Violation], *, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.violations = violations


class ExpiredCapsuleError(CapsuleError):
    """The capsule's ``expires`` time has passed."""


class RollbackError(CapsuleError):
    """The capsule's version is lower than the last trusted version (a replay)."""


class ForkError(CapsuleError):
    """Same version as the trusted one, different content: two histories diverged."""


class ChainError(CapsuleError):
    """``previous_digest`` does not link this version to the version before it."""


class SensitiveDataError(CapsuleError):
    """Sensitive data would be stored in clear, or cannot be decrypted."""


class CapsuleKeyError(CapsuleError):
    """A signing, public or encryption key cannot be read or is malformed."""


class ConflictError(CapsuleError):
    """The capsule changed under an update (compare-and-swap on the version failed)."""


class CapsuleStorageError(CapsuleError):
    """The capsule directory cannot be read or written."""
