"""Alert router benchmark: noise reduction and delivery latency on loopback.

1. Burst: 1,000 failures of 5 fingerprints in one repository arrive over 30 minutes
   (the monitor flushes every minute). Count what each channel delivers within one repeat
   interval, against the baseline "one alert per failure" (1,000 per channel).
   Target: ≤ 5 per channel.
2. Latency: 200 critical alerts with distinct fingerprints, each delivered at once to a
   real SMTP server (aiosmtpd) and a webhook server on 127.0.0.1. detected → delivered,
   p50/p95, against the brief's target (alert within 1 minute of detection).

Run from the repository root:  python benchmarks/alerts_bench.py
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hee_monitor.action.alerts import AlertRouter, DeliveryResult  # noqa: E402
from hee_monitor.action.alerts.channels import AppriseNotifier, ConsoleNotifier  # noqa: E402
from hee_monitor.action.alerts.interface import Notifier  # noqa: E402
from hee_monitor.action.alerts.matrix import DEFAULT_MATRIX  # noqa: E402
from hee_monitor.core.clock import Clock, FakeClock, SystemClock  # noqa: E402
from hee_monitor.core.models import Alert, HealthState, Severity  # noqa: E402
from hee_monitor.record.db import open_engine  # noqa: E402
from tests.fakes.smtp import FakeSMTP  # noqa: E402
from tests.fakes.webhook import FakeWebhook  # noqa: E402

BURST = 1_000
FINGERPRINTS = 5
LATENCY_ALERTS = 200


def notifiers(smtp: FakeSMTP, hook: FakeWebhook) -> dict[str, Notifier]:
    # min_interval=0: measure the router, not apprise's politeness pause between sends
    return {
        "console": ConsoleNotifier(file=io.StringIO()),
        "email": AppriseNotifier("email", [smtp.url()], min_interval=0),
        "slack": AppriseNotifier("slack", [f"json://{hook.base}/slack/T0KEN"], min_interval=0),
        "sms": AppriseNotifier(
            "sms", [f"smseagle://SMSTOKEN123@{hook.base}/+15551234567"], min_interval=0
        ),
    }


def make_router(db: Path, clock: Clock, smtp: FakeSMTP, hook: FakeWebhook) -> AlertRouter:
    return AlertRouter(
        open_engine(f"sqlite:///{db}"),
        clock,
        notifiers=notifiers(smtp, hook),
        matrix=DEFAULT_MATRIX,
    )


def burst(tmp: Path, smtp: FakeSMTP, hook: FakeWebhook, severity: Severity) -> None:
    clock = FakeClock()
    router = make_router(tmp / f"burst-{severity.value}.db", clock, smtp, hook)
    t0 = clock.now()
    repeat = router.settings.repeat_interval
    results: list[DeliveryResult] = []
    started = time.perf_counter()
    for i in range(BURST):
        now = t0 + timedelta(seconds=i * 1800 / BURST)
        alert = Alert(
            repo="acme/api",
            severity=severity,
            title=f"failure kind {i % FINGERPRINTS}",
            body="…",
            fingerprint=f"fp-{i % FINGERPRINTS}",
            created_at=now,
        )
        results.extend(router.submit(alert, state=HealthState.FAILED, now=now).deliveries)
        if i % (BURST // 30) == 0:  # the monitor's cycle: once a minute
            results.extend(router.flush(now))
    minute = t0
    while minute < t0 + repeat - timedelta(minutes=1):
        minute += timedelta(minutes=1)
        results.extend(router.flush(minute))
    elapsed = time.perf_counter() - started
    per_channel = Counter(r.channel for r in results if r.delivered)
    told = Counter()
    for r in results:
        if r.delivered:
            told[r.channel] += r.count
    channels = DEFAULT_MATRIX[severity].channels
    print(f"\n{severity.value} burst: {BURST} failures, {FINGERPRINTS} fingerprints, 1 repository,")
    print(f"  over 30 min; deliveries within one repeat interval ({repeat}):")
    print(f"  {'channel':8} {'delivered':>9} {'baseline':>9} {'ratio':>9} {'failures covered':>17}")
    for ch in channels:
        n = per_channel[ch]
        ratio = BURST / n if n else float("inf")
        print(f"  {ch:8} {n:>9} {BURST:>9} {ratio:>8.0f}x {told[ch]:>17}")
    worst = max(per_channel[ch] for ch in channels)
    verdict = "meets" if worst <= FINGERPRINTS else "MISSES"
    print(
        f"  worst channel: {worst} (target ≤ {FINGERPRINTS}: {verdict}); "
        f"routing time {elapsed:.2f} s, {1000 * elapsed / BURST:.2f} ms per failure"
    )
    pending = sum(g.count for g in router.pending_groups())
    print(f"  still grouped for the next repeat: {pending} failures")


def latency(tmp: Path, smtp: FakeSMTP, hook: FakeWebhook) -> None:
    clock = SystemClock()
    router = make_router(tmp / "latency.db", clock, smtp, hook)
    by_channel: dict[str, list[float]] = {}
    started = time.perf_counter()
    for i in range(LATENCY_ALERTS):
        alert = Alert(
            repo="acme/api",
            severity=Severity.CRITICAL,
            title=f"failure {i}",
            body="…",
            fingerprint=f"lat-{i}",
            created_at=clock.now(),
        )
        for d in router.submit(alert, state=HealthState.FAILED, now=clock.now()).deliveries:
            if d.delivered and d.latency is not None:
                by_channel.setdefault(d.channel, []).append(d.latency.total_seconds() * 1000)
    elapsed = time.perf_counter() - started
    print(f"\nlatency, detected → delivered ({LATENCY_ALERTS} critical alerts, loopback peers):")
    print(f"  {'channel':8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  vs target 60,000 ms")
    for ch in ("console", "email", "slack", "sms"):
        values = sorted(by_channel.get(ch, []))
        if not values:
            print(f"  {ch:8} nothing delivered")
            continue
        p50 = statistics.median(values)
        p95 = values[int(0.95 * (len(values) - 1))]
        print(
            f"  {ch:8} {p50:>8.1f} {p95:>8.1f} {values[-1]:>8.1f}  "
            f"p95 is {60_000 / p95:,.0f}x under target"
        )
    print(
        f"  (latency includes the deliveries queued before it in the same alert; "
        f"{LATENCY_ALERTS} alerts took {elapsed:.1f} s)"
    )
    print(f"  received: {len(smtp.received)} e-mails, {len(hook.requests)} webhook posts")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, FakeSMTP() as smtp, FakeWebhook() as hook:
        print("hee-monitor alert router benchmark (loopback SMTP + webhook peers)")
        burst(Path(tmp), smtp, hook, Severity.CRITICAL)
        burst(Path(tmp), smtp, hook, Severity.HIGH)
        smtp.received.clear()
        hook.requests.clear()
        latency(Path(tmp), smtp, hook)


if __name__ == "__main__":
    main()
