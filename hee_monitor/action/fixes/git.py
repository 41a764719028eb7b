"""Git plumbing for the fix engine.

Everything here leaves the user's checkout alone: snapshots and fix commits are built in
temporary index files (``GIT_INDEX_FILE``), and refs are written with ``update-ref``; the
user's HEAD, index and branch never move.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from hee_monitor.core.errors import FixError

#: byte-for-byte: no line-ending conversion while hee-monitor snapshots or restores
_NEUTRAL_CONFIG = (
    "-c",
    "core.autocrlf=false",
    "-c",
    "core.safecrlf=false",
    "-c",
    "core.fsmonitor=",
)

FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "hee-monitor",
    "GIT_AUTHOR_EMAIL": "hee-monitor@users.noreply.github.com",
    "GIT_COMMITTER_NAME": "hee-monitor",
    "GIT_COMMITTER_EMAIL": "hee-monitor@users.noreply.github.com",
}


class Git:
    """Runs git in one repository."""

    def __init__(self, repo: Path, env: Mapping[str, str] | None = None) -> None:
        self.repo = repo
        self.env = dict(env if env is not None else os.environ)
        self._toplevel: Path | None = None
        self._git_dir: Path | None = None

    def run(
        self,
        *args: str,
        index: Path | None = None,
        stdin: bytes | None = None,
        check: bool = True,
        extra_env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        env = dict(self.env)
        if index is not None:
            env["GIT_INDEX_FILE"] = str(index)
        if extra_env:
            env.update(extra_env)
        try:
            proc = subprocess.run(
                ["git", *_NEUTRAL_CONFIG, *args],
                cwd=self.repo,
                env=env,
                input=stdin,
                capture_output=True,
                check=False,
            )
        except FileNotFoundError:
            raise FixError("git is not installed", hint="install git and retry") from None
        if check and proc.returncode != 0:
            raise FixError(
                f"git {args[0]} failed in {self.repo}: "
                + proc.stderr.decode("utf-8", "replace").strip()[-500:],
                hint="is this a git repository, and is it in a consistent state?",
            )
        return proc

    def out(self, *args: str, index: Path | None = None, stdin: bytes | None = None) -> str:
        return self.run(*args, index=index, stdin=stdin).stdout.decode("utf-8", "replace").strip()

    # ---- facts ------------------------------------------------------------------------------

    def toplevel(self) -> Path:
        if self._toplevel is None:
            self._toplevel = Path(self.out("rev-parse", "--show-toplevel"))
        return self._toplevel

    def git_dir(self) -> Path:
        if self._git_dir is None:
            self._git_dir = Path(self.out("rev-parse", "--absolute-git-dir"))
        return self._git_dir

    def head(self) -> str | None:
        proc = self.run("rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
        return proc.stdout.decode().strip() or None

    def current_branch(self) -> str | None:
        proc = self.run("symbolic-ref", "-q", "--short", "HEAD", check=False)
        return proc.stdout.decode().strip() or None

    def default_branch(self) -> str:
        proc = self.run("symbolic-ref", "-q", "--short", "refs/remotes/origin/HEAD", check=False)
        name = proc.stdout.decode().strip()
        if name:
            return name.split("/", 1)[1]
        for candidate in ("main", "master"):
            if self.ref_exists(f"refs/heads/{candidate}"):
                return candidate
        configured = self.run("config", "init.defaultBranch", check=False).stdout.decode().strip()
        return configured or self.current_branch() or "main"

    def ref_exists(self, ref: str) -> bool:
        return self.run("rev-parse", "-q", "--verify", ref, check=False).returncode == 0

    def tree_of(self, commit: str) -> str:
        return self.out("rev-parse", f"{commit}^{{tree}}")

    def commit_env(self) -> dict[str, str]:
        """A committer identity: the configured one, else hee-monitor's own."""
        env: dict[str, str] = {}
        has_name = self.run("config", "user.name", check=False).returncode == 0
        has_email = self.run("config", "user.email", check=False).returncode == 0
        for key, value in FALLBACK_IDENTITY.items():
            configured = has_name if key.endswith("NAME") else has_email
            if key not in self.env and not configured:
                env[key] = value
        return env

    # ---- trees and commits ------------------------------------------------------------------

    def scan_tree(self, index: Path, *, include_ignored: bool, excludes: Sequence[str] = ()) -> str:
        """Hash the whole work tree into ``index`` and return its tree id.

        Files whose stat data match the index entry are not re-read, so scanning again
        with the index of an earlier scan costs about one ``lstat`` per file.
        """
        args = ["add", "--all"]
        if include_ignored:
            args.append("--force")
        self.run(*args, "--", ":/", *(f":(exclude,top){p}" for p in excludes), index=index)
        return self.out("write-tree", index=index)

    def commit_tree(self, tree: str, message: str, parents: Sequence[str] = ()) -> str:
        args = ["commit-tree", tree, "-m", message]
        for parent in parents:
            args += ["-p", parent]
        return self.run(*args, extra_env=self.commit_env()).stdout.decode().strip()

    def diff_trees(self, old: str, new: str) -> list[tuple[str, str]]:
        """(status letter, path) for every file that differs; renames are add + delete."""
        raw = self.run("diff-tree", "-r", "-z", "--no-renames", "--name-status", old, new).stdout
        parts = raw.decode("utf-8", "surrogateescape").split("\0")
        pairs = []
        for i in range(0, len(parts) - 1, 2):
            if parts[i]:
                pairs.append((parts[i][0], parts[i + 1]))
        return pairs

    def ignored(self, paths: Sequence[str]) -> set[str]:
        if not paths:
            return set()
        proc = self.run(
            "check-ignore", "-z", "--stdin", stdin="\0".join(paths).encode() + b"\0", check=False
        )
        return {p for p in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if p}

    def update_ref(self, ref: str, new: str, old: str | None = None) -> None:
        args = ["update-ref", ref, new]
        if old is not None:
            args.append(old)
        self.run(*args)

    def delete_ref(self, ref: str) -> None:
        self.run("update-ref", "-d", ref, check=False)
