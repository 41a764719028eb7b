"""Worst confirmation time of each pattern on crafted megabyte-long lines, in one run.

    python benchmarks/redos_bench.py [--size-mb 1] [--patterns DIR] [--fuzz 5]
                                     [--backtracking] [--top 10]

The analyzer confirms each line the scanner selects with the pattern's regexes, exclusions
and end regex. A crafted line must not make that slow: the budget is **50 ms per pattern
on any 1 MB line**. For every pattern of the database (shipped plus ``--patterns``) the
script builds adversarial lines of ``--size-mb`` without a newline and times the whole
confirmation (every regex, exclusion and end regex of the pattern) with the engine the
analyzer uses (RE2, :func:`hee_monitor.analysis.matcher.compile_linear`):

* near misses repeated to fill the line: each line of the pattern's examples that one of
  its regexes matches, without its last character, and its first half;
* long runs before a match: ``"error " * N`` then the example line (the shape of the
  crafted log that took 48 s), spaces then the line, the line's first word repeated;
* hypothesis fuzz: ``--fuzz`` strings drawn from ``hypothesis.strategies.from_regex`` for
  each regex, used the same two ways (repeated without their last character, and after a
  long run of ``"error "``);
* flat runs: ``a``, spaces, ``=``, ``-``, digits, ``/``.

Times are CPU times of this process (``time.process_time``), steadier than wall time on a
shared machine. It prints the slowest patterns, the worst time and its ratio to the 50 ms
budget. With
``--backtracking``, the **baseline**: the same lines confirmed with Python's backtracking
``re`` (each pattern in a child process, stopped after 10 s), and the ratio between the
two engines' worst times.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import re
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hee_monitor.analysis.matcher import compile_linear  # noqa: E402
from hee_monitor.analysis.patterns import Pattern, load_database  # noqa: E402

BUDGET_MS = 50.0
BACKTRACKING_TIMEOUT_S = 10.0


def regexes_of(pattern: Pattern) -> list[str]:
    return [*pattern.regex, *pattern.exclude, *((pattern.end,) if pattern.end else ())]


def fuzz_samples(regex: str, ignore_case: bool, count: int) -> list[str]:
    """Up to ``count`` strings hypothesis draws from ``regex`` (no newlines)."""
    if count <= 0:
        return []
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from hypothesis.errors import HypothesisException

    found: list[str] = []
    try:
        strategy = st.from_regex(re.compile(regex, re.IGNORECASE if ignore_case else 0))
    except (HypothesisException, re.error):
        return []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,  # the same lines in every run (and in the baseline's process)
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def draw(text: str) -> None:
        found.append(text.replace("\n", " ").replace("\r", " "))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.suppress(HypothesisException):
            draw()
    return found[:count]


def fill(seed: str, size: int) -> str:
    if not seed:
        return ""
    return (seed * (size // len(seed) + 1))[:size]


def crafted_lines(pattern: Pattern, size: int, fuzz: int) -> Iterator[str]:
    flags = re.IGNORECASE if pattern.ignore_case else 0
    seeds: list[str] = []
    for example in pattern.examples:
        for line in example.splitlines():
            if any(re.search(rx, line, flags) for rx in pattern.regex):
                seeds.append(line)
    for rx in regexes_of(pattern):
        seeds.extend(fuzz_samples(rx, pattern.ignore_case, fuzz))
    seen: set[str] = set()
    for seed in seeds:
        if not seed or seed in seen:
            continue
        seen.add(seed)
        run = "error " * ((size - len(seed)) // 6)
        yield run + seed
        yield fill(seed[:-1] + " ", size)
        yield fill(seed[: max(1, len(seed) // 2)], size)
        yield " " * (size - len(seed)) + seed
        word = seed.split(" ", 1)[0]
        yield fill(word + " ", size)
    for flat in ("a", " ", "=", "-", "0", "/", "a ", "\t"):
        yield fill(flat, size)


def confirm_linear(pattern: Pattern, size: int, fuzz: int) -> tuple[float, int]:
    """Worst milliseconds of one full confirmation (every regex of the pattern) over the
    crafted lines, and their number (made one at a time: bounded memory)."""
    compiled = [compile_linear(rx, ignore_case=pattern.ignore_case) for rx in regexes_of(pattern)]
    worst = 0.0
    count = 0
    for line in crafted_lines(pattern, size, fuzz):
        count += 1
        start = time.process_time()
        for rx in compiled:
            rx.search(line)
        worst = max(worst, (time.process_time() - start) * 1000)
    return worst, count


def confirm_backtracking(pattern: Pattern, size: int, fuzz: int) -> float:
    """Python ``re``'s worst milliseconds over the same lines (made again in this process:
    the fuzz is derandomized, so they are the same)."""
    flags = re.IGNORECASE if pattern.ignore_case else 0
    compiled = [re.compile(rx, flags) for rx in regexes_of(pattern)]
    worst = 0.0
    for line in crafted_lines(pattern, size, fuzz):
        start = time.process_time()
        for rx in compiled:
            rx.search(line)
        worst = max(worst, (time.process_time() - start) * 1000)
    return worst


def backtracking_worst(pattern: Pattern, size: int, fuzz: int) -> float | None:
    """Python ``re``'s worst time in a child process; None when it ran past the timeout."""
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        job = pool.apply_async(confirm_backtracking, (pattern, size, fuzz))
        try:
            return float(job.get(timeout=BACKTRACKING_TIMEOUT_S))
        except multiprocessing.TimeoutError:
            pool.terminate()
            return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--size-mb", type=float, default=1.0)
    parser.add_argument("--patterns", action="append", default=[], type=Path)
    parser.add_argument("--fuzz", type=int, default=5, help="hypothesis samples per regex")
    parser.add_argument("--backtracking", action="store_true", help="also time Python re")
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    size = int(args.size_mb * 1024 * 1024)
    database = load_database(args.patterns)
    results: list[tuple[float, str, int, float | None]] = []
    started = time.perf_counter()
    for pattern in database:
        worst, count = confirm_linear(pattern, size, args.fuzz)
        slow = backtracking_worst(pattern, size, args.fuzz) if args.backtracking else None
        results.append((worst, pattern.id, count, slow))
    results.sort(reverse=True)
    total_lines = sum(r[2] for r in results)
    print(
        f"database: {len(database)} patterns; {total_lines} crafted lines of "
        f"{size / 1048576:.1f} MB; engine RE2 (linear time); "
        f"{time.perf_counter() - started:.0f} s"
    )
    print(f"slowest {args.top} patterns (worst full confirmation of one line):")
    for worst, pid, count, slow in results[: args.top]:
        base = ""
        if args.backtracking:
            shown = f"> {BACKTRACKING_TIMEOUT_S * 1000:.0f}" if slow is None else f"{slow:.1f}"
            base = f"   re: {shown} ms"
        print(f"  {pid:<30} {worst:8.1f} ms  over {count} lines{base}")
    worst = results[0][0] if results else 0.0
    verdict = "met" if worst <= BUDGET_MS else "NOT met"
    print(
        f"worst: {worst:.1f} ms = {worst / BUDGET_MS:.2f}x the {BUDGET_MS:.0f} ms budget "
        f"per pattern per 1 MB line ({verdict})"
    )
    if args.backtracking:
        timed_out = [pid for _, pid, _, slow in results if slow is None]
        slow_worst = max((s for *_, s in results if s is not None), default=0.0)
        worst_re = BACKTRACKING_TIMEOUT_S * 1000 if timed_out else slow_worst
        print(
            f"baseline Python re (backtracking): worst {'>' if timed_out else ''}"
            f"{worst_re:.0f} ms; {len(timed_out)} pattern(s) past {BACKTRACKING_TIMEOUT_S:.0f} s"
            f"{': ' + ', '.join(timed_out) if timed_out else ''}; "
            f"ratio re / RE2 worst: {'>' if timed_out else ''}{worst_re / max(worst, 1e-3):.0f}x"
        )


if __name__ == "__main__":
    main()
