"""execute_fix: the fix transaction.

    load the strategy → capsule constraints and policy → attempt limit → pre-validation
    (the failing check must fail now) → backup + journal (fsync'd) → apply → post-validation
    (the check passes, configured checks that passed still pass, no protected path changed)
    → keep: commit on ``hee/fix/<pattern>-<run>`` through a private index, put the user's
      tree back, push and open the pull request (hee-safe), or leave it in the tree
      (pre-commit)
    → or roll back byte for byte
    → record the attempt (audit store) and the outcome (capsule ``auto_fix_history``).

A process killed anywhere between backup and settlement leaves its journal behind;
:meth:`FixEngine.recover` (run at start-up) restores the tree from it.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from hee_monitor.action.fixes import backup, failing_command, records
from hee_monitor.action.fixes.approvals import ApprovalRequest, ApprovalStore
from hee_monitor.action.fixes.backup import JournalEntry, RestoreReport, Snapshot
from hee_monitor.action.fixes.config import FixConfig, load_config
from hee_monitor.action.fixes.failing_command import FailingCommand
from hee_monitor.action.fixes.git import Git
from hee_monitor.action.fixes.outcomes import (
    ApprovalRequested,
    FixApplied,
    FixOutcome,
    FixPlanned,
    FixRolledBack,
    FixSkipped,
)
from hee_monitor.action.fixes.policy import Verdict, decide, protected_paths, touches_protected
from hee_monitor.action.fixes.strategies import registry
from hee_monitor.action.fixes.strategies.interface import (
    Check,
    CheckResult,
    FixContext,
    FixPlan,
    FixStrategy,
    Safety,
    upgrade_edits,
)
from hee_monitor.core.capsule import CapsuleStore
from hee_monitor.core.clock import Clock, SystemClock
from hee_monitor.core.errors import CapsuleError, ConfigError, FixError, HeeError
from hee_monitor.core.models import Finding, Severity
from hee_monitor.core.redact import redact
from hee_monitor.decision.risk import FixMode, row_for
from hee_monitor.sources.interface import PullRequests, Rerun

log = logging.getLogger(__name__)

BRANCH_PREFIX = "hee/fix/"


class Mode(enum.StrEnum):
    #: fix on a branch, open a pull request, leave the user's checkout as it was
    HEE_SAFE = "hee-safe"
    #: fix the working tree in place (as formatters do under pre-commit)
    PRE_COMMIT = "pre-commit"


@dataclass(frozen=True)
class EngineOptions:
    mode: Mode = Mode.HEE_SAFE
    dry_run: bool = False
    push: bool = True
    max_severity: Severity | None = None
    min_safety: Safety | None = None
    #: ``owner/name`` on GitHub (for the pull request and re-runs)
    repository: str | None = None
    run_id: str | None = None
    remote: str = "origin"
    base_branch: str | None = None
    protected_repositories: tuple[str, ...] = ()
    #: count attempts per failure fingerprint (off for a local pre-commit sweep)
    count_attempts: bool = True


@dataclass(frozen=True)
class Recovered:
    snapshot_id: str
    pattern_id: str
    strategy: str
    report: RestoreReport


@dataclass
class _Attempt:
    finding: Finding
    strategy: FixStrategy
    plan: FixPlan
    risk: int
    capsule_version: int | None
    snapshot: Snapshot | None = None
    attempt_id: int | None = None
    notes: list[str] = field(default_factory=list)


def branch_name(pattern_id: str, run_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{pattern_id}-{run_id}").strip("-.")
    return BRANCH_PREFIX + (safe or "fix")


def decision_impact(risk: int) -> str:
    return "low" if risk <= 3 else "medium" if risk <= 6 else "high"


def _iso(moment: datetime) -> str:
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


class FixEngine:
    def __init__(
        self,
        repo: Path,
        *,
        store: Engine,
        clock: Clock | None = None,
        config: FixConfig | None = None,
        capsule: CapsuleStore | None = None,
        options: EngineOptions | None = None,
        strategies: Mapping[str, FixStrategy] | None = None,
        pull_requests: PullRequests | None = None,
        rerun: Rerun | None = None,
        env: Mapping[str, str] | None = None,
        new_id: Callable[[], str] | None = None,
    ) -> None:
        self.env = dict(env if env is not None else os.environ)
        self.git = Git(repo, self.env)
        try:
            self.root = self.git.toplevel()
        except FixError:
            raise FixError(
                f"{repo} is not inside a git work tree",
                hint="fixes run only in git repositories (they need a backup and a branch)",
            ) from None
        self.store = store
        self.clock = clock or SystemClock()
        self.config = config if config is not None else load_config(self.root)
        self.capsule = capsule
        self.options = options or EngineOptions()
        self.strategies = strategies if strategies is not None else registry(self.config.strategies)
        self.pull_requests = pull_requests
        self.rerun = rerun
        self.approvals = ApprovalStore(store)
        self._new_id = new_id or (lambda: uuid.uuid4().hex[:12])
        self._run_id = (
            self.options.run_id
            or self.env.get("GITHUB_RUN_ID")
            or self.clock.now().strftime("%Y%m%d%H%M%S")
        )

    # ---- public ---------------------------------------------------------------------------

    def context(self, finding: Finding | None) -> FixContext:
        return FixContext(
            failing=failing_command.resolve(self.root, finding),
            repo=self.root,
            finding=finding,
            env=self.env,
            repository=self.options.repository,
            run_id=self._run_id,
            rerun=self.rerun,
            settings=self.config.settings,
            validation_overrides=self.config.validation,
        )

    def run(self, findings: Sequence[Finding]) -> list[FixOutcome]:
        """Fix each finding in turn (most likely root cause first), one outcome each.

        Two findings with the same strategy and details get one fix: the second would only
        redo the first (the same tool over the same tree)."""
        outcomes: list[FixOutcome] = []
        done: dict[tuple[str, str], str] = {}
        for finding in findings:
            key = (finding.fix_strategy or "", json.dumps(finding.details, sort_keys=True))
            if finding.fix_strategy and key in done:
                outcomes.append(
                    self._skip_factory(finding)(
                        f"the same fix ({finding.fix_strategy}) was already tried for {done[key]}"
                    )
                )
                continue
            outcome = self.execute_fix(finding)
            if isinstance(outcome, FixApplied | FixRolledBack | FixPlanned | ApprovalRequested):
                done[key] = finding.pattern_id
            outcomes.append(outcome)
        return outcomes

    def execute_fix(
        self, finding: Finding, *, approval: ApprovalRequest | None = None
    ) -> FixOutcome:
        skipped = self._skip_factory(finding)
        sid = finding.fix_strategy
        if not sid:
            return skipped("the pattern has no fix strategy")
        strategy = self.strategies.get(sid)
        if strategy is None:
            return skipped(f"unknown fix strategy {sid!r}")
        ctx = self.context(finding)
        missing = strategy.requirements.missing(self.root, ctx.path_env)
        if missing and ctx.working_directory:  # the project lives where the step ran
            missing = strategy.requirements.missing(self.root / ctx.working_directory,
                                                    ctx.path_env)  # fmt: skip
        if missing:
            return self._for_a_person(ctx, sid, "cannot run here: " + "; ".join(missing))
        try:
            plan = strategy.plan(ctx)
        except FixError as exc:
            return self._for_a_person(ctx, sid, f"cannot plan the fix: {exc.message}")
        plan = self._with_failing_command(strategy, plan, ctx.failing)
        payload = self.capsule.load() if self.capsule is not None else None
        now = self.clock.now()
        decision = decide(
            finding,
            plan,
            config=self.config,
            payload=payload,
            now=now,
            max_severity=self.options.max_severity,
            min_safety=self.options.min_safety,
            repository_protected=self.options.repository in self.options.protected_repositories,
            approved=approval is not None and approval.status == "approved",
        )
        if decision.verdict is Verdict.SKIP:
            return self._audited(skipped(decision.reason), finding)
        made = records.count_attempts(self.store, finding.fingerprint)
        if self.options.count_attempts and made >= self.config.max_attempts:
            return self._audited(
                skipped(
                    f"{made} fix attempts already made for this failure "
                    f"(limit {self.config.max_attempts}); a person has to look"
                ),
                finding,
            )
        if self.options.dry_run:
            return FixPlanned(
                finding.pattern_id,
                finding.fingerprint,
                plan,
                f"{decision.verdict.value}: {decision.reason}",
                decision.risk,
            )
        if decision.verdict is Verdict.APPROVAL:
            request = self.approvals.request(
                now=now,
                repository=self.options.repository,
                repo_path=str(self.root),
                run_id=self._run_id,
                finding=finding.to_json() | {"details": dict(finding.details)},
                plan=plan.to_json(),
                risk=decision.risk,
                reason=decision.reason,
            )
            return ApprovalRequested(
                request.id, finding.pattern_id, strategy.id, finding.fingerprint, decision.reason
            )
        version = payload.get("version") if payload else None
        attempt = _Attempt(
            finding, strategy, plan, decision.risk, version if isinstance(version, int) else None,
            notes=list(plan.notes),
        )  # fmt: skip
        with backup.repository_lock(self.git):
            outcome = self._transaction(ctx, attempt)
        if approval is not None:
            self.approvals.mark_executed(approval.id, outcome.kind, self.clock.now())
        return outcome

    def _for_a_person(self, ctx: FixContext, sid: str, why: str) -> FixOutcome:
        """No automatic fix: a skip with the reason, except for a failure kind only a
        person may fix (security): that becomes an approval request proposing what the log
        asks for (the upgrades with their advisory ids), so it always reaches someone."""
        finding = ctx.finding
        assert finding is not None
        edits = upgrade_edits(ctx)
        if row_for(finding.category).mode is not FixMode.MANUAL_ONLY or not edits:
            return self._skip_factory(finding)(why)
        if self.options.dry_run:
            return self._skip_factory(finding)(f"{why}; would ask a person: " + "; ".join(edits))
        plan = FixPlan(
            strategy=sid,
            description="proposal for a person (no automatic fix: " + why + ")",
            commands=(),
            files=(),
            validation=(),
            risk=10,
            safety=Safety.LOW,
            edits=edits,
        )
        request = self.approvals.request(
            now=self.clock.now(),
            repository=self.options.repository,
            repo_path=str(self.root),
            run_id=self._run_id,
            finding=finding.to_json() | {"details": dict(finding.details)},
            plan=plan.to_json(),
            risk=10,
            reason=f"{row_for(finding.category).kind} are fixed only with a person's approval",
        )
        return ApprovalRequested(request.id, finding.pattern_id, sid, finding.fingerprint,
                                 request.reason)  # fmt: skip

    def _with_failing_command(
        self, strategy: FixStrategy, plan: FixPlan, command: FailingCommand | None
    ) -> FixPlan:
        """The plan, proven first of all by re-running the command that failed (when the
        diagnosis names it, it can be re-run here and the strategy's fix is in the tree)."""
        if plan.remote_only or not getattr(strategy, "reruns_failing_command", True):
            return plan
        if command is None:  # no failing step named: the strategy's own check proves it
            return plan
        if command.unsafe is not None:
            return replace(
                plan,
                notes=(
                    *plan.notes,
                    f"the failing command ({command.script.strip()[:120]}) is not re-run "
                    f"here: {command.unsafe}; validated by the strategy's own check only",
                ),
            )
        check = failing_command.failing_check(command, self.config.command_timeout)
        return replace(plan, validation=(check, *plan.validation))

    def execute_approved(self, approval_id: str) -> FixOutcome:
        """Run the fix of an approved request (``hee-monitor fix apply --approval ID``)."""
        from hee_monitor.action.fixes.inputs import finding_from_json

        request = self.approvals.get(approval_id)
        if request.status != "approved":
            raise FixError(
                f"approval request {approval_id} is {request.status}, not approved",
                hint=f"hee-monitor approvals approve {approval_id} --by NAME --reason TEXT",
            )
        finding = finding_from_json(request.finding, f"approval {approval_id}")
        return self.execute_fix(finding, approval=request)

    def recover(self) -> list[Recovered]:
        """Restore the tree of every fix a dead process left unsettled."""
        recovered = []
        with backup.repository_lock(self.git):
            for entry in backup.pending_journals(self.git):
                report = backup.restore(self.git, entry.snapshot)
                backup.clear_journal(self.git, entry.snapshot.id)
                backup.discard(self.git, entry.snapshot)
                now = self.clock.now()
                records.audit(
                    self.store,
                    now,
                    "hee-monitor",
                    "fix.recovered",
                    entry.fingerprint,
                    f"{entry.strategy}: restored {len(report.restored)}, "
                    f"deleted {len(report.deleted)} path(s) after an interrupted fix",
                )
                self._record_history(
                    now,
                    pattern_id=entry.pattern_id,
                    fingerprint=entry.fingerprint,
                    strategy=entry.strategy,
                    success=False,
                    rollback=True,
                    branch=None,
                    risk=0,
                    capsule_version=None,
                )
                recovered.append(
                    Recovered(entry.snapshot.id, entry.pattern_id, entry.strategy, report)
                )
            # backups never outlive their fix: refs no unsettled fix owns go too
            owned = {entry.snapshot.ref for entry in backup.pending_journals(self.git)}
            for ref in backup.orphaned_refs(self.git, owned):
                backup.discard_orphan(self.git, ref)
                records.audit(
                    self.store,
                    self.clock.now(),
                    "hee-monitor",
                    "fix.backup_removed",
                    ref,
                    "removed a backup ref that no unfinished fix owned",
                )
        return recovered

    # ---- the transaction -------------------------------------------------------------------

    def _transaction(self, ctx: FixContext, a: _Attempt) -> FixOutcome:
        finding, plan = a.finding, a.plan
        if plan.remote_only:
            return self._remote(ctx, a)
        if not plan.validation:
            return self._skip_factory(finding)(
                "the strategy has no validation; an unproven change is never kept"
            )
        configured = self._configured_checks()  # refuses checks that cannot run, first
        # the checks run before the fix may write into the tree too (caches, build
        # output): they run inside a backup window of their own, restored byte for byte
        probe = backup.take_snapshot(self.git, self._new_id(), self.clock.now(), self._own_paths())
        backup.write_journal(
            self.git,
            JournalEntry(probe, finding.pattern_id, "pre-validation", finding.fingerprint,
                         _iso(self.clock.now()), os.getpid()),
        )  # fmt: skip
        try:
            before = self._run_checks(plan.validation)
            baseline = {c: c.run(self.root, self.env).passed for c in configured}
        finally:
            self._restore(probe)
            self._settle(probe)
        reproduced = [r for c, r in zip(plan.validation, before, strict=True) if c.sandboxed]
        if reproduced and all(r.passed for r in reproduced):
            return self._audited(
                self._skip_factory(finding)(
                    f"{reproduced[0].name} passes here: the failure does not reproduce in "
                    "this checkout, so no fix could be proven"
                ),
                finding,
            )
        if all(r.passed for r in before):
            return self._audited(self._skip_factory(finding)("already passing"), finding)

        now = self.clock.now()
        # the attempt row is written before the snapshot: nothing of hee-monitor's own
        # changes inside the backup window
        a.attempt_id = records.start_attempt(
            self.store,
            fingerprint=finding.fingerprint,
            pattern_id=finding.pattern_id,
            strategy=a.strategy.id,
            repository=self.options.repository,
            run_id=self._run_id,
            started=now,
        )
        a.snapshot = backup.take_snapshot(self.git, self._new_id(), now, self._own_paths())
        backup.write_journal(
            self.git,
            JournalEntry(
                a.snapshot, finding.pattern_id, a.strategy.id, finding.fingerprint, _iso(now),
                os.getpid(),
            ),
        )  # fmt: skip
        try:
            try:
                applied_log = a.strategy.apply(ctx)
            except FixError as exc:
                return self._rollback(a, f"the strategy failed: {exc.message}", exc.hint or "")
            post_tree, diff = backup.changed_paths(self.git, a.snapshot)
            if not diff:
                return self._rollback(a, "the strategy changed nothing", applied_log)
            changed = [p for _, p in diff]
            hit = touches_protected(changed, protected_paths(self.config, self._payload()))
            if hit:
                return self._rollback(a, "the fix changed protected path(s): " + ", ".join(hit))
            results = self._run_checks(plan.validation)
            failed = [r for r in results if not r.passed]
            if failed:
                return self._rollback(
                    a,
                    "validation failed: " + ", ".join(r.name for r in failed),
                    "\n".join(r.output for r in failed),
                )
            for check, passed_before in baseline.items():
                if passed_before:
                    result = check.run(self.root, self.env)
                    results.append(result)
                    if not result.passed:
                        return self._rollback(
                            a, f"the fix broke the configured check {check.name}", result.output
                        )
            ignored = self.git.ignored([p for p in changed if p not in self._tracked(changed)])
            committable = [p for p in changed if p not in ignored]
            if self.options.mode is Mode.PRE_COMMIT:
                return self._keep_in_tree(a, committable, results)
            return self._commit_on_branch(a, post_tree, diff, committable, results, before)
        except BaseException:
            # anything unexpected (a bug, Ctrl-C): put the tree back, then let it propagate
            if a.snapshot is not None and self._journal_open(a.snapshot):
                self._restore(a.snapshot)
                self._finish(a, "rolled-back", "interrupted")
            raise

    def _remote(self, ctx: FixContext, a: _Attempt) -> FixOutcome:
        now = self.clock.now()
        a.attempt_id = records.start_attempt(
            self.store,
            fingerprint=a.finding.fingerprint,
            pattern_id=a.finding.pattern_id,
            strategy=a.strategy.id,
            repository=self.options.repository,
            run_id=self._run_id,
            started=now,
        )
        try:
            done = a.strategy.apply(ctx)
        except HeeError as exc:
            self._finish(a, "failed", exc.message)
            return self._skip_factory(a.finding)(f"the strategy failed: {exc.message}")
        self._finish(a, "applied", done)
        self._record_attempt(a, now, success=True, rollback=False, branch=None)
        return FixApplied(
            a.finding.pattern_id, a.strategy.id, a.finding.fingerprint, (), (), risk=a.risk,
            notes=(done,),
        )  # fmt: skip

    def _keep_in_tree(
        self, a: _Attempt, files: list[str], results: list[CheckResult]
    ) -> FixApplied:
        assert a.snapshot is not None
        self._settle(a.snapshot)
        self._finish(a, "applied", "kept in the working tree: " + ", ".join(files))
        self._record_attempt(a, self.clock.now(), success=True, rollback=False, branch=None)
        return FixApplied(
            a.finding.pattern_id,
            a.strategy.id,
            a.finding.fingerprint,
            tuple(files),
            tuple(results),
            risk=a.risk,
            notes=tuple(a.notes),
            plan=a.plan,
        )

    def _commit_on_branch(
        self,
        a: _Attempt,
        post_tree: str,
        diff: list[tuple[str, str]],
        files: list[str],
        results: list[CheckResult],
        before: list[CheckResult],
    ) -> FixOutcome:
        assert a.snapshot is not None
        head = self.git.head()
        if head is None:
            return self._rollback(a, "the repository has no commit to branch from")
        if not files:
            return self._rollback(a, "the fix changed only ignored files; nothing to commit")
        user_changes = {p for _, p in self.git.diff_trees(self.git.tree_of(head), a.snapshot.tree)}
        dirty = [p for p in files if p in user_changes]
        if dirty:
            return self._rollback(
                a,
                "uncommitted changes in file(s) the fix touched: " + ", ".join(dirty[:10]),
                "commit or stash them, then run the fix again",
            )
        branch = self._free_branch(branch_name(a.finding.pattern_id, self._run_id))
        commit = self._commit(head, post_tree, diff, files, a)
        self.git.update_ref(f"refs/heads/{branch}", commit, "0" * 40)
        # the fix lives on its branch; the user's checkout goes back to how it was
        self._restore(a.snapshot)
        self._settle(a.snapshot)
        pr_url = self._publish(branch, a, results, before)
        self._finish(a, "applied", f"{branch} {commit}")
        self._record_attempt(a, self.clock.now(), success=True, rollback=False, branch=branch)
        return FixApplied(
            a.finding.pattern_id,
            a.strategy.id,
            a.finding.fingerprint,
            tuple(files),
            tuple(results),
            branch=branch,
            commit=commit,
            pull_request=pr_url,
            risk=a.risk,
            notes=tuple(a.notes),
            plan=a.plan,
        )

    def _commit(
        self, head: str, post_tree: str, diff: list[tuple[str, str]], files: list[str], a: _Attempt
    ) -> str:
        assert a.snapshot is not None
        wanted = set(files)
        index = a.snapshot.directory / "commit-index"
        self.git.run("read-tree", head, index=index)
        listing = self.git.run("ls-tree", "-r", "-z", "--full-tree", post_tree).stdout
        lines: list[bytes] = []
        present = set()
        for entry in listing.split(b"\0"):
            if not entry:
                continue
            meta, _, path = entry.partition(b"\t")
            name = path.decode("utf-8", "surrogateescape")
            if name in wanted:
                mode, _kind, sha = meta.split(b" ")
                lines.append(mode + b" " + sha + b"\t" + path)
                present.add(name)
        for name in wanted - present:  # deleted by the fix
            lines.append(b"0 " + b"0" * 40 + b"\t" + name.encode("utf-8", "surrogateescape"))
        self.git.run("update-index", "-z", "--index-info", index=index, stdin=b"\0".join(lines))
        tree = self.git.out("write-tree", index=index)
        index.unlink(missing_ok=True)
        f = a.finding
        message = (
            f"Fix {f.pattern_id} with {a.strategy.id}\n\n{a.plan.description}.\n"
            f"Validated by: {', '.join(c.describe() for c in a.plan.validation)}\n\n"
            f"Failure fingerprint: {f.fingerprint}\nRun: {self._run_id}\n"
        )
        return self.git.commit_tree(tree, message, parents=(head,))

    def _free_branch(self, wanted: str) -> str:
        protected = {self.git.current_branch(), self.git.default_branch(), self.options.base_branch}
        name, n = wanted, 1
        while self.git.ref_exists(f"refs/heads/{name}") or name in protected:
            n += 1
            name = f"{wanted}-{n}"
        return name

    def _publish(
        self, branch: str, a: _Attempt, results: list[CheckResult], before: list[CheckResult]
    ) -> str | None:
        if not self.options.push:
            a.notes.append(f"--no-push: the fix is on the local branch {branch}")
            return None
        if not self.options.repository:
            a.notes.append(
                f"no GitHub repository given (--repo): the fix is on the local branch {branch}"
            )
            return None
        if self.pull_requests is None:
            a.notes.append(
                "no GitHub token (GITHUB_TOKEN) to push and open the pull request: "
                f"the fix is on the local branch {branch}"
            )
            return None
        base = self.options.base_branch or self.git.default_branch()
        push = self.git.run(
            "push", self.options.remote, f"refs/heads/{branch}:refs/heads/{branch}", check=False
        )
        if push.returncode != 0:
            a.notes.append(
                f"push of {branch} to {self.options.remote} failed: "
                + push.stderr.decode("utf-8", "replace").strip()[-300:]
            )
            return None
        try:
            pull = self.pull_requests.open_pull_request(
                self.options.repository,
                branch,
                base,
                redact(f"Fix {a.finding.pattern_id}: {a.finding.title}", self._secrets()),
                # evidence and tool output come from logs: no token reaches GitHub in a body
                redact(
                    pull_request_body(a.finding, a.plan, a.risk, results, before),
                    self._secrets(),
                ),
            )
        except HeeError as exc:
            a.notes.append(f"the pull request could not be opened: {exc.message}")
            return None
        url = getattr(pull, "html_url", None)
        return str(url) if url else None

    def _rollback(self, a: _Attempt, reason: str, output: str = "") -> FixRolledBack:
        assert a.snapshot is not None
        report = self._restore(a.snapshot)
        self._settle(a.snapshot)
        self._finish(a, "rolled-back", f"{reason}\n{output}")
        self._record_attempt(a, self.clock.now(), success=False, rollback=True, branch=None)
        return FixRolledBack(
            a.finding.pattern_id,
            a.strategy.id,
            a.finding.fingerprint,
            reason,
            output[-4000:],
            report.restored + report.deleted,
            report.seconds,
        )

    # ---- helpers ---------------------------------------------------------------------------

    def _restore(self, snapshot: Snapshot) -> RestoreReport:
        return backup.restore(self.git, snapshot)

    def _settle(self, snapshot: Snapshot) -> None:
        backup.clear_journal(self.git, snapshot.id)
        backup.discard(self.git, snapshot)

    def _journal_open(self, snapshot: Snapshot) -> bool:
        return (backup.journal_dir(self.git) / f"{snapshot.id}.json").exists()

    def _finish(self, a: _Attempt, outcome: str, detail: str) -> None:
        if a.attempt_id is not None:
            records.finish_attempt(self.store, a.attempt_id, outcome, detail)
        records.audit(
            self.store,
            self.clock.now(),
            "hee-monitor",
            f"fix.{outcome}",
            a.finding.fingerprint,
            f"{a.finding.pattern_id} {a.strategy.id}: {detail}"[:4000],
        )

    def _audited(self, outcome: FixSkipped, finding: Finding) -> FixSkipped:
        records.audit(
            self.store,
            self.clock.now(),
            "hee-monitor",
            "fix.skipped",
            finding.fingerprint,
            f"{finding.pattern_id}: {outcome.reason}",
        )
        return outcome

    def _skip_factory(self, finding: Finding) -> Callable[[str], FixSkipped]:
        def make(reason: str) -> FixSkipped:
            return FixSkipped(reason, finding.pattern_id, finding.fix_strategy, finding.fingerprint)

        return make

    def _run_checks(self, checks: Sequence[Check]) -> list[CheckResult]:
        return [c.run(self.root, self.env) for c in checks]

    def _configured_checks(self) -> list[Check]:
        """The repository's ``checks:``; one that cannot run here is a configuration error
        now, before anything changes (a check that cannot start would fail at baseline and
        be taken for one that was failing already, letting the fix through without it)."""
        for index, argv in enumerate(self.config.checks):
            program = argv[0]
            found = (
                (self.root / program).is_file()
                if "/" in program
                else shutil.which(program, path=self.env.get("PATH", os.defpath)) is not None
            )
            if not found:
                raise ConfigError(
                    f"fixes.checks[{index}] cannot run here: {program!r} is not "
                    + ("in the repository" if "/" in program else "on PATH"),
                    hint="install it, fix the path, or remove the check from .hee-monitor.yml",
                )
        return [Check(" ".join(argv), argv=argv) for argv in self.config.checks]

    def _tracked(self, paths: list[str]) -> set[str]:
        if not paths:
            return set()
        out = self.git.run("ls-files", "-z", "--", *paths).stdout
        return {p for p in out.decode("utf-8", "surrogateescape").split("\0") if p}

    def _own_paths(self) -> tuple[str, ...]:
        """hee-monitor's own files inside the repository, kept out of backups and fixes."""
        own = {"state_capsules"}
        candidates = [getattr(self.capsule, "path", None)]
        database = (
            self.store.url.database if self.store.url.get_backend_name() == "sqlite" else None
        )
        if database:
            candidates += [Path(database + suffix) for suffix in ("", "-wal", "-shm", "-journal")]
        for candidate in candidates:
            if isinstance(candidate, Path):
                try:
                    own.add(str(candidate.resolve().relative_to(self.root.resolve())))
                except ValueError:
                    continue
        return tuple(sorted(own))

    def _secrets(self) -> list[str]:
        names = ("GITHUB_TOKEN", "HEE_GITHUB_TOKEN", "GH_TOKEN", "HEE_SIGNING_KEY")
        return [self.env[n] for n in names if self.env.get(n)]

    def _payload(self) -> dict[str, Any] | None:
        return self.capsule.load() if self.capsule is not None else None

    def _record_attempt(
        self, a: _Attempt, now: datetime, *, success: bool, rollback: bool, branch: str | None
    ) -> None:
        """Record an attempt's result in the capsule's fix history."""
        self._record_history(
            now,
            pattern_id=a.finding.pattern_id,
            fingerprint=a.finding.fingerprint,
            strategy=a.strategy.id,
            success=success,
            rollback=rollback,
            branch=branch,
            risk=a.risk,
            capsule_version=a.capsule_version,
        )

    def _record_history(
        self,
        now: datetime,
        *,
        pattern_id: str,
        fingerprint: str,
        strategy: str,
        success: bool,
        rollback: bool,
        branch: str | None,
        risk: int,
        capsule_version: int | None,
    ) -> None:
        if self.capsule is None:
            return
        entry = {
            "timestamp": _iso(now),
            "pattern_id": pattern_id,
            "success": success,
            "rollback": rollback,
            "fingerprint": fingerprint,
            "strategy": strategy,
            "run_id": self._run_id,
            "branch": branch,
            "hee_context": {
                "state_capsule_version": capsule_version,
                "decision_impact": decision_impact(risk),
                # the user's checkout is as they left it (hee-safe) or holds only the
                # validated fix (pre-commit)
                "context_preservation": True,
            },
        }

        def mutate(payload: dict[str, Any]) -> None:
            payload.setdefault("auto_fix_history", []).append(entry)

        try:
            self.capsule.update(mutate, now=now)
        except CapsuleError as exc:
            # the fix itself is settled; losing the history line must not undo it
            log.warning("the fix outcome was not recorded in the capsule: %s", exc.message)


def pull_request_body(
    finding: Finding,
    plan: FixPlan,
    risk: int,
    results: Sequence[CheckResult],
    before: Sequence[CheckResult],
) -> str:
    evidence = "\n".join(
        f"lines {e.start_line}-{e.end_line}:\n{e.text}" for e in finding.evidence[:5]
    )
    steps = [f"- `{' '.join(c)}`" for c in plan.commands] + [f"- {e}" for e in plan.edits]
    checks = "\n".join(
        f"- {'passed' if r.passed else 'FAILED'}: `{r.name}`"
        + (f"\n\n```\n{r.output[-1500:]}\n```" if r.output.strip() else "")
        for r in results
    )
    failing = "\n".join(f"```\n{r.output[-1500:]}\n```" for r in before if not r.passed)
    return "\n".join(
        [
            f"## Diagnosis\n\n**{finding.pattern_id}** — {finding.title}",
            f"category {finding.category}, severity {finding.severity.value}, "
            f"confidence {finding.confidence:.2f}, fingerprint `{finding.fingerprint}`",
            f"\n## Evidence\n\n```\n{evidence or '(none recorded)'}\n```",
            f"\n## Fix\n\n{plan.strategy}: {plan.description} (risk {risk}/10, "
            f"{plan.safety.value} safety)\n" + "\n".join(steps),
            f"\n## Validation\n\nBefore the fix the check failed:\n{failing}\n\nAfter the fix:\n"
            + checks,
            "\n---\nOpened by hee-monitor. The change was validated in a backup-protected "
            "transaction; the default branch was not touched.",
        ]
    )
