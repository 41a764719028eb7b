#!/usr/bin/env python3
"""Start-up of the command line, whole process, hyperfine style: warm-up runs, then N
timed runs of each command; mean ± standard deviation and minimum of the wall time and of
the CPU time (user + system of the child, which other load on the machine inflates less).

    python benchmarks/startup_bench.py                     # this checkout vs the baseline
    python benchmarks/startup_bench.py --runs 20 --before 7406484

Commands: ``hee-monitor --help``, ``hee-monitor --version`` and ``hee-monitor analyze`` of
a 64 KB log (made from ``examples/logs``), with the compiled-pattern cache and the
bytecode cache warm (the warm-up runs fill them, as an installed package has its .pyc
files). Targets: --help and --version ≤ 0.15 s, analyze ≤ 0.2 s.

The baseline is the same commands on the code of another commit (``--before``, default:
the last commit before lazy command loading with static help), exported with
``git archive`` into a temporary directory; ``--before ''`` measures this checkout only.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: main before this change: every command module imported for --help
DEFAULT_BEFORE = "7406484"
TARGETS = {"--help": 0.15, "--version": 0.15, "analyze 64 KB": 0.2}


def make_log(path: Path, size: int = 64 * 1024) -> Path:
    """A 64 KB CI log: pytest progress lines, then a real failure from examples/logs."""
    failure = (ROOT / "examples" / "logs" / "pytest-assertion-failure.log").read_text()
    lines: list[str] = []
    n = 0
    while sum(len(line) for line in lines) < size - len(failure):
        lines.append(f"tests/test_module_{n // 40}.py::test_case_{n} PASSED [{n % 100:3d}%]\n")
        n += 1
    path.write_text("".join(lines) + failure, encoding="utf-8")
    return path


def measure(
    argv: list[str], env: dict[str, str], runs: int, warmup: int, cwd: Path
) -> dict[str, float]:
    # cwd: `python -m` puts the working directory first on sys.path, so each tree runs
    # from its own directory
    for _ in range(warmup):
        subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, check=False)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr[-500:]!r}")
    return {
        "wall": statistics.mean(walls),
        "wall_sd": statistics.stdev(walls) if len(walls) > 1 else 0.0,
        "wall_min": min(walls),
        "cpu": statistics.mean(cpus),
        "cpu_min": min(cpus),
    }


def tree_of(rev: str, into: Path) -> Path:
    """The code of commit ``rev``, exported to ``into``."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev], cwd=ROOT, capture_output=True, check=True
    ).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def bench_tree(
    tree: Path, log: Path, runs: int, warmup: int, cache: Path
) -> dict[str, dict[str, float]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEE_")}
    # warm means warm: the bytecode cache too (an installed package has its .pyc files),
    # kept in the scratch directory rather than next to the sources
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        PYTHONPATH=str(tree),
        PYTHONPYCACHEPREFIX=str(cache / "pycache"),
        XDG_CACHE_HOME=str(cache),
        NO_COLOR="1",
    )
    base = [sys.executable, "-m", "hee_monitor"]
    return {
        "--help": measure([*base, "--help"], env, runs, warmup, tree),
        "--version": measure([*base, "--version"], env, runs, warmup, tree),
        "analyze 64 KB": measure([*base, "analyze", str(log)], env, runs, warmup, tree),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--before", default=DEFAULT_BEFORE, help="baseline commit ('' for none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hee-startup-") as tmp:
        scratch = Path(tmp)
        log = make_log(scratch / "job.log")
        now = bench_tree(ROOT, log, args.runs, args.warmup, scratch / "cache-now")
        then = None
        if args.before:
            old = tree_of(args.before, scratch / "before")
            then = bench_tree(old, log, args.runs, args.warmup, scratch / "cache-before")
    print(f"whole-process start-up, {args.runs} runs after {args.warmup} warm-up runs each")
    print(
        f"{'command':<15} {'wall mean ± sd':>17} {'min':>7} {'CPU':>7} {'target':>7}"
        + (
            f" {'before (' + args.before + ') wall / CPU':>30} {'ratio wall / CPU':>17}"
            if then
            else ""
        )
    )
    for name, row in now.items():
        line = (
            f"{name:<15} {row['wall']:>9.3f} ± {row['wall_sd']:.3f} s {row['wall_min']:>6.3f} "
            f"{row['cpu']:>6.3f} {TARGETS[name]:>6.2f}s"
        )
        if then:
            old_row = then[name]
            line += (
                f" {old_row['wall']:>21.3f} / {old_row['cpu']:.3f} s"
                f" {old_row['wall'] / row['wall']:>5.1f}× / {old_row['cpu'] / row['cpu']:.1f}×"
            )
        print(line)
    print("ratio: the baseline's time / this checkout's (higher: faster now); on a busy")
    print("machine the wall times mostly measure the wait for a core, the CPU times less so")
    return 0


if __name__ == "__main__":
    sys.exit(main())
