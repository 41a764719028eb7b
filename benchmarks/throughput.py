"""Speed and memory of ``hee-monitor analyze`` against GNU grep, in one run.

    python benchmarks/throughput.py [--patterns DIR] [--big] [--runs N]

1. Builds a ~65 MB log by concatenating the CI logs in ``<shared>/ci-logs/logchunks-dev``
   (``<shared>`` is the ``shared`` directory next to the checkout; ``HEE_SHARED_DIR``
   overrides) into a temporary file.
2. Times ``hee-monitor analyze --format json`` on it as a whole process (wall time and
   peak RSS) and GNU ``grep -E -c -f REGEXES`` over the same file with the database's
   regexes that ``grep -E`` accepts (the named baseline), and prints the ratio.
3. Times the in-process analysis of a typical 1 MB log (median of several runs).
4. With ``--big``: streams a 1 GB log to disk (never held in memory) and reports the peak
   RSS of analysing it.

The database is the shipped one plus ``--patterns``. When neither has patterns, a
temporary database of about 60 regexes is generated and the output says so.

Targets: whole process <= 0.5x grep; <= 50 ms in-process per 1 MB; peak RSS <= 150 MB
on 1 GB.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_BYTES = 65 * 1024 * 1024
BIG_BYTES = 1024 * 1024 * 1024

_GENERATED = [
    r"Traceback \(most recent call last\)",
    r"^E\s+AssertionError",
    r"No space left on device",
    r"npm ERR! code ERESOLVE",
    r"error\[E\d{4}\]",
    r"^error: could not compile",
    r"BUILD FAILURE",
    r"\[ERROR\] Failed to execute goal",
    r"fatal: unable to access '",
    r"Could not resolve host",
    r"Connection refused",
    r"rate limit exceeded",
    r"403 Forbidden",
    r"has exceeded the maximum execution time",
    r"Segmentation fault",
    r"command not found",
    r"Could not find a version that satisfies the requirement",
    r"ResolutionImpossible",
    r"SyntaxError: ",
    r"TypeError: ",
    r"^FAIL\s",
    r"Tests:\s+\d+ failed",
    r"error TS\d+:",
    r"would reformat ",
    r"files? would be reformatted",
    r"Found \d+ errors? in \d+ files?",
    r"undefined reference to",
    r"fatal error: .*: No such file or directory",
    r"make: \*\*\* \[.*\] Error \d+",
    r"The command \"[^\"]+\" exited with [1-9]",
    r"Your build has been stopped",
    r"No output has been received in the last",
    r"Bundler could not find compatible versions",
    r"An error occurred while installing",
    r"rake aborted!",
    r"java\.lang\.OutOfMemoryError",
    r"Could not find artifact",
    r"ENOSPC",
    r"EACCES: permission denied",
    r"ETIMEDOUT",
    r"ECONNRESET",
    r"Unable to locate package",
    r"E: Failed to fetch",
    r"Permission denied \(publickey\)",
    r"certificate verify failed",
    r"FAILURES!",
    r"^Failures:\s*$",
    r"TLS handshake timeout",
    r"connection timed out",
    r"i/o timeout",
    r"ModuleNotFoundError: No module named",
    r"^npm ERR! ",
    r"^--- FAIL: \S+",
    r"^FAILED \S+::\S+",
    r"The operation was canceled",
    r"Process completed with exit code [1-9]",
    r"\.go:\d+:\d+: undefined: ",
    r"[A-Z]+\d+ \[\*\] ",
    r"Killed\s*$",
    r"error: linker `cc` not found",
]


def shared_dir() -> Path:
    if env := os.environ.get("HEE_SHARED_DIR"):
        return Path(env)
    for parent in (REPO.parent, *REPO.parent.parents):
        if (parent / "shared").is_dir():
            return parent / "shared"
    return REPO.parent / "shared"


def build_log(dest: Path, source_dir: Path, target: int) -> int:
    files = sorted(source_dir.glob("*.log"))
    if not files:
        sys.exit(f"no *.log files in {source_dir} (set HEE_SHARED_DIR)")
    written = 0
    with dest.open("wb") as out:
        while written < target:
            for f in files:
                data = f.read_bytes()
                if not data.endswith(b"\n"):
                    data += b"\n"
                out.write(data)
                written += len(data)
                if written >= target:
                    break
    return written


def generated_database(directory: Path) -> Path:
    import yaml

    patterns = [
        {
            "id": f"BENCH-{n:03d}",
            "title": f"benchmark pattern {n}",
            "category": "unknown",
            "severity": "medium",
            "owner": "DEVOPS",
            "risk": 1,
            "priority": 40,
            "regex": rx,
            "examples": ["x"],
        }
        for n, rx in enumerate(_GENERATED)
    ]
    path = directory / "generated.yaml"
    path.write_text(yaml.safe_dump({"patterns": patterns}), encoding="utf-8")
    return path


def grep_regexes(regexes: list[str], dest: Path) -> int:
    """Write the regexes GNU grep -E accepts (without warnings) to ``dest``."""
    accepted = []
    for rx in regexes:
        proc = subprocess.run(
            ["grep", "-E", "-e", rx, "/dev/null"], capture_output=True, check=False
        )
        if proc.returncode != 2 and not proc.stderr:
            accepted.append(rx)
    dest.write_text("\n".join(accepted) + "\n", encoding="utf-8")
    return len(accepted)


def timed(cmd: list[str], *, env: dict[str, str] | None = None) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KiB) and CPU seconds (user + system) of one child."""
    time_bin = shutil.which("time") or "/usr/bin/time"
    use_time = Path(time_bin).exists()
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        full = [time_bin, "-f", "%M %U %S", "-o", rss.name, *cmd] if use_time else cmd
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.run(full, stdout=subprocess.DEVNULL, env=env, check=False)
        elapsed = time.perf_counter() - started
        if proc.returncode not in (0, 1):
            sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        peak = after.ru_maxrss
        if use_time:
            peak = int(rss.read().strip().splitlines()[-1].split()[0])
    return elapsed, peak, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patterns", type=Path, action="append", default=[])
    parser.add_argument("--big", action="store_true", help="also measure a 1 GB log")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from hee_monitor.analysis.analyzer import Analyzer
    from hee_monitor.analysis.patterns import load_database

    # byte-code caching on, as in an installed package
    env = {**os.environ, "PYTHONPATH": str(REPO), "HEE_MONITOR_NO_PROGRESS": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="hee-bench-") as tmp_name:
        tmp = Path(tmp_name)
        extra = list(args.patterns)
        database = load_database(extra)
        note = "shipped database" + (f" + {', '.join(map(str, extra))}" if extra else "")
        if len(database) == 0:
            extra = [generated_database(tmp)]
            database = load_database(extra)
            note = "NO shipped patterns: a generated temporary database"
        regexes = [rx for p in database for rx in p.regex]
        pattern_args = [a for p in extra for a in ("--patterns", str(p))]

        log = tmp / "big.log"
        size = build_log(log, shared_dir() / "ci-logs" / "logchunks-dev", TARGET_BYTES)
        mb = size / 1e6
        rx_file = tmp / "regexes.txt"
        grep_count = grep_regexes(regexes, rx_file)

        print(f"database: {len(database)} patterns, {len(regexes)} regexes ({note})")
        lines = log.read_bytes().count(b"\n")
        print(f"log: {mb:.1f} MB, {lines} lines")
        hee = [
            sys.executable,
            "-m",
            "hee_monitor",
            "analyze",
            "--format",
            "json",
            *pattern_args,
            str(log),
        ]
        timed(hee, env=env)  # warm the page cache and the compiled-database cache
        hee_runs = [timed(hee, env=env) for _ in range(args.runs)]
        grep_cmd = ["grep", "-E", "-c", "-f", str(rx_file), str(log)]
        grep_runs = [timed(grep_cmd) for _ in range(args.runs)]
        hee_s = statistics.median(r[0] for r in hee_runs)
        grep_s = statistics.median(r[0] for r in grep_runs)
        hee_cpu = statistics.median(r[2] for r in hee_runs)
        grep_cpu = statistics.median(r[2] for r in grep_runs)
        hee_rss = max(r[1] for r in hee_runs) / 1024
        empty = tmp / "empty.log"
        empty.write_bytes(b"")
        start_runs = [timed([*hee[:-1], str(empty)], env=env) for _ in range(args.runs)]
        start_s = statistics.median(r[0] for r in start_runs)
        start_cpu = statistics.median(r[2] for r in start_runs)
        print(
            f"grep -E -c -f ({grep_count} regexes):  wall {grep_s:.3f} s  cpu {grep_cpu:.3f} s  "
            f"({mb / grep_s:.0f} MB/s)  [baseline]"
        )
        print(
            f"hee-monitor analyze (whole process): wall {hee_s:.3f} s  cpu {hee_cpu:.3f} s  "
            f"({mb / hee_s:.0f} MB/s)  peak RSS {hee_rss:.0f} MB"
        )
        print(
            f"  of which start-up (same command on an empty log): wall {start_s:.3f} s  "
            f"cpu {start_cpu:.3f} s"
        )
        ratio = hee_s / grep_s
        cpu_ratio = hee_cpu / grep_cpu
        # on a shared machine wall time is noisy; CPU time (user + sys) is the steadier one
        print(
            f"ratio hee-monitor / grep: wall {ratio:.2f}x  cpu {cpu_ratio:.2f}x   "
            f"(target <= 0.5x: wall {'met' if ratio <= 0.5 else 'NOT met'}, "
            f"cpu {'met' if cpu_ratio <= 0.5 else 'NOT met'})"
        )

        analyzer = Analyzer(database)
        # the engine's share: the same blocks the analyzer scans, without handling a match
        from hee_monitor.analysis.logreader import iter_raw_blocks

        blocks = list(iter_raw_blocks([log.read_bytes()]))
        scans = []
        for _ in range(args.runs):
            started = time.process_time()
            hits = sum(len(analyzer.scanner.scan(block)) for block in blocks)
            scans.append(time.process_time() - started)
        del blocks
        scan_cpu = statistics.median(scans)
        print(
            f"  of which the {analyzer.engine} scan alone (in-process, {hits} raw matches): "
            f"cpu {scan_cpu:.3f} s = {scan_cpu / grep_cpu:.2f}x grep's cpu"
        )
        one_mb = tmp / "one-mb.log"
        with log.open("rb") as fh:
            head = fh.read(1024 * 1024)
        one_mb.write_bytes(head[: head.rfind(b"\n") + 1])
        times = []
        for _ in range(7):
            started = time.perf_counter()
            analyzer.analyze_path(one_mb)
            times.append(time.perf_counter() - started)
        per_mb = statistics.median(times) * 1000 / (one_mb.stat().st_size / (1024 * 1024))
        print(
            f"in-process, 1 MB log (median of 7): {per_mb:.1f} ms per MB   (target <= 50 ms: "
            f"{'met' if per_mb <= 50 else 'NOT met'}; engine {analyzer.engine})"
        )

        if args.big:
            big = tmp / "gigabyte.log"
            data = log.read_bytes()
            with big.open("wb") as out:
                written = 0
                while written < BIG_BYTES:
                    out.write(data)
                    written += len(data)
            del data
            big_s, big_rss, _ = timed([*hee[:-1], str(big)], env=env)
            big.unlink()
            print(
                f"1 GB log ({written / 1e9:.2f} GB): {big_s:.2f} s, peak RSS "
                f"{big_rss / 1024:.0f} MB   (target <= 150 MB: "
                f"{'met' if big_rss / 1024 <= 150 else 'NOT met'})"
            )


if __name__ == "__main__":
    main()
