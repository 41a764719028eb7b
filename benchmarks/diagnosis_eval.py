"""Measure how well the pattern database finds the failure reason in real CI logs.

The data set is LogChunks-style: failed CI logs with one hand-labelled line range each
(``labels.jsonl``: ``log``, ``start_line``, ``end_line``, ``chunk``). It is third-party data
and is read at run time from the shared directory next to the repository (default
``<repo>/../shared/ci-logs/logchunks-dev``; ``HEE_SHARED_DIR`` overrides ``<repo>/../shared``);
nothing of it is copied into the project.

Figures, per log, averaged over the logs of the selected split:

* hit       -- the first 40 evidence lines (evidence ranges in ranking order, counting
               lines) overlap the labelled range
* top-1     -- the first evidence range of the first finding overlaps the label
* precision -- share of those first-40 evidence lines that lie inside the label (0 when
               there is no evidence)
* recall    -- share of the labelled lines covered by the first-40 evidence lines
* unexplained -- share of logs without any finding

Baselines computed in the same run: "last 40 lines" of the log, and "lines containing
error/fail" (first 40 such lines, case-insensitive). The passing-build proxy analyses each
log's lines *before* the labelled chunk, minus a margin of 30 lines (output the build
produced before it failed) and reports the share given a critical or high finding. It is a
proxy: the data set has no passing builds, and a prefix may still hold an earlier real error.

Line numbers: labels count lines the way ``str.splitlines`` does for ``\\r\\n``, ``\\r`` and
``\\n`` (a lone carriage return -- a progress bar redraw -- starts a new line), verified on the
data set: the first line of every ``chunk`` is found on its ``start_line``. Chunks sometimes
hold blank lines where the log has ``\\r\\r\\n``; that is the same numbering. If the analyser
numbers lines by ``\\n`` only (its ``Diagnosis.lines`` tells), label ranges are mapped onto
that numbering through character offsets. One record has no line numbers and is skipped.

The split is by **repository**, never by file: a log's repository is the part of its case
name before ``__`` (``CSS_jgthms_bulma``); a repository belongs to ``tune`` when the first
byte of the SHA-256 of its name is even, otherwise to ``heldout`` (17 repositories each;
both lists are printed). Rules and patterns are tuned looking at ``tune`` logs only; the
``heldout`` figure shows how diagnosis holds on repositories it was not tuned on. (The
pattern database itself was written before this split, against logs of all 34
repositories, so even ``heldout`` flatters the patterns; the pattern-free fallback and the
failing-step scope were tuned on ``tune`` only.)

Also, in the same run:

* passing builds: the share of real passing-build logs (``examples/logs/passing`` and the
  shared last-green logs) given a critical or high finding;
* last-green pairs: the 7 failing Actions logs of ``reference/actions-logs`` whose last
  green run's log is in ``last-green/``, with and without ``--baseline`` (labels: the
  error lines the reference README gives, dataset ground truth);
* speed: in-process CPU time per MB over the labelled logs (best of 3 passes);
* ``--before DIR``: the same figures for the code in DIR (a checkout of an earlier
  commit), run in a subprocess, with the ratio.

    python benchmarks/diagnosis_eval.py
    python benchmarks/diagnosis_eval.py --before /tmp/old-checkout
    python benchmarks/diagnosis_eval.py --split tune --per-log
    python benchmarks/diagnosis_eval.py --json
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from hee_monitor.core.models import Diagnosis, Severity  # noqa: E402

TOP_LINES = 40
PREFIX_MARGIN = 30
_LABEL_BREAK = re.compile(r"\r\n|\r|\n")
_ERROR_FAIL = re.compile(r"error|fail", re.IGNORECASE)

Analyze = Callable[[Path], Diagnosis]


def shared_dir() -> Path:
    env = os.environ.get("HEE_SHARED_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared"


def dataset_dir() -> Path:
    return shared_dir() / "ci-logs" / "logchunks-dev"


def repository_of(log_name: str) -> str:
    return Path(log_name).name.split("__", 1)[0]


def split_of(log_name: str) -> str:
    repo = repository_of(log_name)
    return "tune" if hashlib.sha256(repo.encode()).digest()[0] % 2 == 0 else "heldout"


@dataclass(frozen=True)
class Record:
    log: str
    start_line: int
    end_line: int

    @property
    def split(self) -> str:
        return split_of(self.log)


def load_records(directory: Path) -> tuple[list[Record], int]:
    """Labelled records with line numbers, and the count of records skipped (no lines)."""
    records: list[Record] = []
    skipped = 0
    with (directory / "labels.jsonl").open(encoding="utf-8") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            item = json.loads(raw)
            if item.get("start_line") is None or item.get("end_line") is None:
                skipped += 1
                continue
            records.append(Record(item["log"], int(item["start_line"]), int(item["end_line"])))
    return records, skipped


class LineMap:
    """Character offsets of line starts under both numberings of one log."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.label_starts = [0] + [m.end() for m in _LABEL_BREAK.finditer(text)]
        self.nl_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.label_lines = _LABEL_BREAK.split(text)

    def label_count(self) -> int:
        return len(self.label_starts)

    def nl_count(self) -> int:
        return len(self.nl_starts)

    def label_to_nl(self, line: int) -> int:
        """1-based label line → 1-based ``\\n`` line holding its first character."""
        offset = self.label_starts[min(line, len(self.label_starts)) - 1]
        return bisect.bisect_right(self.nl_starts, offset)

    def prefix_text(self, lines: int) -> str:
        """The log up to and including label line ``lines``."""
        if lines >= len(self.label_starts):
            return self.text
        return self.text[: self.label_starts[lines]]


def label_range(record: Record, lmap: LineMap, diagnosis_lines: int) -> tuple[int, int]:
    """The labelled range in the numbering the analyser used: whichever line count is
    closer to the one it reported (a trailing newline may count as a line or not)."""
    if abs(diagnosis_lines - lmap.nl_count()) >= abs(diagnosis_lines - lmap.label_count()):
        return record.start_line, record.end_line
    return lmap.label_to_nl(record.start_line), lmap.label_to_nl(record.end_line)


def first_evidence_lines(ranges: Iterable[tuple[int, int]], limit: int = TOP_LINES) -> list[int]:
    """Lines of the ranges in order, without repeats, the first ``limit`` of them."""
    seen: set[int] = set()
    out: list[int] = []
    for start, end in ranges:
        for line in range(start, end + 1):
            if line not in seen:
                seen.add(line)
                out.append(line)
                if len(out) >= limit:
                    return out
    return out


@dataclass
class Scores:
    hit: float = 0.0
    top1: float = 0.0
    precision: float = 0.0
    recall: float = 0.0
    unexplained: float = 0.0


def score(
    lines: Sequence[int], first_range: tuple[int, int] | None, label: tuple[int, int]
) -> Scores:
    lo, hi = label
    inside = [n for n in lines if lo <= n <= hi]
    s = Scores()
    s.hit = 1.0 if inside else 0.0
    if first_range is not None:
        s.top1 = 1.0 if first_range[0] <= hi and first_range[1] >= lo else 0.0
    s.precision = len(inside) / len(lines) if lines else 0.0
    s.recall = len(set(inside)) / (hi - lo + 1)
    s.unexplained = 0.0 if lines else 1.0
    return s


def baseline_last(lmap: LineMap) -> list[tuple[int, int]]:
    lines = lmap.label_lines
    last = len(lines)
    while last > 1 and not lines[last - 1].strip():
        last -= 1
    start = max(1, last - TOP_LINES + 1)
    # Ranked from the end: the last line is the single most likely one.
    return [(n, n) for n in range(last, start - 1, -1)]


def baseline_error_fail(lmap: LineMap) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for number, text in enumerate(lmap.label_lines, start=1):
        if _ERROR_FAIL.search(text):
            out.append((number, number))
            if len(out) >= TOP_LINES:
                break
    return out


@dataclass
class LogResult:
    record: Record
    ours: Scores
    last: Scores
    errfail: Scores
    findings: list[str] = field(default_factory=list)
    evidence: list[tuple[int, int]] = field(default_factory=list)
    label: tuple[int, int] = (0, 0)
    prefix_flagged: bool | None = None
    prefix_finding: str | None = None
    seconds: float = 0.0


def diagnosis_ranges(diagnosis: Diagnosis) -> list[tuple[int, int]]:
    return [(e.start_line, e.end_line) for f in diagnosis.failures for e in f.evidence]


def evaluate_log(record: Record, directory: Path, analyze: Analyze, tmp: Path) -> LogResult:
    path = directory / record.log
    text = path.read_bytes().decode("utf-8", errors="replace")
    lmap = LineMap(text)
    started = time.perf_counter()
    diagnosis = analyze(path)
    seconds = time.perf_counter() - started
    label = label_range(record, lmap, diagnosis.lines)
    ranges = diagnosis_ranges(diagnosis)
    first = None
    if diagnosis.failures and diagnosis.failures[0].evidence:
        ev = diagnosis.failures[0].evidence[0]
        first = (ev.start_line, ev.end_line)
    ours = score(first_evidence_lines(ranges), first, label)
    raw_label = (record.start_line, record.end_line)
    last_ranges = baseline_last(lmap)
    last = score(
        first_evidence_lines(last_ranges), last_ranges[0] if last_ranges else None, raw_label
    )
    ef_ranges = baseline_error_fail(lmap)
    errfail = score(first_evidence_lines(ef_ranges), ef_ranges[0] if ef_ranges else None, raw_label)
    result = LogResult(
        record,
        ours,
        last,
        errfail,
        findings=[f.pattern_id for f in diagnosis.failures],
        evidence=ranges,
        label=label,
        seconds=seconds,
    )
    prefix_lines = record.start_line - 1 - PREFIX_MARGIN
    if prefix_lines >= 1:
        prefix_path = tmp / record.log
        prefix_path.write_bytes(lmap.prefix_text(prefix_lines).encode("utf-8"))
        prefix_diag = analyze(prefix_path)
        serious = [f for f in prefix_diag.failures if f.severity.at_least(Severity.HIGH)]
        result.prefix_flagged = bool(serious)
        result.prefix_finding = serious[0].pattern_id if serious else None
    return result


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


METRICS = ("hit", "top1", "precision", "recall", "unexplained")
TARGETS = {"hit": 0.90, "top1": 0.75, "precision": 0.45}
#: the failing Actions logs with a last-green log, and their labelled error lines
#: (reference/actions-logs/README.md, dataset ground truth)
PAIRS: dict[str, tuple[tuple[int, int], ...]] = {
    "01-go-test-failure": ((613, 617), (637, 641)),
    "02-go-compile-error": ((638, 644), (647, 647)),
    "03-go-staticcheck-lint": ((724, 727),),
    "04-go-mod-tidy-out-of-date": ((685, 685),),
    "05-network-tls-handshake-timeout": ((187, 197),),
    "06-network-go-module-download-failure": ((763, 833),),
    "07-docker-build-registry-fetch-failure": ((809, 809), (813, 826)),
}


def summarise(results: Sequence[LogResult]) -> dict[str, Any]:
    out: dict[str, Any] = {"logs": len(results)}
    for who in ("ours", "last", "errfail"):
        out[who] = {
            m: round(mean([getattr(getattr(r, who), m) for r in results]), 3) for m in METRICS
        }
    prefixes = [r for r in results if r.prefix_flagged is not None]
    flagged = [r for r in prefixes if r.prefix_flagged]
    out["prefix_logs"] = len(prefixes)
    out["prefix_flagged_share"] = round(len(flagged) / len(prefixes), 3) if prefixes else 0.0
    out["seconds_per_log"] = round(mean([r.seconds for r in results]), 4)
    return out


def _ratio(a: float, b: float) -> str:
    return f"{a / b:5.2f}x" if b else "   n/a"


def print_table(name: str, summary: dict[str, Any]) -> None:
    ours, last, ef = summary["ours"], summary["last"], summary["errfail"]
    print(f"== split {name}: {summary['logs']} labelled logs ==")
    heads = ("patterns", "last-40", "err/fail", "vs last", "vs e/f")
    print(f"{'metric':<12} " + " ".join(f"{h:>8}" for h in heads) + f" {'target':>7}")
    for m in METRICS:
        target = f">={TARGETS[m]:.2f}" if m in TARGETS else ""
        print(
            f"{m:<12} {ours[m]:>8.3f} {last[m]:>8.3f} {ef[m]:>8.3f} "
            f"{_ratio(ours[m], last[m]):>8} {_ratio(ours[m], ef[m]):>8} {target:>7}"
        )
    print(
        f"passing-build proxy (prefix before the label minus {PREFIX_MARGIN} lines): "
        f"{summary['prefix_flagged_share']:.3f} of {summary['prefix_logs']} prefixes given a "
        "critical/high finding (target < 0.05)"
    )
    print(f"analysis time: {summary['seconds_per_log'] * 1000:.1f} ms per log")


def print_per_log(results: Sequence[LogResult]) -> None:
    print("\n== per-log misses (top-1 miss or no hit) ==")
    for r in results:
        if r.ours.top1 and r.ours.hit:
            continue
        mark = "MISS" if not r.ours.hit else "top1"
        ev = ", ".join(f"{a}-{b}" for a, b in r.evidence[:6])
        label = f"{r.label[0]}-{r.label[1]}"
        print(f"{mark} {r.record.log} label {label} findings {r.findings[:5]} evidence {ev}")
    flagged = [r for r in results if r.prefix_flagged]
    if flagged:
        print("\n== prefixes given a critical/high finding ==")
        for r in flagged:
            print(f"{r.record.log}: {r.prefix_finding}")


def default_analyze() -> Analyze:
    from hee_monitor.analysis.analyzer import Analyzer

    analyzer = Analyzer.from_default_database()
    return analyzer.analyze_path


def passing_logs() -> list[Path]:
    """Real passing-build logs: the repository's examples and the shared last-green logs."""
    out = sorted((REPO_ROOT / "examples" / "logs" / "passing").glob("*.log"))
    green = shared_dir() / "reference" / "actions-logs" / "last-green"
    return out + sorted(green.glob("*.pass.log"))


def passing_figures(analyze: Analyze) -> dict[str, Any]:
    flagged: list[str] = []
    logs = passing_logs()
    for path in logs:
        diagnosis = analyze(path)
        if any(f.severity.at_least(Severity.HIGH) for f in diagnosis.failures):
            flagged.append(path.name)
    return {
        "logs": len(logs),
        "flagged": flagged,
        "flagged_share": round(len(flagged) / len(logs), 3) if logs else 0.0,
    }


def _set_scores(lines: Sequence[int], label: set[int]) -> dict[str, float]:
    inside = [n for n in lines if n in label]
    return {
        "hit": 1.0 if inside else 0.0,
        "precision": len(inside) / len(lines) if lines else 0.0,
        "recall": len(set(inside)) / len(label) if label else 0.0,
    }


def pair_figures(analyze_with: Callable[[Path, Path | None], Diagnosis]) -> dict[str, Any]:
    """The last-green pairs, with and without the baseline, and the last-40 baseline."""
    base = shared_dir() / "reference" / "actions-logs"
    rows: dict[str, dict[str, dict[str, float]]] = {}
    for name, ranges in PAIRS.items():
        fail, green = base / f"{name}.log", base / "last-green" / f"{name}.pass.log"
        if not fail.is_file() or not green.is_file():
            continue
        label = {n for a, b in ranges for n in range(a, b + 1)}
        row: dict[str, dict[str, float]] = {}
        for who, baseline in (("without", None), ("with", green)):
            diagnosis = analyze_with(fail, baseline)
            row[who] = _set_scores(first_evidence_lines(diagnosis_ranges(diagnosis)), label)
        lmap = LineMap(fail.read_bytes().decode("utf-8", errors="replace"))
        row["last"] = _set_scores(first_evidence_lines(baseline_last(lmap)), label)
        rows[name] = row
    out: dict[str, Any] = {"pairs": len(rows), "per_pair": rows}
    for who in ("without", "with", "last"):
        out[who] = {
            m: round(mean([r[who][m] for r in rows.values()]), 3)
            for m in ("hit", "precision", "recall")
        }
    return out


def figures(analyze_with: Callable[[Path, Path | None], Diagnosis], split: str) -> dict[str, Any]:
    """Every figure of one code version (the analyser given)."""

    def analyze(path: Path) -> Diagnosis:
        return analyze_with(path, None)

    directory = dataset_dir()
    records, skipped = load_records(directory)
    if split != "all":
        records = [r for r in records if r.split == split]
    with tempfile.TemporaryDirectory(prefix="hee-eval-") as tmp:
        results = [evaluate_log(r, directory, analyze, Path(tmp)) for r in records]
    splits = ["tune", "heldout", "all"] if split == "all" else [split]
    summaries: dict[str, Any] = {}
    for name in splits:
        subset = results if name == "all" else [r for r in results if r.record.split == name]
        summaries[name] = summarise(subset)
        summaries[name]["repositories"] = sorted({repository_of(r.record.log) for r in subset})
    # the pattern-free fallback alone (an empty pattern database): how diagnosis does on a
    # tool or format no pattern covers
    bare = _bare_analyze()
    if bare is not None:
        with tempfile.TemporaryDirectory(prefix="hee-eval-") as tmp:
            alone = [evaluate_log(r, directory, bare, Path(tmp)) for r in records]
        for name in splits:
            subset = alone if name == "all" else [r for r in alone if r.record.split == name]
            summaries[name]["fallback_only"] = summarise(subset)["ours"]
    return {
        "skipped_unlabelled": skipped,
        "splits": summaries,
        "passing": passing_figures(analyze),
        "pairs": pair_figures(analyze_with),
        "speed_ms_per_mb": speed(analyze, [directory / r.record.log for r in results]),
        "_results": results,
    }


def _bare_analyze() -> Analyze | None:
    """The analyser with no pattern at all, or None for code without a pattern-free
    fallback."""
    from hee_monitor.analysis.analyzer import Analyzer
    from hee_monitor.analysis.patterns import PatternDatabase

    if not hasattr(Analyzer, "_failing_step_finding"):
        return None
    return Analyzer(PatternDatabase()).analyze_path


def speed(analyze: Analyze, paths: Sequence[Path], rounds: int = 3) -> float:
    """In-process CPU milliseconds per MB over ``paths``, the best of ``rounds`` passes
    (CPU time, not wall time: the machine may be shared)."""
    megabytes = sum(p.stat().st_size for p in paths) / 1e6
    if not megabytes:
        return 0.0
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for path in paths:
            analyze(path)
        best = min(best, time.process_time() - started)
    return round(best * 1000 / megabytes, 2)


def default_analyze_with() -> Callable[[Path, Path | None], Diagnosis]:
    from hee_monitor.analysis.analyzer import Analyzer

    analyzer = Analyzer.from_default_database()
    try:
        from hee_monitor.analysis.baseline import load_baseline
    except ImportError:  # code from before baselines existed: the pair runs without one
        return lambda path, _baseline: analyzer.analyze_path(path)

    def analyze_with(path: Path, baseline: Path | None) -> Diagnosis:
        if baseline is None:
            return analyzer.analyze_path(path)
        return analyzer.analyze_path(path, baseline=load_baseline(baseline))

    return analyze_with


def print_figures(
    data: dict[str, Any], splits: Sequence[str], before: dict[str, Any] | None
) -> None:
    for name in splits:
        summary = data["splits"][name]
        if name != "all":
            repos = summary["repositories"]
            print(f"\n{name} repositories ({len(repos)}): {', '.join(repos)}")
        print_table(name, summary)
        if "fallback_only" in summary:
            alone = summary["fallback_only"]
            print(
                "pattern-free fallback alone (no pattern at all): "
                + "  ".join(f"{m} {alone[m]:.3f}" for m in METRICS[:4])
            )
        if before is not None and name in before["splits"]:
            old = before["splits"][name]["ours"]
            new = summary["ours"]
            print(
                "before (--before code): "
                + "  ".join(
                    f"{m} {old[m]:.3f} ({_ratio(new[m], old[m]).strip()})" for m in METRICS[:4]
                )
            )
    passing = data["passing"]
    print(
        f"\npassing-build logs given critical/high: {passing['flagged_share']:.3f} of "
        f"{passing['logs']} (target <= 0.02) {passing['flagged'] or ''}"
    )
    if before is not None:
        print(
            f"  before: {before['passing']['flagged_share']:.3f} "
            f"{before['passing']['flagged'] or ''}"
        )
    pairs = data["pairs"]
    if pairs["pairs"]:
        print(f"\nlast-green pairs ({pairs['pairs']}), first 40 evidence lines vs labelled lines:")
        print(f"{'':<18} {'hit':>6} {'precision':>10} {'recall':>7}")
        for who, label in (
            ("with", "with --baseline"),
            ("without", "without"),
            ("last", "last 40 lines"),
        ):
            f = pairs[who]
            print(f"{label:<18} {f['hit']:>6.3f} {f['precision']:>10.3f} {f['recall']:>7.3f}")
        if before is not None and before["pairs"]["pairs"]:
            f = before["pairs"]["without"]
            print(
                f"{'before, without':<18} {f['hit']:>6.3f} {f['precision']:>10.3f} "
                f"{f['recall']:>7.3f}"
            )
        print("targets with --baseline: precision >= 0.70, recall >= 0.65")
    print(
        f"\nspeed: {data['speed_ms_per_mb']:.2f} CPU ms per MB in-process, best of 3 passes "
        "(target <= 10)",
        end="",
    )
    if before is not None:
        print(f", before {before['speed_ms_per_mb']:.2f}", end="")
    print()


def run(argv: Sequence[str] | None = None, analyze: Analyze | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--split", choices=("tune", "heldout", "all"), default="all")
    parser.add_argument("--per-log", action="store_true", help="print misses to study")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--before",
        metavar="DIR",
        type=Path,
        help="a checkout of earlier code: its figures and the ratio, in the same run",
    )
    parser.add_argument("--code", metavar="DIR", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    directory = dataset_dir()
    if not (directory / "labels.jsonl").is_file():
        print(f"data set not found: {directory}/labels.jsonl (set HEE_SHARED_DIR)", file=sys.stderr)
        return 2
    if analyze is not None:
        given = analyze

        def analyze_with(path: Path, _baseline: Path | None) -> Diagnosis:
            return given(path)
    else:
        analyze_with = default_analyze_with()
    data = figures(analyze_with, args.split)
    results = data.pop("_results")
    before = None
    if args.before is not None:
        import subprocess

        proc = subprocess.run(
            [sys.executable, __file__, "--code", str(args.before), "--json", "--split", args.split],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": str(args.before)},
        )
        before = json.loads(proc.stdout)
    splits = ["tune", "heldout", "all"] if args.split == "all" else [args.split]
    if args.json:
        if before is not None:
            data["before"] = before
        print(json.dumps(data, indent=2))
    else:
        print(
            f"data set: {directory} "
            f"({data['skipped_unlabelled']} record without line numbers skipped)"
        )
        print_figures(data, splits, before)
        if args.per_log:
            print_per_log(results)
    return 0


def _use_code(argv: Sequence[str]) -> None:
    """``--code DIR``: import hee_monitor from DIR (the --before subprocess)."""
    if "--code" in argv:
        code = str(Path(argv[argv.index("--code") + 1]).resolve())
        sys.path.insert(0, code)
        for name in [m for m in sys.modules if m == "hee_monitor" or m.startswith("hee_monitor.")]:
            del sys.modules[name]


if __name__ == "__main__":
    _use_code(sys.argv)
    sys.exit(run())
