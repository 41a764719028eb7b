"""``hee-monitor capsule``: create, change, check and inspect signed state capsules.

Two ways to hold a capsule:

* a **state directory** (``--state-dir``, env ``HEE_STATE_DIR``, default
  ``$XDG_STATE_HOME/hee-monitor``)
  with the live capsule, its history, backups and archives;
* a **single file** (``--input FILE``, or ``--input-env NAME`` for a path or inline JSON in an
  environment variable) that travels between CI jobs; its trusted-version record lives in
  ``--state-dir`` when given, else beside the file.

Keys: ``--signing-key FILE`` (else ``HEE_SIGNING_KEY``), ``--trusted-key FILE`` (else
``HEE_TRUSTED_KEYS``, else the signing key's own public key), ``--encryption-key FILE``
(else ``HEE_CAPSULE_ENCRYPTION_KEY``). Key material is never printed.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from hee_monitor.core.config import state_dir
from hee_monitor.core.errors import CapsuleError, UsageError
from hee_monitor.record.capsule import rules, schema
from hee_monitor.record.capsule.envelope import Capsule, format_time, parse_time, read_unverified
from hee_monitor.record.capsule.errors import CapsuleFormatError, Violation
from hee_monitor.record.capsule.files import (
    load_capsule_file,
    save_capsule_file,
    update_capsule_file,
    verify_capsule_bytes,
)
from hee_monitor.record.capsule.fsutil import atomic_write, create_exclusive
from hee_monitor.record.capsule.keys import (
    Signer,
    TrustedKeys,
    load_signer,
    load_trusted_keys,
)
from hee_monitor.record.capsule.sealing import (
    ENCRYPTION_KEY_ENV,
    EncryptionKey,
    load_encryption_key,
    masked,
    revealed,
)
from hee_monitor.record.capsule.store import (
    DEFAULT_FIX_HISTORY_LIMIT,
    CapsuleDirectory,
    new_payload,
)
from hee_monitor.record.capsule.trust import TRUSTED_FILE, TrustRecord

STATUSES = ("operational", "degraded", "failed", "maintenance")


@dataclass
class Options:
    state_dir: Path | None
    input: Path | None
    input_env: str | None
    signing_keys: tuple[Path, ...]
    trusted_keys: tuple[str, ...]
    threshold: int
    encryption_key: Path | None
    expires_days: int
    fix_history_limit: int
    now: datetime
    _signers: tuple[Signer, ...] | None = field(default=None, repr=False)

    @property
    def directory(self) -> Path:
        return self.state_dir or state_dir()

    def signers(self) -> tuple[Signer, ...]:
        if self._signers is None:
            if self.signing_keys:
                self._signers = tuple(load_signer(p) for p in self.signing_keys)
            else:
                self._signers = (load_signer(),)
        return self._signers

    def keys(self, *, need_signer: bool = False) -> TrustedKeys:
        fallback: Signer | None = None
        if need_signer or self.signing_keys or os.environ.get("HEE_SIGNING_KEY"):
            fallback = self.signers()[0]
        trusted = load_trusted_keys(self.trusted_keys, threshold=self.threshold, fallback=fallback)
        if fallback is not None and not self.trusted_keys and len(self.signers()) > 1:
            trusted = TrustedKeys.of([s.public_key for s in self.signers()], self.threshold)
        return trusted

    def encryption(self) -> EncryptionKey | None:
        return load_encryption_key(self.encryption_key)

    def store(self, *, writing: bool = False) -> CapsuleDirectory:
        return CapsuleDirectory(
            self.directory,
            self.signers() if writing else None,
            self.keys(need_signer=writing),
            self.encryption(),
            expiry=timedelta(days=self.expires_days),
            fix_history_limit=self.fix_history_limit,
        )

    def single_file(self) -> tuple[bytes, str, Path | None] | None:
        """(bytes, name, path) of the capsule named by --input / --input-env, if any."""
        if self.input is not None:
            try:
                return self.input.read_bytes(), str(self.input), self.input
            except OSError as exc:
                raise UsageError(f"cannot read --input {self.input}: {exc.strerror}") from exc
        if self.input_env is not None:
            value = os.environ.get(self.input_env, "")
            if not value.strip():
                raise UsageError(
                    f"environment variable {self.input_env} is empty",
                    hint="set it to the path of a capsule file or to the capsule JSON",
                )
            if value.lstrip().startswith("{"):
                # a capsule file ends with one newline; shells ($(cat f)) and secret stores
                # drop or add surrounding white space, which is not part of what was signed
                return (value.strip() + "\n").encode("utf-8"), f"${self.input_env}", None
            path = Path(value.strip())
            try:
                return path.read_bytes(), str(path), path
            except OSError as exc:
                raise UsageError(
                    f"${self.input_env} names {path}, which cannot be read: {exc.strerror}"
                ) from exc
        return None

    def trust_dir(self, path: Path | None) -> Path:
        if self.state_dir is not None or path is None:
            return self.directory
        return path.resolve().parent


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = parse_time(value)
    except ValueError as exc:
        raise UsageError(f"--now {value!r} is not an ISO 8601 time") from exc
    if moment.tzinfo is None:
        raise UsageError("--now needs a timezone, e.g. 2026-11-22T19:00:00Z")
    return moment


def common(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options every capsule subcommand shares, gathered into one :class:`Options`."""
    decorators = [
        click.option(
            "--state-dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="State directory (env HEE_STATE_DIR, default $XDG_STATE_HOME/hee-monitor).",
        ),
        click.option(
            "--signing-key",
            "signing_keys",
            multiple=True,
            type=click.Path(dir_okay=False, path_type=Path),
            help="Private key file (repeat to co-sign; else env HEE_SIGNING_KEY).",
        ),
        click.option(
            "--trusted-key",
            "trusted_keys",
            multiple=True,
            help="Public key file or base64 key (repeat; else env HEE_TRUSTED_KEYS).",
        ),
        click.option(
            "--threshold",
            type=click.IntRange(min=1),
            default=1,
            show_default=True,
            envvar="HEE_KEY_THRESHOLD",
            help="Distinct trusted signatures required.",
        ),
        click.option(
            "--encryption-key",
            type=click.Path(dir_okay=False, path_type=Path),
            help=f"Encryption key file for sensitive values (else {ENCRYPTION_KEY_ENV}).",
        ),
        click.option(
            "--expires-days",
            type=click.IntRange(min=1),
            default=30,
            show_default=True,
            help="A new version expires this many days after it is signed.",
        ),
        click.option(
            "--fix-history-limit",
            type=click.IntRange(min=1),
            default=DEFAULT_FIX_HISTORY_LIMIT,
            show_default=True,
            help="Fixes kept in the live capsule; older ones go to the archive.",
        ),
        click.option("--now", "now_text", hidden=True, help="Pretend it is this time (UTC)."),
    ]

    @functools.wraps(func)  # keeps the command's own click options (in __dict__)
    def wrapper(**kwargs: Any) -> Any:
        options = Options(
            state_dir=kwargs.pop("state_dir"),
            input=kwargs.pop("input", None),
            input_env=kwargs.pop("input_env", None),
            signing_keys=kwargs.pop("signing_keys"),
            trusted_keys=kwargs.pop("trusted_keys"),
            threshold=kwargs.pop("threshold"),
            encryption_key=kwargs.pop("encryption_key"),
            expires_days=kwargs.pop("expires_days"),
            fix_history_limit=kwargs.pop("fix_history_limit"),
            now=_parse_now(kwargs.pop("now_text")),
        )
        return func(options, **kwargs)

    result: Callable[..., Any] = wrapper
    for decorator in reversed(decorators):
        result = decorator(result)
    return result


def with_input(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--input-env",
        metavar="NAME",
        help="Read the capsule from environment variable NAME (a path or inline JSON).",
    )(func)
    return click.option(
        "--input",
        "-i",
        type=click.Path(dir_okay=False, path_type=Path),
        help="A single capsule file instead of the state directory.",
    )(func)


@click.group()
def capsule() -> None:
    """Signed, versioned record of pipeline health (the state capsule).

    \b
    Examples:
      hee-monitor capsule keygen --out capsule-key        signing key pair
      hee-monitor capsule generate --repository octo/app  version 1
      hee-monitor capsule update --set-status degraded    next version
      hee-monitor capsule verify                          signatures, expiry, chain
      hee-monitor capsule show                            what it says

    The capsule lives in a state directory (--state-dir, $HEE_STATE_DIR, default
    $XDG_STATE_HOME/hee-monitor, i.e. ~/.local/state/hee-monitor) or in one file (--input).
    Keys: $HEE_SIGNING_KEY, $HEE_TRUSTED_KEYS, $HEE_CAPSULE_ENCRYPTION_KEY; key material is
    never printed.
    """


# -- keys ----------------------------------------------------------------------------------


@capsule.command()
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Private key file to create (the public key goes to OUT.pub).",
)
@click.option(
    "--encryption",
    is_flag=True,
    help="Create an encryption key for sensitive values instead of a signing key.",
)
def keygen(out: Path, encryption: bool) -> int:
    """Create a signing (or encryption) key; refuses to overwrite an existing file.

    The private key file is created with mode 0600. Put its content in the CI secret
    HEE_SIGNING_KEY (or HEE_CAPSULE_ENCRYPTION_KEY with --encryption); commit or share only
    the .pub file.

    \b
    Examples:
      hee-monitor capsule keygen --out capsule-key         capsule-key + capsule-key.pub
      hee-monitor capsule keygen --out capsule-enc.key --encryption
      gh secret set HEE_SIGNING_KEY < capsule-key          hand the key to CI
    """
    if encryption:
        create_exclusive(out, EncryptionKey.generate() + b"\n", mode=0o600)
        click.echo(f"encryption key: {out} (mode 0600)")
        click.echo(f"use it with --encryption-key {out} or the secret {ENCRYPTION_KEY_ENV}")
        return 0
    signer = Signer.generate()
    public = out.with_name(out.name + ".pub")
    if public.exists():
        raise CapsuleError(
            f"{public} already exists; refusing to overwrite it",
            hint="choose another --out name",
        )
    create_exclusive(out, signer.private_pem(), mode=0o600)
    create_exclusive(public, signer.public_pem(), mode=0o644)
    click.echo(f"private key: {out} (mode 0600)")
    click.echo(f"public key:  {public}")
    click.echo(f"key id:      {signer.keyid}")
    return 0


# -- create and change ---------------------------------------------------------------------


@capsule.command()
@common
@click.option(
    "--repository",
    envvar="GITHUB_REPOSITORY",
    required=True,
    help="owner/name (env GITHUB_REPOSITORY).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a single capsule file instead of initialising the state directory.",
)
def generate(options: Options, repository: str, output: Path | None) -> int:
    """Create version 1 of a capsule for REPOSITORY, signed.

    \b
    Examples:
      hee-monitor capsule generate --repository acme/api --signing-key capsule-key
      hee-monitor capsule generate --state-dir ci-state    repo from $GITHUB_REPOSITORY
      hee-monitor capsule generate --repository acme/web --output web.json

    Reads $HEE_STATE_DIR, $HEE_SIGNING_KEY, $HEE_TRUSTED_KEYS, $HEE_KEY_THRESHOLD.
    """
    if output is None:
        created = options.store(writing=True).initialise(repository, now=options.now)
        click.echo(f"created {options.directory / 'current.json'}: {_summary_line(created)}")
        return 0
    if output.exists():
        raise CapsuleError(
            f"{output} already exists; refusing to start a new history over it",
            hint="change it with `hee-monitor capsule update --input FILE`",
        )
    trust_dir = options.trust_dir(output)
    trusted = TrustRecord(trust_dir / TRUSTED_FILE).get(repository)
    if trusted is not None:
        raise CapsuleError(
            f"{trust_dir / TRUSTED_FILE} already trusts version {trusted[0]} of {repository}; "
            "a new version 1 would be refused as a rollback",
            hint="update the existing capsule instead",
        )
    payload = new_payload(repository, options.now, timedelta(days=options.expires_days))
    created = save_capsule_file(
        output,
        payload,
        options.signers(),
        now=options.now,
        encryption_key=options.encryption(),
        state_dir=trust_dir,
    )
    click.echo(f"created {output}: {_summary_line(created)}")
    return 0


def _split_path(path: str) -> list[str]:
    if path.startswith("/"):
        return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]
    return path.split(".")


def _container(payload: dict[str, Any], parts: list[str], create: bool, option: str) -> Any:
    node: Any = payload
    for part in parts:
        if isinstance(node, list):
            try:
                node = node[int(part)]
            except (ValueError, IndexError) as exc:
                raise UsageError(f"{option}: no list item {part!r}") from exc
        elif isinstance(node, dict):
            if part not in node:
                if not create:
                    raise UsageError(f"{option}: no field {part!r}")
                node[part] = {}
            node = node[part]
        else:
            raise UsageError(f"{option}: {part!r} is inside a value that is not an object")
    return node


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _json_object(text: str, option: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{option}: not valid JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise UsageError(f"{option}: expected a JSON object")
    return value


def _assignment(text: str, option: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise UsageError(f"{option} {text!r}: expected PATH=VALUE")
    return name, value


@dataclass(frozen=True)
class Edits:
    """The changes one ``capsule update`` makes, applied in this order."""

    status: str | None = None
    last_run_id: str | None = None
    sets: tuple[tuple[str, Any], ...] = ()
    appends: tuple[tuple[str, Any], ...] = ()
    fixes: tuple[dict[str, Any], ...] = ()
    decisions: tuple[dict[str, Any], ...] = ()
    incidents: tuple[dict[str, Any], ...] = ()
    close: tuple[str, ...] = ()
    secrets: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    def apply(self, payload: dict[str, Any], now: datetime) -> None:
        stamp = format_time(now)
        state = payload.setdefault("monitoring_state", {})
        if self.status is not None and state.get("current_status") != self.status:
            state["current_status"] = self.status
            state["status_since"] = stamp
        if self.last_run_id is not None:
            state["last_run_id"] = self.last_run_id
        for path, value in self.sets:
            parts = _split_path(path)
            parent = _container(payload, parts[:-1], True, "--set")
            if isinstance(parent, list):
                try:
                    parent[int(parts[-1])] = value
                except (ValueError, IndexError) as exc:
                    raise UsageError(f"--set {path}: no list item {parts[-1]!r}") from exc
            else:
                parent[parts[-1]] = value
        for path, value in self.appends:
            target = _container(payload, _split_path(path), False, "--append")
            if not isinstance(target, list):
                raise UsageError(f"--append {path}: not a list")
            target.append(value)
        for fix in self.fixes:
            entry = copy.deepcopy(fix)
            entry.setdefault("timestamp", stamp)
            context = entry.setdefault("hee_context", {})
            if isinstance(context, dict):
                context.setdefault("state_capsule_version", payload.get("version"))
                context.setdefault("decision_impact", "low")
                context.setdefault("context_preservation", True)
            payload.setdefault("auto_fix_history", []).append(entry)
        for decision in self.decisions:
            payload.setdefault("decision_history", []).append({"timestamp": stamp, **decision})
        for incident in self.incidents:
            entry = {"opened": stamp, "last_seen": stamp, "occurrences": 1, **incident}
            payload.setdefault("open_incidents", []).append(entry)
        if self.close:
            incidents = payload.get("open_incidents", [])
            missing = [i for i in self.close if not any(x.get("id") == i for x in incidents)]
            if missing:
                raise UsageError(f"--close-incident: no open incident {', '.join(missing)}")
            payload["open_incidents"] = [x for x in incidents if x.get("id") not in self.close]
        for name, value in self.secrets:
            payload.setdefault("sensitive", {})[name] = value


@capsule.command()
@common
@with_input
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --input: where to write the next version (default: over --input).",
)
@click.option("--set-status", type=click.Choice(STATUSES), help="New current_status.")
@click.option("--last-run-id", help="Set monitoring_state.last_run_id.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="PATH=VALUE",
    help="Set a field: dotted path or JSON pointer; VALUE is JSON, else a string.",
)
@click.option(
    "--append",
    "appends",
    multiple=True,
    metavar="PATH=JSON",
    help="Append a JSON value to the list at PATH.",
)
@click.option(
    "--add-fix-json",
    "fixes",
    multiple=True,
    metavar="JSON",
    help="Record an auto-fix (timestamp and hee_context default to now / this version).",
)
@click.option(
    "--add-decision-json",
    "decisions",
    multiple=True,
    metavar="JSON",
    help="Record a decision (timestamp defaults to now).",
)
@click.option(
    "--open-incident-json",
    "incidents",
    multiple=True,
    metavar="JSON",
    help="Open an incident (opened/last_seen default to now).",
)
@click.option("--close-incident", "close", multiple=True, metavar="ID", help="Close an incident.")
@click.option(
    "--set-sensitive",
    "secrets",
    multiple=True,
    metavar="NAME=ENVVAR",
    help="Store the value of ENVVAR, encrypted, as sensitive.NAME.",
)
@click.option(
    "--expected-version",
    type=int,
    help="Fail unless the capsule is at this version (compare-and-swap).",
)
def update(
    options: Options,
    output: Path | None,
    set_status: str | None,
    last_run_id: str | None,
    sets: tuple[str, ...],
    appends: tuple[str, ...],
    fixes: tuple[str, ...],
    decisions: tuple[str, ...],
    incidents: tuple[str, ...],
    close: tuple[str, ...],
    secrets: tuple[str, ...],
    expected_version: int | None,
) -> int:
    """Make the next version: verify the capsule, apply the edits, sign, write.

    \b
    Examples:
      hee-monitor capsule update --set-status degraded --last-run-id 12345
      hee-monitor capsule update --expected-version 4 --set monitoring_state.frozen=true
      hee-monitor capsule update --add-fix-json \\
          '{"pattern_id": "PAT-001", "success": true, "rollback": false}'
      SLACK=xoxb-... hee-monitor capsule update --set-sensitive slack_token=SLACK \\
          --encryption-key capsule-enc.key

    Exit 1 when the capsule does not verify or --expected-version does not match.
    Reads $HEE_STATE_DIR, $HEE_SIGNING_KEY, $HEE_TRUSTED_KEYS, $HEE_KEY_THRESHOLD.
    """
    secret_values = []
    for spec in secrets:
        name, variable = _assignment(spec, "--set-sensitive")
        value = os.environ.get(variable)
        if value is None:
            raise UsageError(f"--set-sensitive {name}: environment variable {variable} is not set")
        secret_values.append((name, value))
    edits = Edits(
        status=set_status,
        last_run_id=last_run_id,
        sets=tuple((p, _json_value(v)) for p, v in (_assignment(s, "--set") for s in sets)),
        appends=tuple(
            (p, _json_value(v)) for p, v in (_assignment(s, "--append") for s in appends)
        ),
        fixes=tuple(_json_object(f, "--add-fix-json") for f in fixes),
        decisions=tuple(_json_object(d, "--add-decision-json") for d in decisions),
        incidents=tuple(_json_object(i, "--open-incident-json") for i in incidents),
        close=close,
        secrets=tuple(secret_values),
    )
    now = options.now

    def mutate(payload: dict[str, Any]) -> None:
        edits.apply(payload, now)

    source = options.single_file()
    if source is None:
        if output is not None:
            raise UsageError("--output needs --input (the state directory is updated in place)")
        updated = options.store(writing=True).update(
            mutate, now=now, expected_version=expected_version
        )
    else:
        raw, name, path = source
        target = output or path
        if target is None:
            raise UsageError(f"{name} is inline JSON: pass --output FILE for the next version")
        if expected_version is not None:
            current = _peek_version(raw, name)
            if current != expected_version:
                raise CapsuleError(
                    f"expected capsule version {expected_version}, found {current}",
                    hint="reload the capsule and apply the change again",
                )
        updated = update_capsule_file(
            path if path is not None else raw,
            target,
            mutate,
            options.signers(),
            options.keys(need_signer=True),
            now=now,
            state_dir=options.trust_dir(target),
            encryption_key=options.encryption(),
            expiry=timedelta(days=options.expires_days),
            fix_history_limit=options.fix_history_limit,
        )
        name = str(target)
    click.echo(f"updated: {_summary_line(updated)}")
    return 0


def _peek_version(raw: bytes, name: str) -> Any:
    payload, _ = read_unverified(raw, source=name)
    return payload.get("version")


# -- check ---------------------------------------------------------------------------------


def _verified(options: Options, *, record: bool = True) -> tuple[Capsule, str]:
    source = options.single_file()
    if source is None:
        store = options.store()
        return store.load(now=options.now), str(store.current_path)
    raw, name, path = source
    if path is not None:
        capsule = load_capsule_file(
            path, options.keys(), now=options.now, state_dir=options.trust_dir(path), record=record
        )
    else:
        capsule = verify_capsule_bytes(
            raw,
            options.keys(),
            now=options.now,
            source=name,
            state_dir=options.directory,
            record=record,
        )
    return capsule, name


@capsule.command()
@common
@with_input
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the verified capsule file here (e.g. from inline JSON).",
)
@click.option(
    "--field",
    "pointer",
    metavar="POINTER",
    help="Print only this value (JSON pointer, e.g. /monitoring_state/current_status).",
)
def load(options: Options, output: Path | None, pointer: str | None) -> int:
    """Verify a capsule and print its payload as JSON (sensitive values masked).

    \b
    Examples:
      hee-monitor capsule load                             the whole payload
      hee-monitor capsule load --field /monitoring_state/current_status
      hee-monitor capsule load --input-env HEE_CAPSULE -o capsule.json

    Exit 1 when the capsule does not verify.
    Reads $HEE_STATE_DIR, $HEE_SIGNING_KEY, $HEE_TRUSTED_KEYS, $HEE_KEY_THRESHOLD.
    """
    capsule_, _ = _verified(options)
    if output is not None:
        atomic_write(output, capsule_.raw)
    data: Any = masked(capsule_.payload)
    if pointer is not None:
        try:
            data = _container(data, _split_path(pointer), False, "--field")
        except UsageError as exc:
            raise UsageError(f"--field {pointer}: not in the capsule") from exc
    click.echo(
        json.dumps(data, indent=2, ensure_ascii=False) if not isinstance(data, str) else data
    )
    return 0


@capsule.command()
@common
@with_input
def verify(options: Options) -> int:
    """Check signatures, schema, expiry, rollback/fork and the hash chain.

    \b
    Examples:
      hee-monitor capsule verify                           the state directory
      hee-monitor capsule verify -i web.json --trusted-key capsule-key.pub
      hee-monitor capsule verify --threshold 2 --trusted-key a.pub --trusted-key b.pub

    Exit codes: 0 verified, 1 not.
    Reads $HEE_STATE_DIR, $HEE_SIGNING_KEY, $HEE_TRUSTED_KEYS, $HEE_KEY_THRESHOLD.
    """
    capsule_, name = _verified(options)
    click.echo(f"OK {name}: {_summary_line(capsule_)}")
    click.echo(f"signed by: {', '.join(k[:16] + '…' for k in capsule_.keyids)}")
    if options.single_file() is None:
        report = options.store().verify_chain(now=options.now)
        click.echo(
            f"hash chain: {report.checked} version(s) from {report.oldest_version} to "
            f"{report.current_version} link up ({report.archived} archived)"
        )
    return 0


@capsule.command()
@click.option(
    "--input",
    "-i",
    "input_",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Capsule file (signed envelope or bare payload).",
)
@click.option("--input-env", metavar="NAME", help="Environment variable: a path or inline JSON.")
@click.option("--hee-rules", is_flag=True, help="Also check meaning beyond the schema.")
@click.option(
    "--patterns-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Pattern database to check fix pattern ids against (default: shipped).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def validate(
    input_: Path | None, input_env: str | None, hee_rules: bool, patterns_dir: Path | None, fmt: str
) -> int:
    """Check a capsule's content against the schema (and --hee-rules); list every problem.

    \b
    Examples:
      hee-monitor capsule validate -i state_capsules/current.json
      hee-monitor capsule validate -i capsule.json --hee-rules --format json

    Exit 0 valid, 1 invalid, 2 usage error. Signatures are checked by `capsule verify`.
    """
    options = Options(None, input_, input_env, (), (), 1, None, 30, 1, datetime.now(UTC))
    source = options.single_file()
    if source is None:
        path = state_dir() / "current.json"
        try:
            source = (path.read_bytes(), str(path), path)
        except OSError as exc:
            raise UsageError(
                f"nothing to validate: pass --input FILE ({path}: {exc.strerror})"
            ) from exc
    raw, name, _ = source
    problems: list[Violation]
    try:
        payload, _ = read_unverified(raw, source=name)
    except CapsuleFormatError as exc:
        problems = [Violation("", "json", exc.message)]
    else:
        problems = schema.violations(payload)
        if hee_rules:
            from hee_monitor.record.capsule.known_patterns import known_pattern_ids

            known = known_pattern_ids(patterns_dir)
            if known is None:
                click.echo("note: no pattern database found; pattern ids not checked", err=True)
            problems += rules.check(payload, known)
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "input": name,
                    "valid": not problems,
                    "problems": [
                        {"pointer": p.pointer, "rule": p.rule, "message": p.message}
                        for p in problems
                    ],
                },
                indent=2,
            )
        )
    elif problems:
        click.echo(f"{name}: {len(problems)} problem(s)")
        for problem in problems:
            click.echo(f"  {problem}")
    else:
        checked = "schema and hee rules" if hee_rules else "schema"
        click.echo(f"{name}: valid ({checked})")
    return 1 if problems else 0


# -- inspect -------------------------------------------------------------------------------


def _summary_line(capsule_: Capsule) -> str:
    state = capsule_.payload.get("monitoring_state", {})
    return (
        f"{capsule_.repository} version {capsule_.version}, status "
        f"{state.get('current_status')}, expires {capsule_.payload.get('expires')}"
    )


@capsule.command()
@common
@with_input
@click.option("--reveal", is_flag=True, help="Decrypt sensitive values (needs the encryption key).")
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def show(options: Options, reveal: bool, fmt: str) -> int:
    """Print what a verified capsule says. Sensitive values stay masked unless --reveal.

    \b
    Examples:
      hee-monitor capsule show                             status, incidents, fixes
      hee-monitor capsule show --format json               the payload, for scripts
      hee-monitor capsule show --reveal --encryption-key capsule-enc.key

    Exit 1 when the capsule does not verify.
    Reads $HEE_STATE_DIR, $HEE_SIGNING_KEY, $HEE_TRUSTED_KEYS, $HEE_KEY_THRESHOLD.
    """
    capsule_, name = _verified(options, record=False)
    if reveal:
        key = options.encryption()
        if key is None:
            raise UsageError(
                "--reveal needs the encryption key",
                hint=f"pass --encryption-key FILE or set {ENCRYPTION_KEY_ENV}",
            )
        payload = revealed(capsule_.payload, key)
    else:
        payload = masked(capsule_.payload)
    if fmt == "json":
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    state = payload.get("monitoring_state", {})
    lines = [
        f"capsule   {name}",
        f"repository {payload.get('repository')}  version {capsule_.version}  "
        f"digest {capsule_.digest[:23]}…",
        f"created   {payload.get('created')}  expires {payload.get('expires')}",
        f"status    {state.get('current_status')} since {state.get('status_since')}  "
        f"last run {state.get('last_run_id')}",
        "hee       "
        + "  ".join(f"{k} {_pct(v)}" for k, v in (state.get("hee_specific") or {}).items()),
        "coverage  "
        + "  ".join(f"{k} {_pct(v)}" for k, v in (state.get("coverage_metrics") or {}).items()),
    ]
    constraints = payload.get("constraints", {})
    lines.append(
        f"limits    max fix severity {constraints.get('max_fix_severity')}  frozen "
        f"{constraints.get('frozen')}  protected "
        + ", ".join(constraints.get("protected_paths", []))
    )
    incidents = payload.get("open_incidents", [])
    lines.append(f"incidents {len(incidents)} open")
    lines += [
        f"  {i.get('id')} [{i.get('severity')}] {i.get('title', '')} ×{i.get('occurrences', 1)}"
        for i in incidents
    ]
    fixes = payload.get("auto_fix_history", [])
    lines.append(f"fixes     {len(fixes)} recorded (last 5):")
    lines += [
        f"  {f.get('timestamp')} {f.get('pattern_id')} "
        f"{'ok' if f.get('success') else 'failed'}{' rolled back' if f.get('rollback') else ''}"
        for f in fixes[-5:]
    ]
    decisions = payload.get("decision_history", [])
    lines.append(f"decisions {len(decisions)} recorded")
    for secret_name, value in (payload.get("sensitive") or {}).items():
        lines.append(f"sensitive {secret_name} = {value}")
    click.echo("\n".join(lines))
    return 0


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{value:g}%"


@capsule.command()
@common
def history(options: Options) -> int:
    """List every kept version (history and archive), oldest first.

    \b
    Examples:
      hee-monitor capsule history                          the default state directory
      hee-monitor capsule history --state-dir ci-state --trusted-key capsule-key.pub

    Reads $HEE_STATE_DIR, $HEE_TRUSTED_KEYS (or the public half of $HEE_SIGNING_KEY).
    """
    for info in options.store().history():
        marker = "*" if info.current else " "
        click.echo(
            f"{marker} v{info.version:<6} {info.created}  {info.digest[:23]}…  {info.location}"
        )
    return 0


@capsule.command()
@common
@click.argument("version", type=click.IntRange(min=1))
def restore(options: Options, version: int) -> int:
    """Make a new, higher version carrying the content of VERSION (history stays intact).

    \b
    Examples:
      hee-monitor capsule history                          find the good version
      hee-monitor capsule restore 3                        its content as the next version

    Reads $HEE_STATE_DIR, $HEE_SIGNING_KEY, $HEE_TRUSTED_KEYS, $HEE_KEY_THRESHOLD.
    """
    restored = options.store(writing=True).restore(version, now=options.now)
    click.echo(f"restored the content of version {version} as {_summary_line(restored)}")
    return 0


@capsule.command()
@common
@click.option(
    "--older-than-days",
    type=click.IntRange(min=0),
    default=30,
    show_default=True,
    help="Archive history versions created longer ago than this.",
)
def archive(options: Options, older_than_days: int) -> int:
    """Pack old history versions into monthly history/archive/YYYY-MM.jsonl.gz files.

    \b
    Examples:
      hee-monitor capsule archive                          versions older than 30 days
      hee-monitor capsule archive --older-than-days 7 --state-dir ci-state

    Reads $HEE_STATE_DIR, $HEE_TRUSTED_KEYS (or the public half of $HEE_SIGNING_KEY).
    """
    result = options.store().archive(older_than=timedelta(days=older_than_days), now=options.now)
    if not result.versions:
        click.echo("nothing to archive")
        return 0
    click.echo(
        f"archived {len(result.versions)} version(s) "
        f"({result.versions[0]}-{result.versions[-1]}) into "
        + ", ".join(str(p) for p in result.files)
    )
    return 0
