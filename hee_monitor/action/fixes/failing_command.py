"""The command that failed, found again and re-run: the default proof of every fix.

The diagnosis names the failing step (``details["step"]``: what ``##[group]Run …`` showed,
the first line of the step's script, or the step's ``name:``). When the repository's
workflows are at hand, the step is looked up there, so the whole ``run:`` script runs in its
``working-directory`` (the step's, else the job's or the workflow's ``defaults.run``), as
the runner ran it. From the log alone, the command the log shows is run in the checkout.

It runs sandboxed: ``bash --noprofile --norc -eo pipefail`` as on a runner, in a new
process group killed on timeout, stdin closed, with a scrubbed environment (PATH, locale and
tool homes only; no token or secret the monitor holds), its working directory confined to
the repository. Commands that would act outside the tree (push, publish, deploy, upload,
login) and scripts using ``${{ … }}`` expressions or secrets are never re-run: the failing
command is then "not reproducible here" and only the strategy's own check can prove a fix.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hee_monitor.action.fixes.files import read_text, repo_files
from hee_monitor.core.models import Finding

WORKFLOW_GLOBS = (".github/workflows/*.yml", ".github/workflows/*.yaml")
#: a failing command gets this long to pass again
DEFAULT_TIMEOUT = 600.0
MAX_OUTPUT = 8000

#: variables a re-run keeps: where the tools are, the locale, the tool homes
_KEEP_ENV = (
    "PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "TMPDIR", "USER",
    "CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN", "CARGO_TARGET_DIR", "GOPATH", "GOROOT",
    "GOCACHE",
    "GOMODCACHE", "GOFLAGS", "GOPROXY", "GOTOOLCHAIN", "NODE_PATH", "NPM_CONFIG_CACHE",
    "npm_config_cache", "VIRTUAL_ENV", "PYTHONPATH", "JAVA_HOME", "GIT_CONFIG_NOSYSTEM",
)  # fmt: skip

#: words that make a command act outside the working tree; such a command is never re-run
_SIDE_EFFECTS = re.compile(
    r"(?<![\w-])(?:docker\s+(?:push|login)|podman\s+push|buildah\s+push|git\s+push|"
    r"(?:npm|yarn|pnpm)\s+publish|cargo\s+publish|twine\s+upload|gh\s+release|"
    r"gh\s+pr|gh\s+api|aws\s|gcloud\s|az\s|kubectl\s+(?:apply|delete|rollout)|helm\s+"
    r"(?:install|upgrade)|terraform\s+apply|curl\s[^\n]*-X\s*(?:POST|PUT|DELETE)|"
    r"deploy|upload)(?![\w-])",
    re.IGNORECASE,
)
_EXPRESSION = re.compile(r"\$\{\{")
_SECRET_REF = re.compile(r"\$\{?(?:GITHUB_TOKEN|GH_TOKEN|[A-Z_]*(?:SECRET|PASSWORD|TOKEN)\w*)")


@dataclass(frozen=True)
class FailingCommand:
    """The failing step's script and where it ran."""

    script: str
    #: repository-relative working directory ("" = the checkout's root)
    working_directory: str = ""
    #: where it was found: ``.github/workflows/ci.yml`` or ``the log``
    source: str = "the log"
    workflow: str | None = None
    job: str | None = None
    #: why it cannot be re-run here (None: it can)
    unsafe: str | None = None

    @property
    def name(self) -> str:
        first = self.script.strip().splitlines()[0] if self.script.strip() else ""
        where = f" (in {self.working_directory})" if self.working_directory else ""
        return f"the failing command: {first}{where}"


@dataclass(frozen=True)
class RunResult:
    returncode: int
    output: str
    timed_out: bool = False


def scrubbed_env(env: Mapping[str, str]) -> dict[str, str]:
    """The variables a re-run keeps: no token, key or secret reaches the failing command."""
    kept = {k: env[k] for k in _KEEP_ENV if k in env}
    kept.setdefault("PATH", os.defpath)
    kept["CI"] = "true"
    kept["NO_COLOR"] = "1"
    return kept


def run_sandboxed(
    script: str,
    cwd: Path,
    env: Mapping[str, str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> RunResult:
    """Run a step's script as a runner does (bash -eo pipefail), in its own process group,
    with a scrubbed environment; on timeout the whole group is killed."""
    try:
        proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=cwd,
            env=scrubbed_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return RunResult(127, f"cannot start bash: {exc}")
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        text = out.decode("utf-8", "replace")[-MAX_OUTPUT:]
        return RunResult(124, text + f"\n(timed out after {timeout:g}s)", timed_out=True)
    return RunResult(proc.returncode, out.decode("utf-8", "replace")[-MAX_OUTPUT:])


def why_unsafe(script: str) -> str | None:
    """Why a script must not be re-run outside CI, or None."""
    if _EXPRESSION.search(script):
        return "it uses ${{ … }} expressions only the runner can evaluate"
    if _SECRET_REF.search(script):
        return "it uses a token or secret"
    m = _SIDE_EFFECTS.search(script)
    if m:
        return f"it acts outside the working tree ({m.group(0).strip()})"
    return None


def _norm(text: str) -> str:
    return " ".join(text.split())


def _load(repo: Path, name: str) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load(read_text(repo / name))
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _defaults_dir(block: Any) -> str:
    if isinstance(block, dict):
        run = block.get("defaults")
        if isinstance(run, dict) and isinstance(run.get("run"), dict):
            wd = run["run"].get("working-directory")
            if isinstance(wd, str):
                return wd
    return ""


def _confined(repo: Path, directory: str) -> str | None:
    """The working directory relative to the checkout, None when it leaves it."""
    directory = directory.strip()
    if not directory or directory in (".", "./"):
        return ""
    if "${{" in directory or directory.startswith(("/", "~")):
        return None
    target = (repo / directory).resolve()
    try:
        rel = target.relative_to(repo.resolve())
    except ValueError:
        return None
    return str(rel).replace(os.sep, "/") if str(rel) != "." else ""


def _step_matches(step: Mapping[str, Any], wanted: str) -> bool:
    run = step.get("run")
    name = step.get("name")
    if isinstance(name, str) and _norm(name) == wanted:
        return True
    uses = step.get("uses")
    if isinstance(uses, str) and _norm(uses) == wanted:
        return True
    if isinstance(run, str):
        lines = [ln for ln in run.strip().splitlines() if ln.strip()]
        if lines and (_norm(lines[0]) == wanted or _norm(run) == wanted):
            return True
    return False


def find_in_workflows(
    repo: Path, step: str, *, job: str | None = None, workflow: str | None = None
) -> list[FailingCommand]:
    """Every workflow step whose name or first script line is the failing step."""
    wanted = _norm(step.removeprefix("Run "))
    found: list[FailingCommand] = []
    for name in repo_files(repo, WORKFLOW_GLOBS):
        if workflow and not name.endswith(workflow):
            continue
        data = _load(repo, name)
        jobs = data.get("jobs") if data else None
        if not isinstance(jobs, dict):
            continue
        for job_id, spec in jobs.items():
            if not isinstance(spec, dict) or (job and str(job_id) != job):
                continue
            for item in spec.get("steps") or []:
                if not isinstance(item, dict) or not _step_matches(item, wanted):
                    continue
                run = item.get("run")
                if not isinstance(run, str):
                    # a `uses:` step named like the failing step: nothing to re-run
                    found.append(
                        FailingCommand(
                            "", source=name, workflow=name, job=str(job_id),
                            unsafe="the failing step runs an action, not a command",
                        )
                    )  # fmt: skip
                    continue
                wd = item.get("working-directory")
                directory = (
                    wd if isinstance(wd, str) else _defaults_dir(spec) or _defaults_dir(data)
                )
                confined = _confined(repo, directory)
                shell = item.get("shell") or (
                    (spec.get("defaults") or {}).get("run", {}).get("shell")
                    if isinstance(spec.get("defaults"), dict)
                    else None
                )
                unsafe = why_unsafe(run)
                if confined is None:
                    unsafe = f"its working-directory {directory!r} is outside the checkout"
                elif shell not in (None, "bash", "sh"):
                    unsafe = f"it runs in the {shell} shell"
                found.append(
                    FailingCommand(
                        run.strip() + "\n",
                        confined or "",
                        source=name,
                        workflow=name,
                        job=str(job_id),
                        unsafe=unsafe,
                    )
                )
    return found


def resolve(repo: Path, finding: Finding | None) -> FailingCommand | None:
    """The failing command of a finding, or None when the diagnosis names no step."""
    if finding is None:
        return None
    details = finding.details
    step = details.get("step")
    if not isinstance(step, str) or not step.strip():
        return None
    job = details.get("job") if isinstance(details.get("job"), str) else None
    workflow = details.get("workflow") if isinstance(details.get("workflow"), str) else None
    found = find_in_workflows(repo, step, job=job, workflow=workflow)
    if found:
        runnable = [f for f in found if f.unsafe is None]
        # one script (several jobs may run the same one): that is the command
        scripts = {(f.script, f.working_directory) for f in runnable}
        if len(scripts) == 1:
            return runnable[0]
        if not runnable:
            return found[0]
    # from the log alone: the command the log shows, in the checkout's root
    script = step.removeprefix("Run ").strip()
    if not script:
        return None
    return FailingCommand(script + "\n", "", "the log", job=job, unsafe=why_unsafe(script))


def failing_check(command: FailingCommand, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """The command as a validation :class:`Check` of the engine."""
    from hee_monitor.action.fixes.strategies.interface import Check

    return Check(
        command.name,
        argv=("bash", "-eo", "pipefail", "-c", command.script),
        sandboxed=True,
        cwd=command.working_directory,
        timeout=timeout,
    )


def step_names(steps: Sequence[str]) -> list[str]:
    return [_norm(s.removeprefix("Run ")) for s in steps]
