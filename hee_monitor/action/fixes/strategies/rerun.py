"""Re-run a run's failed jobs through the API: the fix for transient failures."""

from __future__ import annotations

from hee_monitor.action.fixes.strategies.interface import FixContext, FixPlan, Requirements, Safety
from hee_monitor.core.errors import FixError


class RerunStrategy:
    id = "rerun"
    risk = 1
    safety = Safety.HIGH
    requirements = Requirements()

    def plan(self, ctx: FixContext) -> FixPlan:
        target = f"{ctx.repository or '(repository)'} run {ctx.run_id or '(run id)'}"
        return FixPlan(
            strategy=self.id,
            description=f"re-run the failed jobs of {target} through the API",
            commands=(),
            files=(),
            # the proof is the next run's conclusion, which the monitor records
            validation=(),
            risk=self.risk,
            safety=self.safety,
            remote_only=True,
        )

    def apply(self, ctx: FixContext) -> str:
        if ctx.rerun is None or ctx.repository is None or ctx.run_id is None:
            raise FixError(
                "re-running jobs needs the GitHub source, the repository and the run id",
                hint="pass --repo OWNER/NAME and --run-id, with a GitHub token configured",
            )
        try:
            run_id = int(ctx.run_id)
        except ValueError:
            raise FixError(f"run id {ctx.run_id!r} is not a number") from None
        ctx.rerun.rerun_failed_jobs(ctx.repository, run_id)
        return f"re-ran the failed jobs of {ctx.repository} run {run_id}"
