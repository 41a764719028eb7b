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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from hee_monitor.analysis.evidence import LineWindow, Occurrence, evidence_range, merge_ranges
from hee_monitor.analysis.fingerprint import fingerprint
from hee_monitor.analysis.interface import FallbackClassifier
from hee_monitor.analysis.logreader import (
    MAX_LINE_BYTES,
    Block,
    LogSource,
    build_excerpt,
    iter_log_lines,
    iter_raw_blocks,
    normalise_line,
    read_file_chunks,
)
from hee_monitor.analysis.matcher import CompositeScanner, RegexSpec
from hee_monitor.analysis.patterns import Pattern, PatternDatabase, load_database
from hee_monitor.core.errors import AnalysisError, PatternError
from hee_monitor.core.models import Diagnosis, Evidence, Finding, Severity

#: evidence ranges kept per finding (the first occurrences)
MAX_EVIDENCE = 5
#: a step header (##[group]Run ... ##[endgroup]) never runs longer than this
_MAX_HEADER_LINES = 400
#: below this root-cause confidence the fallback classifier is asked as well
LOW_CONFIDENCE = 0.4
_STEP_BONUS = 10
#: patterns at or below this priority are generic summaries of a failure
GENERIC_PRIORITY = 30

# internal probes, scanned in the same pass as the patterns
_PROBE_STEP = "step"
_PROBE_END_HEADER = "endgroup"
_PROBE_EXIT = "exit"
_PROBE_JENKINS = "jenkins"
_PROBE_TRAVIS = "travis"
_PROBE_OUTCOME = "outcome"
_PROBE_VERDICT = "verdict"
_PROBES: tuple[tuple[str, str], ...] = (
    (_PROBE_STEP, r"^##\[group\]Run "),
    (_PROBE_END_HEADER, r"^##\[endgroup\]"),
    (_PROBE_EXIT, r"##\[error\]Process completed with exit code \d+"),
    (_PROBE_JENKINS, r"^\[Pipeline\] \{ \("),
    (_PROBE_TRAVIS, r"travis_fold:start:"),
    # where a command or step starts and how it ended (_RunState._outcomes reads the
    # whole line; the step starts above are read too)
    (_PROBE_OUTCOME, r"travis_time:start:"),
    # Travis: 'The command "…" exited with N.', the command's text may span lines
    (_PROBE_OUTCOME, r'" (failed and )?exited with \d+'),
    (_PROBE_OUTCOME, r"##\[error\]"),
    (_PROBE_OUTCOME, r"^Post job cleanup\."),
    (_PROBE_OUTCOME, r"^Cleaning up orphan processes"),
    (_PROBE_OUTCOME, r"No output has been received in the last"),
    (_PROBE_OUTCOME, r"Your build has been stopped"),
    # the build's own verdict at the end of the log: Jenkins, Travis, GitLab
    (_PROBE_VERDICT, r"^Finished: [A-Z_]+"),
    (_PROBE_VERDICT, r"Done\. Your build exited with \d+"),
    (_PROBE_VERDICT, r"^Job succeeded"),
    (_PROBE_VERDICT, r"^ERROR: Job failed"),
)
_VERDICT = re.compile(
    r"^Finished: (?P<jenkins>[A-Z_]+)|Done\. Your build exited with (?P<travis>\d+)"
    r"|^(?P<gitlab>Job succeeded)|^ERROR: Job failed"
)
#: what starts a command or step, and what reports a failure, in a raw line (colour codes
#: never sit inside them); found with bytes.find, much cheaper than a regex per character
_START_MARKS = (
    b"travis_time:start:",
    b"##[group]Run ",
    b"Post job cleanup.",
    b"Cleaning up orphan processes",
)
_FAIL_MARKS = (
    b"##[error]",
    b"No output has been received in the last",
    b"Your build has been stopped",
)
#: Travis: 'The command "…" exited with N.' (the command's text may span lines)
_EXIT_STATUS = re.compile(rb'" (?:failed and )?exited with (\d+)')
_START, _FAIL, _EXIT_ZERO = 0, 1, 2
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
_STEP_NAME = {
    _PROBE_STEP: re.compile(r"^##\[group\]Run (.*)"),
    _PROBE_JENKINS: re.compile(r"^\[Pipeline\] \{ \((.*)\)"),
    _PROBE_TRAVIS: re.compile(r"travis_fold:start:([^\s]+)"),
}


class _Compiled:
    """A pattern prepared for confirmation. Its Python regexes are compiled on first use,
    one by one: most patterns never see a candidate line, a candidate line is confirmed
    with the regex whose scanner expression selected it, and compiling hundreds of regexes
    up front would dominate the start-up time."""

    def __init__(self, pattern: Pattern, index: int) -> None:
        self.pattern = pattern
        self.index = index
        self._flags = re.IGNORECASE if pattern.ignore_case else 0
        self._regexes: list[re.Pattern[str] | None] = [None] * len(pattern.regex)
        self._excludes: tuple[re.Pattern[str], ...] | None = None
        self._end: re.Pattern[str] | None = None
        self._end_ready = False

    def _re(self, regex: str) -> re.Pattern[str]:
        try:
            return re.compile(regex, self._flags)
        except re.error as exc:
            raise PatternError(
                f"{self.pattern.where}: regex does not compile: {exc}",
                hint="run `hee-monitor patterns validate` on the file",
            ) from exc

    def regex(self, number: int) -> re.Pattern[str]:
        """The pattern's ``number``-th regex, compiled."""
        compiled = self._regexes[number]
        if compiled is None:
            compiled = self._regexes[number] = self._re(self.pattern.regex[number])
        return compiled

    @property
    def regexes(self) -> tuple[re.Pattern[str], ...]:
        return tuple(self.regex(n) for n in range(len(self._regexes)))

    @property
    def excludes(self) -> tuple[re.Pattern[str], ...]:
        if self._excludes is None:
            self._excludes = tuple(self._re(rx) for rx in self.pattern.exclude)
        return self._excludes

    @property
    def end(self) -> re.Pattern[str] | None:
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
        self._probe_names: list[str] = []
        for name, rx in _PROBES:
            specs.append(RegexSpec(len(specs), rx, False))
            self._spec_target.append(-1 - len(self._probe_names))
            self._spec_regex.append(0)
            self._probe_names.append(name)
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

    def analyze_path(self, path: Path | str) -> Diagnosis:
        p = Path(path)
        try:
            chunks = read_file_chunks(p)
            diagnosis = self._analyze(chunks, str(path), spool=None)
        except OSError as exc:
            raise AnalysisError(
                f"cannot read log {path}: {exc.strerror or exc}",
                hint="check that the path names a readable log file",
            ) from exc
        if self._wants_fallback(diagnosis):
            excerpt = build_excerpt(iter_log_lines(read_file_chunks(p)), str(path))
            diagnosis = self._merge_fallback(diagnosis, excerpt)
        return diagnosis

    def analyze_stream(self, chunks: Iterable[bytes], name: str) -> Diagnosis:
        if self.fallback is None:
            return self._analyze(chunks, name, spool=None)
        import tempfile

        # keep a copy (on disk when large) so the fallback can read the log again
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            diagnosis = self._analyze(chunks, name, spool=spool)
            if self._wants_fallback(diagnosis):
                spool.seek(0)
                excerpt = build_excerpt(iter_log_lines(_read_spool(spool)), name)
                diagnosis = self._merge_fallback(diagnosis, excerpt)
        return diagnosis

    def analyze_source(self, source: LogSource) -> Diagnosis:
        """One log of :func:`~hee_monitor.analysis.logreader.log_sources`: a plain file by
        its path (read again cheaply for the fallback), any other source as a stream.
        Raises LogReadError for a damaged archive, found while streaming it."""
        if source.path is not None:
            return self.analyze_path(source.path)
        return self.analyze_stream(source.open(), source.name)

    def analyze_text(self, text: str, name: str = "<text>") -> Diagnosis:
        return self.analyze_stream([text.encode("utf-8", errors="surrogateescape")], name)

    # --- fallback ------------------------------------------------------------------------

    def _wants_fallback(self, diagnosis: Diagnosis) -> bool:
        if self.fallback is None:
            return False
        root = diagnosis.root_cause
        return root is None or root.confidence < LOW_CONFIDENCE

    def _merge_fallback(self, diagnosis: Diagnosis, excerpt: object) -> Diagnosis:
        assert self.fallback is not None
        from hee_monitor.analysis.interface import LogExcerpt

        assert isinstance(excerpt, LogExcerpt)
        result = self.fallback.classify(excerpt)
        notes = diagnosis.notes + ((result.note,) if result.note else ())
        failures = sorted((*diagnosis.failures, *result.findings), key=lambda f: -f.confidence)
        return replace(diagnosis, failures=tuple(failures), notes=notes)

    # --- the pass --------------------------------------------------------------------------

    def _analyze(self, chunks: Iterable[bytes], name: str, spool: IO[bytes] | None) -> Diagnosis:
        started = time.perf_counter()
        if spool is not None:
            chunks = _tee(chunks, spool)
        states: dict[int, _PatternState] = {}
        window = LineWindow()
        run = _RunState()
        total_lines = 0
        next_line = 1
        saturated: set[int] = set()  # spec ids of patterns with all their evidence
        for data in iter_raw_blocks(chunks):
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
        failures = self._findings(states, run, total_lines)
        return Diagnosis(
            log=name,
            lines=total_lines,
            failures=tuple(failures),
            analysis_seconds=time.perf_counter() - started,
        )

    def _take_hits(
        self,
        block: Block,
        hits: list[tuple[int, int, int]],
        states: dict[int, _PatternState],
        run: _RunState,
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
                run.probe(self._probe_names[-1 - target], line, raw)
                continue
            if run.in_header(line):
                continue
            compiled = self._compiled[target]
            state = states.setdefault(target, _PatternState())
            if len(state.occurrences) >= MAX_EVIDENCE:
                continue
            text = normalise_line(raw)
            # the scanner selects a superset of each regex's lines: the regexes that
            # selected this line are the only ones that can match it
            if (
                compiled.confirms(text, numbers)
                and not _TEST_PASSED.search(text)
                and not _TEXT_COMMAND_TRACE.match(text)
            ):
                window.anchor(line, start)
                occ = Occurrence(line, text, run.step, run.region, bool(_WARNING_LINE.match(text)))
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
        self, states: dict[int, _PatternState], run: _RunState, total_lines: int
    ) -> list[Finding]:
        ranked: list[tuple[tuple[float, int, int], Finding, int]] = []
        for index, state in states.items():
            if not state.occurrences:
                continue
            pattern = self._compiled[index].pattern
            texts: dict[int, str] = {}
            for res in state.resolved:
                texts.update(res.lines)
            ranges = merge_ranges((r.start, r.stop) for r in state.resolved)[:MAX_EVIDENCE]
            evidence = tuple(
                Evidence(a, b, "\n".join(texts.get(n, "") for n in range(a, b + 1)))
                for a, b in ranges
            )
            first = state.occurrences[0]
            # every occurrence in a command or step that ended well: not where it failed
            succeeded = run.build_passed or (
                len(state.occurrences) < MAX_EVIDENCE
                and all(run.ended_well(o.region) for o in state.occurrences)
            )
            in_failed_step = (
                not succeeded
                and run.failed_step is not None
                and any(o.step == run.failed_step for o in state.occurrences)
            )
            bonus = _STEP_BONUS if in_failed_step else -_STEP_BONUS if succeeded else 0
            confidence = 0.3 + 0.55 * pattern.priority / 100
            if run.failed_step is not None or succeeded:
                confidence += 0.1 if in_failed_step else -0.1
            if len(state.occurrences) > 1:
                confidence += 0.03
            details: dict[str, object] = {"occurrences": len(state.occurrences)}
            if first.step:
                details["step"] = first.step
            if succeeded:
                details["step_succeeded"] = True
            finding = Finding(
                pattern_id=pattern.id,
                title=pattern.title,
                category=pattern.category,
                severity=survived_severity(pattern.severity, state.occurrences, succeeded),
                owner=pattern.owner,
                risk=pattern.risk,
                transient=pattern.transient,
                confidence=max(0.05, min(0.99, confidence)),
                fix_strategy=pattern.fix_strategy,
                fingerprint=fingerprint(pattern.id, [o.text for o in state.occurrences[:3]]),
                evidence=evidence,
                auto_fix=pattern.auto_fix,
                rollback_required=pattern.rollback_required,
                details=details,
            )
            key = (-(pattern.priority + bonus), first.line, -pattern.severity.rank)
            ranked.append((key, finding, pattern.priority))
        ranked.sort(key=lambda kv: kv[0])
        # confidence never rises down the ranking: the first finding is the most likely
        out: list[tuple[Finding, int]] = []
        for _, finding, priority in ranked:
            if out and finding.confidence > out[-1][0].confidence:
                finding = replace(finding, confidence=out[-1][0].confidence)
            out.append((finding, priority))
        if self.all_findings:
            return [finding for finding, _ in out]
        return fold_findings(out)


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


class _RunState:
    """What the probes told so far: the current step, header ranges, the failed step."""

    def __init__(self) -> None:
        self.step: str | None = None
        self.header_start: int | None = None
        self.failed_step: str | None = None
        self.exit_line: int | None = None
        #: the current command region: a new one starts with every command or step start
        self.region = 0
        self._failed_regions: set[int] = set()
        self._exited_zero: set[int] = set()
        self._outcome_line = 0
        #: the log ends with the build's own verdict that it passed
        self.build_passed = False

    def ended_well(self, region: int) -> bool:
        """Whether command region ``region`` is known to have ended without a failure: it
        printed "exited with 0", or a later command started and it reported no failure."""
        if region in self._failed_regions:
            return False
        return region < self.region or region in self._exited_zero

    def _outcomes(self, line: int, raw: bytes) -> None:
        if line == self._outcome_line:  # several probes select the same line
            return
        self._outcome_line = line
        raw = raw[:MAX_LINE_BYTES]
        events: list[tuple[int, int]] = []
        for marks, kind in ((_START_MARKS, _START), (_FAIL_MARKS, _FAIL)):
            for mark in marks:
                at = raw.find(mark)
                while at >= 0:
                    events.append((at, kind))
                    at = raw.find(mark, at + 1)
        if b"exited with" in raw:
            for m in _EXIT_STATUS.finditer(raw):
                events.append((m.start(), _EXIT_ZERO if int(m.group(1)) == 0 else _FAIL))
        events.sort()
        for _, kind in events:
            if kind == _START:
                self.region += 1
            elif kind == _EXIT_ZERO:
                self._exited_zero.add(self.region)
            else:
                self._failed_regions.add(self.region)

    def probe(self, name: str, line: int, raw: bytes) -> None:
        if name in (_PROBE_OUTCOME, _PROBE_STEP, _PROBE_EXIT):
            self._outcomes(line, raw)
        if name == _PROBE_OUTCOME:
            return
        if name == _PROBE_VERDICT:
            m = _VERDICT.search(normalise_line(raw, redraws=True))
            if m is not None:  # the last verdict counts
                self.build_passed = (
                    m.group("jenkins") == "SUCCESS"
                    or m.group("travis") == "0"
                    or m.group("gitlab") is not None
                )
            return
        if name == _PROBE_END_HEADER:
            self.header_start = None
            return
        if name == _PROBE_EXIT:
            if self.exit_line is None:
                self.exit_line = line
                self.failed_step = self.step
            return
        m = _STEP_NAME[name].search(normalise_line(raw, redraws=True))
        if m is None:
            return
        self.step = m.group(1).strip()[:200] or None
        if name == _PROBE_STEP:
            self.header_start = line

    def in_header(self, line: int) -> bool:
        start = self.header_start
        return start is not None and line - start <= _MAX_HEADER_LINES


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


def _tee(chunks: Iterable[bytes], spool: IO[bytes]) -> Iterator[bytes]:
    for chunk in chunks:
        spool.write(chunk)
        yield chunk


def _read_spool(spool: IO[bytes]) -> Iterator[bytes]:
    while chunk := spool.read(1024 * 1024):
        yield chunk


__all__ = ["GENERIC_PRIORITY", "MAX_LINE_BYTES", "Analyzer", "fold_findings"]
