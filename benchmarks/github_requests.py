"""Rate-limit cost of polling GitHub, and webhook hand-over latency.

Run from the repository root:  python benchmarks/github_requests.py [--repos 50] [--cycles 5]

1. N repositories on the loopback GitHub fake; the GitHub source polls them once (first
   cycle), then several idle cycles and several cycles where a tenth of the repositories
   got a new run. Figures: requests counted against the rate limit per repository per
   cycle (GitHub does not count 304 answers; neither does the fake). Target: at most 1 per
   repository per idle cycle, so 1,000 repositories polled every 60 s stay within 5,000
   requests an hour. Baseline: a naive poller that lists runs without ETag each cycle.
2. 200 signed ``workflow_run`` deliveries to the webhook server on loopback: time from
   sending to the callback running, p50/p95. Target: at most 1 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import urllib3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from github import Auth, Github  # noqa: E402

from hee_monitor.core.clock import SystemClock  # noqa: E402
from hee_monitor.sources.github.source import GitHubSource  # noqa: E402
from hee_monitor.sources.github.webhook import WebhookIntake, WebhookServer, signature  # noqa: E402
from hee_monitor.sources.interface import InMemoryPollCursors, InMemoryProcessedRuns  # noqa: E402
from tests.fakes.github import GitHubFake, JobSpec  # noqa: E402

TOKEN = "bench-token"
TARGET_PER_REPO_CYCLE = 1.0
HOURLY_LIMIT = 5000
POLL_SECONDS = 60
FLEET = 1000


def counted_during(fake: GitHubFake, action: object) -> int:
    before = fake.counted()
    assert callable(action)
    action()
    return fake.counted() - before


def polling(repos: int, cycles: int) -> None:
    names = [f"org/repo-{i:03d}" for i in range(repos)]
    with GitHubFake(rate_limit=10**7) as fake:
        fake.require_token(TOKEN)
        for i, name in enumerate(names):
            fake.add_run(name, conclusion="success")
            if i % 5 == 0:
                fake.add_run(name, conclusion="failure", jobs=[JobSpec("test", "failure")])
        state, cursors = InMemoryProcessedRuns(), InMemoryPollCursors()

        def new_source() -> GitHubSource:
            # the monitor keeps both registers in its audit store: they outlive a restart
            return GitHubSource(
                names,
                token=TOKEN,
                api_url=fake.url,
                clock=SystemClock(),
                since=SystemClock().now() - timedelta(days=1),
                write_interval=None,
                state=state,
                cursors=cursors,
            )

        source = new_source()
        first = counted_during(fake, lambda: list(source.poll()))
        idle = [counted_during(fake, lambda: list(source.poll())) for _ in range(cycles)]
        source.close()
        source = new_source()  # the monitor restarts
        restarted = counted_during(fake, lambda: list(source.poll()))
        active = []
        for cycle in range(cycles):
            for name in names[cycle % 10 :: 10]:  # a tenth of the fleet got a run
                fake.add_run(name, conclusion="failure" if cycle % 2 else "success")
            active.append(counted_during(fake, lambda: list(source.poll())))
        source.close()

        gh = Github(
            auth=Auth.Token(TOKEN),
            base_url=fake.url,
            seconds_between_requests=None,
            seconds_between_writes=None,
            lazy=True,
            retry=None,
        )

        def naive_cycle() -> None:
            for name in names:
                gh.get_repo(name).get_workflow_runs(status="completed").get_page(0)

        naive = [counted_during(fake, naive_cycle) for _ in range(cycles)]
        gh.close()

    idle_per_repo = statistics.mean(idle) / repos
    active_per_repo = statistics.mean(active) / repos
    naive_per_repo = statistics.mean(naive) / repos
    hourly = idle_per_repo * FLEET * 3600 / POLL_SECONDS
    naive_hourly = naive_per_repo * FLEET * 3600 / POLL_SECONDS
    print(f"GitHub polling, {repos} repositories on the loopback fake, {cycles} cycles each")
    print(f"  first cycle:            {first / repos:.2f} counted requests per repository")
    print(
        f"  idle cycle:             {idle_per_repo:.2f} counted requests per repository "
        f"(target <= {TARGET_PER_REPO_CYCLE:.0f}: {'met' if idle_per_repo <= 1 else 'MISSED'})"
    )
    print(f"  first cycle after restart: {restarted / repos:.2f} counted requests per repository")
    print(f"  10% of repos active:    {active_per_repo:.2f} counted requests per repository")
    print(f"  naive poller (no ETag): {naive_per_repo:.2f} counted requests per repository")
    ratio = idle_per_repo / naive_per_repo if naive_per_repo else float("nan")
    print(f"  idle cost vs naive:     {ratio:.2f}x")
    print(
        f"  {FLEET} repositories every {POLL_SECONDS} s, idle: {hourly:,.0f} requests/hour "
        f"(limit {HOURLY_LIMIT:,}); naive: {naive_hourly:,.0f}/hour"
    )


def webhook_latency(deliveries: int) -> None:
    latencies: list[float] = []
    sent: dict[int, float] = {}
    done = threading.Event()
    secret = "bench-secret"

    def on_run(repo: str, run_id: int, attempt: int) -> None:
        latencies.append(time.perf_counter() - sent[run_id])
        if len(latencies) == deliveries:
            done.set()

    http = urllib3.PoolManager(retries=False)
    with WebhookServer(WebhookIntake(secret, on_run)) as server:
        for run_id in range(1, deliveries + 1):
            body = json.dumps(
                {
                    "action": "completed",
                    "repository": {"full_name": "org/app"},
                    "workflow_run": {"id": run_id, "run_attempt": 1, "conclusion": "failure"},
                }
            ).encode()
            headers = {
                "X-GitHub-Event": "workflow_run",
                "X-GitHub-Delivery": f"delivery-{run_id}",
                "X-Hub-Signature-256": signature(secret, body),
                "Content-Type": "application/json",
            }
            sent[run_id] = time.perf_counter()
            response = http.request("POST", server.url, body=body, headers=headers)
            assert response.status == 202, response.status
        done.wait(30)
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2]
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    print(f"Webhook delivery → callback, {len(latencies)} deliveries on loopback")
    print(
        f"  p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms "
        f"(target <= 1000 ms: {'met' if p95 <= 1 else 'MISSED'}; "
        f"p95 is {p95 / 1.0:.4f} of the target)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repos", type=int, default=50)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--deliveries", type=int, default=200)
    args = parser.parse_args()
    polling(args.repos, args.cycles)
    webhook_latency(args.deliveries)


if __name__ == "__main__":
    main()
