"""Turn a log into a :class:`~hee_monitor.core.models.Diagnosis`.

One pass over the log: blocks of raw bytes go through the multi-pattern scanner; only the
lines it selects are normalised and confirmed with Python ``re`` (exclusions, exact
semantics). Findings carry evidence ranges and are ranked most likely root cause first:

1. higher pattern ``priority`` (specific root causes over generic summaries), with a bonus
   for lines inside the step that failed (the one ending in "Process completed with exit
   code N"), when the log shows it, and the same malus for a finding whose every line lies
   in a command or step that ended well (see below);
2. then the earlier first occurrence (a compile error before the "exit code 1" after it);
3. then the higher severity, only as a tie breaker.

Unless ``all_findings`` is asked for, the ranked list is then condensed so that the
evidence shown first is the root cause's: when a specific finding (priority above
:data:`GENERIC_PRIORITY`) exists, generic summaries ("exit code 1", "BUILD FAILURE",
"npm ERR! code ELIFECYCLE") are folded into the first specific finding as ``related`` ids,
and a finding whose evidence lines all lie within higher-ranked findings' evidence is folded
into the one it overlaps most. Transient findings are never folded (the monitor re-runs
jobs on them), and a log with only generic findings keeps them all, unfolded.

Lines of a step's header (``##[group]Run …`` up to ``##[endgroup]``: the echoed script and
its env) never count as evidence: a script that greps for "error" is not an error. Nor do
lines a test runner prints for a test that starts or passed (``✓ throws when the token is
invalid``, ``--- PASS: TestErrorPath``, ``ok 3 - reports errors``): a test's name is not its
outcome; nor the shell's trace of a command that prints or searches text (``+ grep -c
'Segmentation fault' run.log``, ``$ echo "no errors"``): the words are its arguments.

Severity is lowered to at most medium, whatever the pattern says, for a finding that a
passing build can show (see :func:`survived_severity`):

* every occurrence lies in a command or step that demonstrably ended well: Travis printed
  ``The command "…" exited with 0.``, or the next command or step started
  (``travis_time:start``, ``##[group]Run``, ``Post job cleanup.``) with no failure
  reported in between (``exited with N``, ``failed and exited with``,
  ``##[error]``, a stalled-build notice). A download retried until it worked, ``cmd ||
  fallback``, ``|| true``, an informational command whose failure the build ignores: the
  build went on. Such findings carry ``details["step_succeeded"] = True``;
* every occurrence is a line that marks itself a warning (``##[warning]``, ``::warning``,
  ``[WARNING]``, ``[WARN]``, ``npm WARN``, ``warning:``, ``Warning:``).

A finding whose pattern kept its maximum of occurrences (:data:`MAX_EVIDENCE`) keeps its
severity: later occurrences are not looked at and may lie in the step that failed. When
the log ends with the build's own verdict that it passed (Jenkins ``Finished: SUCCESS``,
Travis ``Done. Your build exited with 0.``, GitLab ``Job succeeded``), every finding counts
as one of a step that ended well.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from hee_monitor.analysis import dialects
from hee_monitor.analysis.baseline import Baseline
from hee_monitor.analysis.dialects import Step, StepParser, first_failing
from hee_monitor.analysis.evidence import LineWindow, Occurrence, evidence_range, merge_ranges
from hee_monitor.analysis.failing_step import MAX_STEP_LINES, candidates
from hee_monitor.analysis.fingerprint import fingerprint
from hee_monitor.analysis.interface import FallbackClassifier
from hee_monitor.analysis.logreader import (
    MAX_LINE_BYTES,
    MAX_PARTIAL_BYTES,
    Block,
    LogSource,
    build_excerpt,
    iter_blocks,
    iter_log_lines,
    iter_raw_blocks,
    normalise_line,
    read_file_chunks,
)
from hee_monitor.analysis.matcher import (
    CompositeScanner,
    LinearRegex,
    LinearRegexError,
    RegexSpec,
    compile_linear,
)
from hee_monitor.analysis.patterns import Pattern, PatternDatabase, load_database
from hee_monitor.analysis.templates import template
from hee_monitor.core.errors import AnalysisError, PatternError
from hee_monitor.core.models import Diagnosis, Evidence, Finding, Severity

#: evidence ranges kept per finding (the first occurrences)
MAX_EVIDENCE = 5
#: below this root-cause confidence the fallback classifier is asked as well
LOW_CONFIDENCE = 0.4
_STEP_BONUS = 10
#: patterns at or below this priority are generic summaries of a failure
GENERIC_PRIORITY = 30
#: the pattern id of the pattern-free fallback's finding
FAILING_STEP_ID = "GEN-FAILING-STEP"


def is_summary(pattern: Pattern) -> bool:
    """A pattern of a line that sums a failure up ("exit code 1", ``BUILD FAILURE``, ``npm
    ERR! Test failed.``, "N failures"): the cause lies above it."""
    return pattern.scope == "summary" or pattern.priority <= GENERIC_PRIORITY


def shows_detail(pattern: Pattern) -> bool:
    """A summary whose evidence carries the detail below it (mocha's "N failing" and the
    failures it lists, Gradle's "What went wrong:" and the reason): it claims the cause."""
    return pattern.priority > GENERIC_PRIORITY and (
        pattern.context.after >= 2 or pattern.end is not None
    )


def claims_nothing(pattern: Pattern) -> bool:
    """A generic or summary pattern: it points at a failing line but does not say what
    failed, so inside the failing step it anchors the pattern-free search instead of
    claiming the root cause. Set-up noise claims nothing either."""
    if pattern.scope == "setup" or pattern.id.startswith("GEN-"):
        return True
    return is_summary(pattern) and not shows_detail(pattern)


#: a line a test runner prints for a test that starts or passed (mocha/jest ✓, TAP ok,
#: go test, GoogleTest, Pester, dotnet test, jest PASS, pytest -v, unittest -v)
_TEST_PASSED = re.compile(
    r"^\s*(?:[✓✔√]|ok \d+\b|--- PASS:|=== (?:RUN|PAUSE|CONT)\s|\[\s*(?:OK|PASS(?:ED)?)\s*\]"
    r"|\[\+\]\s|Passed\s|PASS\s)"
    r"|\s(?:PASSED|\.\.\.\s*ok)(?:\s+\[\s*\d+%\])?\s*$"
)
#: a shell's trace of a command that prints or searches text (``set -x``: ``+ grep -c
#: 'Segmentation fault' run.log``; Travis: ``$ echo "…"``): the words are its arguments
_TEXT_COMMAND_TRACE = re.compile(r"^\s*(?:\++|\$) (?:echo|printf|grep|egrep|fgrep|rg)\s")
#: a line that says it is a warning. Not "WARNING:" in capitals: Go's race detector
#: reports a data race (a test failure under -race) as "WARNING: DATA RACE".
_WARNING_LINE = re.compile(
    r"^\s*(?:##\[warning\]|::warning\b|\[WARNING\]|\[WARN\]|\[warn\]|npm WARN\b"
    r"|warning:|Warning:)"
)


class _Compiled:
    """A pattern prepared for confirmation. Its Python regexes are compiled on first use,
    one by one: most patterns never see a candidate line, a candidate line is confirmed
    with the regex whose scanner expression selected it, and compiling hundreds of regexes
    up front would dominate the start-up time."""

    def __init__(self, pattern: Pattern, index: int) -> None:
        self.pattern = pattern
        self.index = index
        self._regexes: list[LinearRegex | None] = [None] * len(pattern.regex)
        self._excludes: tuple[LinearRegex, ...] | None = None
        self._end: LinearRegex | None = None
        self._end_ready = False

    def _re(self, regex: str) -> LinearRegex:
        # RE2: confirming a line takes time linear in its length, whatever the regex
        try:
            return compile_linear(regex, ignore_case=self.pattern.ignore_case)
        except LinearRegexError as exc:
            raise PatternError(
                f"{self.pattern.where}: regex does not compile for linear-time matching: {exc}",
                hint="run `hee-monitor patterns validate` on the file",
            ) from exc

    def regex(self, number: int) -> LinearRegex:
        """The pattern's ``number``-th regex, compiled."""
        compiled = self._regexes[number]
        if compiled is None:
            compiled = self._regexes[number] = self._re(self.pattern.regex[number])
        return compiled

    @property
    def regexes(self) -> tuple[LinearRegex, ...]:
        return tuple(self.regex(n) for n in range(len(self._regexes)))

    @property
    def excludes(self) -> tuple[LinearRegex, ...]:
        if self._excludes is None:
            self._excludes = tuple(self._re(rx) for rx in self.pattern.exclude)
        return self._excludes

    @property
    def end(self) -> LinearRegex | None:
        if not self._end_ready:
            self._end = self._re(self.pattern.end) if self.pattern.end else None
            self._end_ready = True
        return self._end

    def confirms(self, text: str, numbers: Iterable[int] | None = None) -> bool:
        """Whether ``text`` matches one of the regexes (``numbers``: only those) and no
        exclusion."""
        chosen = range(len(self._regexes)) if numbers is None else numbers
        if not any(self.regex(n).search(text) for n in chosen):
            return False
        return not any(rx.search(text) for rx in self.excludes)


@dataclass
class _Resolved:
    start: int
    stop: int
    lines: dict[int, str]


@dataclass
class _PatternState:
    occurrences: list[Occurrence] = field(default_factory=list)
    resolved: list[_Resolved] = field(default_factory=list)
    pending: list[Occurrence] = field(default_factory=list)


class Analyzer:
    """Analyses logs with one compiled pattern database (build once, reuse for every log)."""

    def __init__(
        self,
        database: PatternDatabase,
        fallback: FallbackClassifier | None = None,
        *,
        engine: str | None = None,
        all_findings: bool = False,
    ) -> None:
        self.database = database
        self.fallback = fallback
        #: list every matching pattern as a failure (no folding into ``related``)
        self.all_findings = all_findings
        self._compiled: list[_Compiled] = []
        specs: list[RegexSpec] = []
        self._spec_target: list[int] = []  # spec id → pattern index, or -1-probe index
        self._spec_regex: list[int] = []  # spec id → index in the pattern's regexes
        for index, pattern in enumerate(database):
            self._compiled.append(_Compiled(pattern, index))
            for number, rx in enumerate(pattern.regex):
                specs.append(RegexSpec(len(specs), rx, pattern.ignore_case))
                self._spec_target.append(index)
                self._spec_regex.append(number)
        #: probe index → the dialect whose marker it is
        self._probe_dialects: list[str] = []
        for dialect_name, rx in dialects.all_markers():
            specs.append(RegexSpec(len(specs), rx, False))
            self._spec_target.append(-1 - len(self._probe_dialects))
            self._spec_regex.append(0)
            self._probe_dialects.append(dialect_name)
        try:
            self._scanner = CompositeScanner(specs, engine)
        except re.error:
            # a regex neither the fast engine nor Python accepts: name it
            for compiled in self._compiled:
                compiled.regexes  # noqa: B018 - raises PatternError naming the pattern
            raise

    @property
    def engine(self) -> str:
        return self._scanner.engine

    @property
    def scanner(self) -> CompositeScanner:
        """The compiled multi-pattern scanner (for benchmarks: the engine's share)."""
        return self._scanner

    @classmethod
    def from_default_database(
        cls,
        extra_dirs: Sequence[Path] = (),
        fallback: FallbackClassifier | None = None,
        *,
        all_findings: bool = False,
    ) -> Analyzer:
        """The shipped patterns plus ``extra_dirs`` (later ones override by id)."""
        return cls(load_database(extra_dirs), fallback, all_findings=all_findings)

    # --- entry points -------------------------------------------------------------------

    def analyze_path(
        self,
        path: Path | str,
        *,
        failed_steps: Sequence[str] = (),
        baseline: Baseline | None = None,
    ) -> Diagnosis:
        """``failed_steps``: names of the job's failed steps when the CI system's API told
        them; ``baseline``: templates of a passing run of the same job (noise)."""
        p = Path(path)
        try:
            chunks = read_file_chunks(p)
            diagnosis = self._analyze(
                chunks,
                str(path),
                spool=None,
                reopen=lambda: read_file_chunks(p),
                failed_steps=failed_steps,
                baseline=baseline,
            )
        except OSError as exc:
            raise AnalysisError(
                f"cannot read log {path}: {exc.strerror or exc}",
                hint="check that the path names a readable log file",
            ) from exc
        if self._wants_fallback(diagnosis):
            excerpt = build_excerpt(
                iter_log_lines(read_file_chunks(p)), str(path), candidates=_blocks(diagnosis)
            )
            diagnosis = self._merge_fallback(diagnosis, excerpt)
        return diagnosis

    def analyze_stream(
        self,
        chunks: Iterable[bytes],
        name: str,
        *,
        failed_steps: Sequence[str] = (),
        baseline: Baseline | None = None,
    ) -> Diagnosis:
        import tempfile

        # keep a copy (on disk when large): the failing step and the fallback classifier
        # read the log again
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:

            def reopen() -> Iterator[bytes]:
                spool.flush()
                spool.seek(0)
                return _read_spool(spool)

            diagnosis = self._analyze(
                chunks,
                name,
                spool=spool,
                reopen=reopen,
                failed_steps=failed_steps,
                baseline=baseline,
            )
            if self._wants_fallback(diagnosis):
                excerpt = build_excerpt(
                    iter_log_lines(reopen()), name, candidates=_blocks(diagnosis)
                )
                diagnosis = self._merge_fallback(diagnosis, excerpt)
        return diagnosis

    def analyze_source(
        self,
        source: LogSource,
        *,
        failed_steps: Sequence[str] = (),
        baseline: Baseline | None = None,
    ) -> Diagnosis:
        """One log of :func:`~hee_monitor.analysis.logreader.log_sources`: a plain file by
        its path (read again cheaply for the fallback), any other source as a stream.
        Raises LogReadError for a damaged archive, found while streaming it."""
        if source.path is not None:
            return self.analyze_path(source.path, failed_steps=failed_steps, baseline=baseline)
        return self.analyze_stream(
            source.open(), source.name, failed_steps=failed_steps, baseline=baseline
        )

    def analyze_text(
        self, text: str, name: str = "<text>", *, baseline: Baseline | None = None
    ) -> Diagnosis:
        return self.analyze_stream(
            [text.encode("utf-8", errors="surrogateescape")], name, baseline=baseline
        )

    # --- fallback ------------------------------------------------------------------------

    def _wants_fallback(self, diagnosis: Diagnosis) -> bool:
        if self.fallback is None:
            return False
        root = diagnosis.root_cause
        return (
            root is None or root.confidence < LOW_CONFIDENCE or root.pattern_id == FAILING_STEP_ID
        )

    def _merge_fallback(self, diagnosis: Diagnosis, excerpt: object) -> Diagnosis:
        assert self.fallback is not None
        from hee_monitor.analysis.interface import LogExcerpt

        assert isinstance(excerpt, LogExcerpt)
        result = self.fallback.classify(excerpt)
        notes = diagnosis.notes + ((result.note,) if result.note else ())
        # the model read the log's candidate blocks and picked: its answer leads when the
        # patterns had no confident root cause
        failures = (
            *sorted(result.findings, key=lambda f: -f.confidence),
            *diagnosis.failures,
        )
        return replace(diagnosis, failures=tuple(failures), notes=notes)

    # --- the pass --------------------------------------------------------------------------

    def _analyze(
        self,
        chunks: Iterable[bytes],
        name: str,
        spool: IO[bytes] | None,
        *,
        reopen: Callable[[], Iterable[bytes]] | None = None,
        failed_steps: Sequence[str] = (),
        baseline: Baseline | None = None,
    ) -> Diagnosis:
        started = time.perf_counter()
        if spool is not None:
            chunks = _tee(chunks, spool)
        states: dict[int, _PatternState] = {}
        window = LineWindow()
        run = _Run(failed_steps)
        total_lines = 0
        next_line = 1
        saturated: set[int] = set()  # spec ids of patterns with all their evidence
        for data in iter_raw_blocks(chunks):
            if next_line == 1:
                run.detect(data[: dialects.HEAD_BYTES])
            hits = self._scanner.scan(data)
            if hits:
                # one pass of newline counting: up to each hit, then to the end
                located, newlines = _locate(data, hits, saturated)
            else:
                located, newlines = [], data.count(b"\n")
            block = Block(next_line, data, newlines)
            next_line += newlines
            window.add(block)
            total_lines = block.last_line
            if located:
                self._take_hits(block, located, states, run, window)
                saturated = {
                    sid
                    for sid, target in enumerate(self._spec_target)
                    if target >= 0
                    and (st := states.get(target)) is not None
                    and len(st.occurrences) >= MAX_EVIDENCE
                }
            self._resolve(states, window, final=False)
            keep_from = min(
                (o.line for s in states.values() for o in s.pending), default=total_lines
            )
            window.forget_before(keep_from - 200)
        self._resolve(states, window, final=True)
        run.finish(total_lines)
        if spool is not None:
            spool.flush()
        notes: tuple[str, ...] = ()
        if baseline is not None and reopen is not None:
            shared = _shared_share(baseline, reopen)
            if shared < MIN_SHARED:
                notes = (
                    f"baseline {baseline.name} ignored: it shares {shared:.0%} of this log's "
                    "opening messages, not the log of a passing run of the same job",
                )
                baseline = None
        failures = self._findings(states, run, total_lines, baseline=baseline, reopen=reopen)
        if baseline is not None:
            notes = (f"last-green baseline: {baseline.name} ({len(baseline.templates)} templates)",)
        return Diagnosis(
            log=name,
            lines=total_lines,
            failures=tuple(failures),
            notes=notes,
            analysis_seconds=time.perf_counter() - started,
        )

    def _take_hits(
        self,
        block: Block,
        hits: list[tuple[int, int, int]],
        states: dict[int, _PatternState],
        run: _Run,
        window: LineWindow,
    ) -> None:
        data = block.data
        # line, probe-first order, target, position, regexes of the target that selected it
        located: list[tuple[int, int, int, int, list[int]]] = []
        seen: dict[tuple[int, int], list[int]] = {}
        spec_target = self._spec_target
        spec_regex = self._spec_regex
        for sid, pos, newlines in hits:
            target = spec_target[sid]
            key = (target, newlines)
            numbers = seen.get(key)
            if numbers is not None:
                if spec_regex[sid] not in numbers:
                    numbers.append(spec_regex[sid])
                continue
            if target >= 0:
                state = states.get(target)
                if state is not None and len(state.occurrences) >= MAX_EVIDENCE:
                    continue
            numbers = seen[key] = [spec_regex[sid]]
            located.append(
                (block.first_line + newlines, 0 if target < 0 else 1, target, pos, numbers)
            )
        located.sort(key=lambda item: item[:3])
        for line, _, target, pos, numbers in located:
            start = data.rfind(b"\n", 0, pos) + 1
            stop = data.find(b"\n", pos)
            raw = data[start : stop if stop >= 0 else len(data)]
            if target < 0:
                run.feed(self._probe_dialects[-1 - target], line, raw)
                continue
            if run.in_header(line):
                continue
            compiled = self._compiled[target]
            state = states.setdefault(target, _PatternState())
            if len(state.occurrences) >= MAX_EVIDENCE:
                continue
            # the whole line (no cut: confirmation is linear-time, and the cause may
            # stand at the end of a long line)
            text = normalise_line(raw, limit=MAX_PARTIAL_BYTES)
            # the scanner selects a superset of each regex's lines: the regexes that
            # selected this line are the only ones that can match it
            if (
                compiled.confirms(text, numbers)
                and not _TEST_PASSED.search(text)
                and not _TEXT_COMMAND_TRACE.match(text)
            ):
                window.anchor(line, start)
                occ = Occurrence(
                    line,
                    text[:MAX_LINE_BYTES],
                    run.step,
                    run.region,
                    bool(_WARNING_LINE.match(text)),
                )
                state.occurrences.append(occ)
                state.pending.append(occ)

    def _resolve(self, states: dict[int, _PatternState], window: LineWindow, final: bool) -> None:
        for index, state in states.items():
            if not state.pending:
                continue
            compiled = self._compiled[index]
            pattern = compiled.pattern
            need = (pattern.max_lines - 1) if compiled.end is not None else pattern.context.after
            waiting: list[Occurrence] = []
            for occ in state.pending:
                if not final and occ.line + need > window.last_line:
                    waiting.append(occ)
                    continue
                start, stop = evidence_range(
                    window,
                    occ,
                    before=pattern.context.before,
                    after=pattern.context.after,
                    end=compiled.end,
                    max_lines=pattern.max_lines,
                )
                lines = {n: window.text(n) or "" for n in range(start, stop + 1)}
                state.resolved.append(_Resolved(start, stop, lines))
            state.pending = waiting

    def _findings(
        self,
        states: dict[int, _PatternState],
        run: _Run,
        total_lines: int,
        *,
        baseline: Baseline | None = None,
        reopen: Callable[[], Iterable[bytes]] | None = None,
    ) -> list[Finding]:
        failed = run.failed
        noise = baseline.templates if baseline is not None else frozenset()
        ranked: list[tuple[tuple[float, ...], Finding, int]] = []
        # tier-0/1 findings that only summarise or point (they anchor the fallback)
        claims = False
        summaries: list[int] = []
        agreed: dict[int, Pattern] = {}
        generic_ranges: list[tuple[int, int]] = []
        for index, state in states.items():
            if not state.occurrences:
                continue
            pattern = self._compiled[index].pattern
            texts: dict[int, str] = {}
            for res in state.resolved:
                texts.update(res.lines)
            ranges = merge_ranges((r.start, r.stop) for r in state.resolved)[:MAX_EVIDENCE]
            if noise:
                ranges = _without_noise(ranges, texts, {o.line for o in state.occurrences}, noise)
            evidence = tuple(
                Evidence(a, b, "\n".join(texts.get(n, "") for n in range(a, b + 1)))
                for a, b in ranges
            )
            occurrences = state.occurrences
            first = occurrences[0]
            # every occurrence in a command or step that ended well: not where it failed
            succeeded = run.build_passed or (
                len(occurrences) < MAX_EVIDENCE
                and all(run.ended_well(o.region) for o in occurrences)
            )
            in_failed = (
                failed is not None
                and not succeeded
                and any(o.region == failed.index for o in occurrences)
            )
            # outside every failing step: never the root cause
            outside = failed is not None and not any(run.failing(o.region) for o in occurrences)
            seen_passing = bool(noise) and all(template(o.text) in noise for o in occurrences)
            if pattern.scope == "setup":
                outside = True  # set-up noise: never the root cause
            if succeeded:
                tier = 4
            elif outside or seen_passing:
                tier = 3
            elif failed is None or in_failed:
                tier = 0
            else:
                tier = 1  # a later step that failed too
            capped = succeeded or outside or seen_passing
            generic = claims_nothing(pattern)
            if tier == 0:
                if generic:
                    for o in occurrences:
                        agreed.setdefault(o.line, pattern)
                    generic_ranges.extend(ranges)
                    if is_summary(pattern) and pattern.scope != "setup":
                        summaries.extend(
                            o.line
                            for o in occurrences
                            if failed is None or o.region == failed.index
                        )
                else:
                    claims = True
            confidence = 0.3 + 0.55 * pattern.priority / 100
            if failed is not None or succeeded:
                confidence += 0.1 if in_failed else -0.1 if tier >= 3 else 0.0
            if len(occurrences) > 1:
                confidence += 0.03
            details: dict[str, object] = {"occurrences": len(occurrences)}
            if first.step:
                details["step"] = first.step
            if succeeded:
                details["step_succeeded"] = True
            elif outside:
                details["outside_failing_step"] = True
            if seen_passing and baseline is not None:
                details["seen_in_baseline"] = baseline.name
            finding = Finding(
                pattern_id=pattern.id,
                title=pattern.title,
                category=pattern.category,
                severity=survived_severity(pattern.severity, occurrences, capped),
                owner=pattern.owner,
                risk=pattern.risk,
                transient=pattern.transient,
                confidence=max(0.05, min(0.99, confidence)),
                fix_strategy=pattern.fix_strategy,
                fingerprint=fingerprint(pattern.id, [o.text for o in occurrences[:3]]),
                evidence=evidence,
                auto_fix=pattern.auto_fix,
                rollback_required=pattern.rollback_required,
                details=details,
            )
            key: tuple[float, ...] = (tier, -pattern.priority, first.line, -pattern.severity.rank)
            ranked.append((key, finding, pattern.priority))
        target = failed
        if (
            target is None
            and run.steps
            and run.steps[-1].outcome == "unknown"
            and (agreed or run.dialect != "plain")
        ):
            # no failing step told: a CI log that ends inside a step (cut), or a plain
            # log where generic patterns saw a failure; the end of its last step is the
            # best guess if anything there reads like a failure
            target = run.steps[-1]
        if not claims and target is not None and not run.build_passed and reopen is not None:
            fallback = self._failing_step_finding(
                target, failed is not None, summaries, agreed, noise, reopen, baseline
            )
            if fallback is not None and _within(fallback.evidence[0], generic_ranges):
                fallback = None  # a pattern says the same, with its own words
            if fallback is not None:
                ranked.append(((-1.0,), fallback, GENERIC_PRIORITY + 1))
        ranked.sort(key=lambda kv: kv[0])
        if noise and ranked and reopen is not None and ranked[0][0][0] <= 0 and failed is not None:
            top_key, root, top_priority = ranked[0]
            ranked[0] = (top_key, _grown_by_diff(root, failed, noise, reopen), top_priority)
        # confidence never rises down the ranking: the first finding is the most likely
        out: list[tuple[Finding, int]] = []
        for _, finding, priority in ranked:
            if out and finding.confidence > out[-1][0].confidence:
                finding = replace(finding, confidence=out[-1][0].confidence)
            out.append((finding, priority))
        listed = [finding for finding, _ in out] if self.all_findings else fold_findings(out)
        if baseline is not None and listed:
            # the diagnosis says which baseline it was made against, with its root cause
            root = listed[0]
            listed[0] = replace(root, details={**root.details, "baseline": baseline.name})
        return listed

    def _failing_step_finding(
        self,
        step: Step,
        known_failure: bool,
        summaries: Sequence[int],
        agreed: dict[int, Pattern],
        noise: frozenset[str],
        reopen: Callable[[], Iterable[bytes]],
        baseline: Baseline | None,
    ) -> Finding | None:
        """``GEN-FAILING-STEP``: the best block of the failing step by the pattern-free
        scorer (see :mod:`~hee_monitor.analysis.failing_step`), with the exit line."""
        body = max(step.body_start, step.start)
        end = step.end or step.start
        inside = sorted(n for n in summaries if body <= n <= end)
        anchor = inside[0] if inside else (step.exit_line or end)
        if anchor <= body:
            if not known_failure:
                return None  # nothing above the summary that opens the log
            anchor = end + 1
        low = max(body, anchor - MAX_STEP_LINES)
        high = max(anchor - 1, low)
        wanted_exit = step.exit_line if step.exit_line and step.exit_line > high else None
        read = read_lines(reopen, low, wanted_exit or high)
        lines = [
            (n, t)
            for n, t in read
            if n <= high and not _TEST_PASSED.search(t) and not _TEXT_COMMAND_TRACE.match(t)
        ]
        found = candidates(lines, anchor, noise=noise, agreed=set(agreed))
        if not found:
            return None
        best = found[0]
        if not known_failure and not best.worded:
            return None  # no failing step told and nothing reads like a failure
        text = dict(read)
        evidence = [
            Evidence(
                best.start,
                best.end,
                "\n".join(text.get(n, "") for n in range(best.start, best.end + 1)),
            )
        ]
        exit_line = step.exit_line
        if exit_line is not None and exit_line > best.end:
            evidence.append(Evidence(exit_line, exit_line, text.get(exit_line, "")))
        agreeing = sorted(
            {agreed[n] for n in range(best.start, best.end + 1) if n in agreed},
            key=lambda p: -p.priority,
        )
        pattern = agreeing[0] if agreeing else None
        severity = Severity.HIGH if known_failure else Severity.MEDIUM
        confidence = (0.45 if best.worded else 0.3) + (0.1 if pattern is not None else 0.0)
        if not known_failure:
            confidence -= 0.1
        details: dict[str, object] = {
            "step": step.name,
            "exit_code": step.exit_code,
            "candidates": [[c.start, c.end] for c in found],
        }
        if baseline is not None:
            details["baseline"] = baseline.name
        return Finding(
            pattern_id=FAILING_STEP_ID,
            title=f"Failure in step: {step.name}"
            if step.name
            else "Failure near the end of the log",
            category=pattern.category if pattern is not None else "unknown",
            severity=severity,
            owner=pattern.owner if pattern is not None else None,
            risk=pattern.risk if pattern is not None else 5,
            transient=False,
            confidence=confidence,
            fix_strategy=pattern.fix_strategy if pattern is not None else None,
            fingerprint=fingerprint(FAILING_STEP_ID, [template(text.get(best.line, ""))]),
            evidence=tuple(evidence),
            details=details,
        )


def survived_severity(
    severity: Severity, occurrences: Sequence[Occurrence], step_succeeded: bool
) -> Severity:
    """The severity to report: at most medium when the commands that printed every
    occurrence ended well (``step_succeeded``), or when every occurrence is a line marked
    as a warning and the pattern did not keep its maximum of occurrences (later ones were
    not looked at)."""
    if not severity.at_least(Severity.HIGH):
        return severity
    if step_succeeded:
        return Severity.MEDIUM
    if occurrences and len(occurrences) < MAX_EVIDENCE and all(o.warning for o in occurrences):
        return Severity.MEDIUM
    return severity


def _lines_of(finding: Finding) -> set[int]:
    return {n for e in finding.evidence for n in range(e.start_line, e.end_line + 1)}


def fold_findings(ranked: Sequence[tuple[Finding, int]]) -> list[Finding]:
    """Condense ranked (finding, pattern priority) pairs, most likely first, into the
    failures to list (see the module docstring); a folded finding's id goes to the
    ``related`` ids of the finding that absorbs it, in ranking order."""
    specific = next((n for n, (_, prio) in enumerate(ranked) if prio > GENERIC_PRIORITY), None)
    if specific is None:
        # only generic findings: they are the best there is, listed as they are
        return [finding for finding, _ in ranked]
    kept: list[int] = []  # indexes into ranked
    related: dict[int, list[str]] = {}
    kept_lines: dict[int, set[int]] = {}
    covered: set[int] = set()
    for n, (finding, priority) in enumerate(ranked):
        if finding.transient or n == specific:
            target = None
        elif priority <= GENERIC_PRIORITY:
            target = specific
        else:
            target = None
            lines = _lines_of(finding)
            if lines and lines <= covered:
                target = max(kept, key=lambda k: (len(kept_lines[k] & lines), -k))
        if target is None:
            kept.append(n)
            kept_lines[n] = _lines_of(finding)
            covered |= kept_lines[n]
            continue
        ids = related.setdefault(target, [])
        if finding.pattern_id not in ids:
            ids.append(finding.pattern_id)
    out: list[Finding] = []
    for n in sorted(kept):
        finding = ranked[n][0]
        if n in related:
            finding = replace(finding, related=(*finding.related, *related[n]))
        out.append(finding)
    return out


class _Run:
    """The log's dialect and the steps its parser built from the marker lines so far."""

    def __init__(self, failed_steps: Sequence[str]) -> None:
        self._failed_steps = tuple(failed_steps)
        self.dialect: str = "plain"
        self.parser: StepParser = dialects.DIALECTS["plain"].parser()
        self.steps: list[Step] = []
        self._fed = 0

    def detect(self, head: bytes) -> None:
        dialect = dialects.detect(head, self._failed_steps)
        self.dialect = dialect.name
        self.parser = dialect.parser()

    def feed(self, dialect: str, line: int, raw: bytes) -> None:
        if dialect != self.dialect or line == self._fed:  # several markers on one line
            return
        self._fed = line
        self.parser.feed(line, normalise_line(raw[:MAX_LINE_BYTES], redraws=True))

    @property
    def region(self) -> int:
        return self.parser.current

    @property
    def step(self) -> str | None:
        steps = self.parser.steps
        return steps[-1].name if steps else None

    def in_header(self, line: int) -> bool:
        return self.parser.in_header(line)

    def finish(self, total_lines: int) -> None:
        self.steps = self.parser.finish(total_lines)

    @property
    def build_passed(self) -> bool:
        return self.parser.verdict is True

    @property
    def failed(self) -> Step | None:
        return first_failing(self.steps)

    def ended_well(self, region: int) -> bool:
        """Whether step ``region`` is known to have ended without a failure."""
        return 0 <= region < len(self.steps) and self.steps[region].outcome == "success"

    def failing(self, region: int) -> bool:
        return 0 <= region < len(self.steps) and self.steps[region].failed


def _locate(
    data: bytes, hits: list[tuple[int, int]], saturated: set[int]
) -> tuple[list[tuple[int, int, int]], int]:
    """(spec id, position of the match's last byte, newlines before it) per hit, and the
    block's newline count, counting every newline once. Hits of ``saturated`` specs
    (patterns that already have all the evidence they keep) are dropped."""
    hits.sort(key=lambda h: h[1])
    last = len(data) - 1
    out: list[tuple[int, int, int]] = []
    prev = 0
    newlines = 0
    count = data.count
    for sid, end in hits:
        if sid in saturated:
            continue
        pos = min(max(end - 1, 0), last)
        if pos != prev:
            newlines += count(b"\n", prev, pos)
            prev = pos
        out.append((sid, pos, newlines))
    return out, newlines + count(b"\n", prev)


#: a baseline sharing less than this share of a log's opening messages is of another job
MIN_SHARED = 0.05
#: opening lines of a log compared with its baseline
_SHARED_LINES = 2000


def _shared_share(baseline: Baseline, reopen: Callable[[], Iterable[bytes]]) -> float:
    """The share of the log's first :data:`_SHARED_LINES` non-blank lines whose template
    the baseline holds (a passing run of the same job shares its set-up at least)."""
    temps = [template(t) for _, t in read_lines(reopen, 1, _SHARED_LINES)]
    temps = [t for t in temps if t]
    if not temps:
        return 1.0
    return sum(t in baseline.templates for t in temps) / len(temps)


#: lines the baseline diff may add around the root cause's evidence
MAX_DIFF_LINES = 30


def _grown_by_diff(
    finding: Finding,
    step: Step,
    noise: frozenset[str],
    reopen: Callable[[], Iterable[bytes]],
) -> Finding:
    """The root cause's evidence grown over the adjacent lines of the failing step that the
    passing run never printed (its diff against the baseline), at most
    :data:`MAX_DIFF_LINES` more lines in all."""
    body, end = max(step.body_start, step.start), step.end or step.start
    evidence = list(finding.evidence)
    if not evidence:
        return finding
    low = max(body, min(e.start_line for e in evidence) - MAX_DIFF_LINES)
    high = min(end, max(e.end_line for e in evidence) + MAX_DIFF_LINES)
    text = dict(read_lines(reopen, low, high))

    def novel(n: int) -> bool:
        t = template(text.get(n, ""))
        return body <= n <= end and t != "" and t not in noise and not _NOT_CAUSE.search(t)

    budget = MAX_DIFF_LINES
    grown: list[tuple[int, int]] = []
    for e in evidence:
        a, b = e.start_line, e.end_line
        while budget > 0 and a - 1 in text and novel(a - 1):
            a -= 1
            budget -= 1
        while budget > 0 and b + 1 in text and novel(b + 1):
            b += 1
            budget -= 1
        grown.append((a, b))
    merged = merge_ranges(grown)
    if merged == [(e.start_line, e.end_line) for e in evidence]:
        return finding
    new = tuple(
        Evidence(a, b, "\n".join(text.get(n, "") for n in range(a, b + 1))) for a, b in merged
    )
    return replace(finding, evidence=new)


#: what the diff never adds: CI markers and exit lines
_NOT_CAUSE = re.compile(
    r"^##\[(?:group|endgroup|section)|^Process completed with|^The command \"|^travis_"
)


def _without_noise(
    ranges: Sequence[tuple[int, int]],
    texts: dict[int, str],
    keep: set[int],
    noise: frozenset[str],
) -> list[tuple[int, int]]:
    """``ranges`` without the context lines a passing run printed too (or blank ones): a
    range splits where they were; the lines a pattern matched always stay."""
    out: list[tuple[int, int]] = []
    for a, b in ranges:
        start: int | None = None
        for n in range(a, b + 2):
            if n <= b:
                t = template(texts.get(n, ""))
                wanted = n in keep or (t != "" and t not in noise)
            else:
                wanted = False
            if wanted and start is None:
                start = n
            elif not wanted and start is not None:
                out.append((start, n - 1))
                start = None
    return out[:MAX_EVIDENCE] or list(ranges)


def _blocks(diagnosis: Diagnosis) -> list[tuple[int, int]]:
    """The pattern-free root cause's candidate blocks (with two lines of context) and its
    exit line, best first: what the model is handed to pick from and explain."""
    root = diagnosis.root_cause
    if root is None or root.pattern_id != FAILING_STEP_ID:
        return []
    found = root.details.get("candidates")
    out: list[tuple[int, int]] = []
    for item in found if isinstance(found, list) else []:
        if isinstance(item, list) and len(item) == 2:
            out.append((max(1, int(item[0]) - 2), int(item[1]) + 2))
    out.extend((e.start_line, e.end_line) for e in root.evidence[1:])
    return out


def _within(evidence: Evidence, ranges: Sequence[tuple[int, int]]) -> bool:
    return any(a <= evidence.start_line and evidence.end_line <= b for a, b in ranges)


def read_lines(
    reopen: Callable[[], Iterable[bytes]], first: int, last: int
) -> list[tuple[int, str]]:
    """Lines ``first`` to ``last`` (1-based, inclusive) of a log read again, normalised."""
    out: list[tuple[int, str]] = []
    if last < first:
        return out
    for block in iter_blocks(reopen()):
        if block.last_line < first:
            continue
        if block.first_line > last:
            break
        raws = block.data.split(b"\n")
        for offset, raw in enumerate(raws[: block.line_count]):
            number = block.first_line + offset
            if first <= number <= last:
                out.append((number, normalise_line(raw)))
    return out


def _tee(chunks: Iterable[bytes], spool: IO[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        spool.write(chunk)
        yield chunk


def _read_spool(spool: IO[bytes]) -> Iterator[bytes]:
    while chunk := spool.read(1024 * 1024):
        yield chunk


__all__ = [
    "FAILING_STEP_ID",
    "GENERIC_PRIORITY",
    "MAX_LINE_BYTES",
    "Analyzer",
    "Baseline",
    "claims_nothing",
    "fold_findings",
    "is_summary",
]
