"""Compile the whole pattern database once into a multi-pattern scanner.

The scanner runs over *raw* blocks of the log (bytes as they are in the file: timestamps,
ANSI colours, CR). Normalising every line in Python would cost more than the scan itself,
so each regex is rewritten into a *tolerant* form that also matches the raw line: ``^``
may be followed by a BOM, a GitHub Actions timestamp and colour codes, ``$`` may be
preceded by colour codes and CR, and ``\\s`` also accepts colour codes around it. Colour
codes next to a literal space are not tolerated: allowing them made the scan 2.5x slower
on a real 535-regex database, so write ``\\s`` where a tool colours words. The
tolerant form only selects candidate lines; the analyzer then normalises those few lines
and confirms them with Python ``re`` and the original regex (and the exclusions).

Engines, fastest first: hyperscan (one database, one pass per block), RE2 and Python
``re`` (one compiled regex per expression). :data:`ENGINES` is the registry; the
libraries are imported only here.

Confirmation runs on RE2 (:func:`compile_linear`), whose time is linear in the length of
the line whatever the regex: a backtracking engine on a crafted megabyte-long line can
take minutes. A regex RE2 cannot run (backreferences, lookaround) is refused when a
pattern file is loaded or validated (:func:`linear_regex_error`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

# SGR colours and erase-line only: hyperscan 5.4 silently drops matches of other patterns
# in the same database when this group ends in the wider class [A-Za-z] (found on the
# shipped database: PHP-PHPUNIT-FAILURE vanished next to CC-CTEST-FAILED)
_ANSI = r"(?:\x1b\[[0-9;]*[mK])"
_TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?"
#: ``^`` also matches right after a lone CR: a progress bar redraws its line with CR, and
#: the text after the last CR is what the line says (see ``normalise_line``)
#: ``gh run view --log`` puts "job<TAB>step<TAB>" in front of the timestamp
_GH_CLI = r"(?:[^\t\n]*\t[^\t\n]*\t)"
_PREFIX = r"(?:(?:^" + _GH_CLI + "?(?:" + _TIMESTAMP + r")?|\r)" + _ANSI + "*)"
#: for hyperscan, ``^`` becomes "line start, or right after a ``Z`` (the end of a
#: timestamp, with its space), an ``m`` / ``K`` (the end of a colour code) or a CR": one
#: expression per regex, a superset of the raw lines the regex matches once normalised,
#: that the confirm step narrows down (3% more candidate lines than spelling the
#: timestamp and colour code out, for a scan about 10% faster). It
#: compiles 3.5x and scans 3x faster than one expression per line-start form, and
#: hyperscan 5.4 got neither that form nor one optional prefix group right on the
#: shipped database (it silently missed ``^[0-9]+\) ...`` lines; see test_matcher.py)
_HS_LINE_START = r"(?:^|Z ?|[mK\r])"
_SUFFIX = r"(?:" + _ANSI + r"|\r)*$"


def tolerant(regex: str, prefix: str = _PREFIX) -> str:
    """Rewrite ``regex`` (written for normalised lines) so it also matches raw lines;
    ``^`` becomes ``prefix``."""
    out: list[str] = []
    i = 0
    n = len(regex)
    while i < n:
        c = regex[i]
        if c == "\\" and i + 1 < n:
            nxt = regex[i + 1]
            if nxt == "s":
                out.append("(?:" + _ANSI + r"*\s" + _ANSI + "*)")
            else:
                out.append(regex[i : i + 2])
            i += 2
            continue
        if c == "[":
            # copy a character class verbatim
            j = i + 1
            if j < n and regex[j] == "^":
                j += 1
            if j < n and regex[j] == "]":
                j += 1
            while j < n and regex[j] != "]":
                j += 2 if regex[j] == "\\" else 1
            out.append(regex[i : j + 1])
            i = j + 1
            continue
        if c == "(" and regex.startswith("(?", i) and not regex.startswith("(?:", i):
            # (?i), (?P<name>, (?#...): copy the group prefix verbatim
            j = i + 2
            while j < n and regex[j] not in ":)>":
                j += 1
            out.append(regex[i : j + 1])
            i = j + 1
            continue
        if c == "^":
            out.append(prefix)
        elif c == "$":
            out.append(_SUFFIX)
        else:
            out.append(c)
        i += 1
    result = "".join(out)
    # a trailing optional atom (.*, [a-z]*, \w?) adds nothing to "does this line match"
    # but makes the engine report every end position; drop it (x+ at the end: keep x)
    if result.endswith(".*" + _SUFFIX) and not result.endswith("\\.*" + _SUFFIX):
        result = result[: -len(".*" + _SUFFIX)]
    while True:
        m = _TRAILING.search(result)
        if m is None or _escaped(result, m.start()):
            break
        result = result[: m.start()] + (m.group(1) if m.group(2) == "+" else "")
        if m.group(2) == "+":
            break
    return result or ".?"


_TRAILING = re.compile(r"(\[(?:\\.|[^\]\\])*\]|\\[wWdDsS]|\.)([*?+])$")


def _escaped(text: str, index: int) -> bool:
    """Whether the character at ``index`` is escaped by an odd run of backslashes."""
    n = 0
    while index - n - 1 >= 0 and text[index - n - 1] == "\\":
        n += 1
    return n % 2 == 1


class Searcher(Protocol):
    """What confirmation needs of a compiled regex (a :class:`LinearRegex` or ``re``)."""

    def search(self, text: str, /) -> object | None: ...


@cache
def _re2_module() -> tuple[Any, Any]:
    """The RE2 module and its options, imported on first use (start-up time)."""
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused regex to stderr
    # confirmation asks only whether a line matches: without capture groups RE2 answers
    # with its DFA alone (3x faster on a megabyte-long line than with groups)
    options.never_capture = True
    return re2, options


class LinearRegex:
    """A regex compiled with RE2: :meth:`search` takes time linear in the length of the
    text for any regex and any text (no backtracking). Its syntax is Python ``re``'s
    without backreferences and lookaround; ``\\d``, ``\\w``, ``\\s`` and ``\\b`` are
    ASCII-only."""

    __slots__ = ("_compiled", "pattern")

    def __init__(self, pattern: str, *, ignore_case: bool = False) -> None:
        self.pattern = pattern
        module, options = _re2_module()
        try:
            self._compiled = module.compile(("(?i)" if ignore_case else "") + pattern, options)
        except module.error as exc:
            reason = exc.args[0] if exc.args else exc
            if isinstance(reason, bytes):
                reason = reason.decode("utf-8", "replace")
            raise LinearRegexError(str(reason)) from None

    def search(self, text: str, /) -> bool:
        """Whether ``text`` contains a match (searching UTF-8 bytes spares the wrapper
        mapping byte offsets back to characters, a third of the time on long lines)."""
        return self._compiled.search(_utf8(text)) is not None

    def __repr__(self) -> str:
        return f"LinearRegex({self.pattern!r})"


#: the last text encoded for RE2 and its bytes: a line is confirmed with several regexes
#: (the ones that selected it, then the exclusions), and encoding a megabyte-long line
#: costs as much as searching it. One tuple, rebound at once: safe across threads.
_LAST_ENCODED: tuple[str, bytes] = ("", b"")


def _utf8(text: str) -> bytes:
    global _LAST_ENCODED
    last = _LAST_ENCODED
    if last[0] is text:
        return last[1]
    data = text.encode("utf-8", "surrogatepass")
    _LAST_ENCODED = (text, data)
    return data


class LinearRegexError(ValueError):
    """RE2 cannot run the regex (a backreference, a lookaround, bad syntax)."""


def compile_linear(regex: str, *, ignore_case: bool = False) -> LinearRegex:
    """``regex`` compiled for confirmation; raise :class:`LinearRegexError` when RE2
    cannot run it."""
    return LinearRegex(regex, ignore_case=ignore_case)


def linear_regex_error(regex: str, *, ignore_case: bool = False) -> str | None:
    """Why ``regex`` cannot be confirmed in linear time, or None: RE2 refuses it (it needs
    a backtracking engine: a backreference, a lookaround, an atomic group)."""
    try:
        compile_linear(regex, ignore_case=ignore_case)
    except LinearRegexError as exc:
        return (
            f"the linear-time engine (RE2) cannot run it: {exc}; only a backtracking "
            "engine could, and one can take minutes on a single crafted log line. Write "
            "it without backreferences, lookaround, \\Z and repeat counts above 1000"
        )
    return None


@dataclass(frozen=True)
class RegexSpec:
    id: int
    regex: str
    caseless: bool = False


class Scanner(Protocol):
    def scan(self, data: bytes) -> list[tuple[int, int]]:
        """(spec id, end offset) of every match in ``data`` (any order)."""
        ...


def _encode(regex: str) -> bytes:
    return tolerant(regex).encode("utf-8")


def hyperscan_expressions(regex: str) -> list[bytes]:
    """The expressions hyperscan compiles for ``regex`` (one: a superset of the raw lines
    ``regex`` matches once normalised; see :data:`_HS_LINE_START` and
    :func:`trim_leading_runs`)."""
    return [tolerant(trim_leading_runs(regex), _HS_LINE_START).encode("utf-8")]


#: a quantifier after an atom (greedy or lazy)
_QUANTIFIER = re.compile(r"(?:[*+?]|\{\d*(?:,\d*)?\})\??")
#: what is left after trimming must be at least this long, or the scan reports too much
_MIN_TRIMMED = 3


def _class_end(regex: str, i: int) -> int:
    """Index just past the character class that starts at ``regex[i] == "["``."""
    n = len(regex)
    j = i + 1
    if j < n and regex[j] == "^":
        j += 1
    if j < n and regex[j] == "]":
        j += 1
    while j < n and regex[j] != "]":
        j += 2 if regex[j] == "\\" else 1
    return j + 1


def _atoms(regex: str) -> list[tuple[str, str]] | None:
    """The top-level atoms of ``regex`` as (atom, quantifier) pairs, or None when the
    regex has a top-level alternation (then no prefix is common to every branch)."""
    out: list[tuple[str, str]] = []
    i = 0
    n = len(regex)
    while i < n:
        c = regex[i]
        if c == "\\":
            j = i + (4 if regex[i + 1 : i + 2] == "x" else 2)
        elif c == "[":
            j = _class_end(regex, i)
        elif c == "(":
            depth = 0
            j = i
            while j < n:
                ch = regex[j]
                if ch == "\\":
                    j += 2
                    continue
                if ch == "[":
                    j = _class_end(regex, j)
                    continue
                depth += ch == "("
                depth -= ch == ")"
                j += 1
                if depth == 0:
                    break
        elif c == "|":
            return None
        else:
            j = i + 1
        m = _QUANTIFIER.match(regex, j)
        quantifier = m.group(0) if m else ""
        out.append((regex[i:j], quantifier))
        i = j + len(quantifier)
    return out


def _one_character(atom: str) -> bool:
    return atom == "." or atom.startswith("[") or atom in {r"\s", r"\S", r"\w", r"\W", r"\d", r"\D"}


def _unbounded(quantifier: str) -> bool:
    q = quantifier[:-1] if len(quantifier) > 1 and quantifier.endswith("?") else quantifier
    return q in {"*", "+"} or (q.startswith("{") and q.endswith(",}"))


def trim_leading_runs(regex: str) -> str:
    """``regex`` without its line-start anchor and leading run of single-character atoms
    up to the last unbounded one (``^[^ :]+\\.py:`` → ``\\.py:``), when that leaves at
    least :data:`_MIN_TRIMMED` characters; else ``regex`` unchanged.

    A line the regex matches also contains a match of the rest, so the trimmed form
    selects a superset of the lines (the confirm step runs the whole regex). Hyperscan
    cannot skip ahead to a literal that follows an unbounded class run from a line start:
    it tracks that run through every line. Trimming made the shipped database scan about
    1.5x faster for about 30% more candidate lines (``benchmarks/throughput.py``)."""
    atoms = _atoms(regex)
    if not atoms:
        return regex
    first = 0
    flags = ""
    head = atoms[0][0]
    if head.startswith("(?") and head[2:3] not in {":", "P", "=", "!", "<", "#", ""}:
        flags = head  # an inline flag group such as (?i) stays in front
        first = 1
    if first < len(atoms) and atoms[first][0] == "^":
        first += 1
    last = None
    for index in range(first, len(atoms)):
        atom, quantifier = atoms[index]
        if not _one_character(atom):
            break
        if _unbounded(quantifier):
            last = index
    if last is None:
        return regex
    rest = "".join(atom + quantifier for atom, quantifier in atoms[last + 1 :])
    if len(rest) < _MIN_TRIMMED:
        return regex
    return flags + rest


def _source_digest() -> str:
    """A digest of this module's source: the rewriting rules are part of a compiled
    database's identity."""
    try:
        return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    except OSError:
        return ""


class _HyperscanScanner:
    def __init__(
        self, specs: Sequence[RegexSpec], *, prefilter: bool = False, cache: bool = True
    ) -> None:
        """``prefilter``: compile in hyperscan's prefilter mode, which accepts constructs
        it cannot match exactly (back-references, look-arounds) and reports a superset
        of the matches; the analyzer confirms every candidate line anyway. ``cache``:
        load and store the compiled database in the cache directory."""
        import hyperscan

        self._hs = hyperscan
        key = self.key(specs, prefilter)
        self._db: Any = self._cached(key) if cache else None
        if self._db is None:
            self._db = self._compile(specs, prefilter)
            if cache:
                self._store(key, self._db)
        self._empty = not specs

    @staticmethod
    def key(specs: Sequence[RegexSpec], prefilter: bool = False) -> str:
        """The cache key of a database. It needs no rewriting: the specs and this
        module's source decide the expressions, so a warm start skips tolerant()."""
        import hyperscan

        return hashlib.sha256(
            repr(
                (
                    getattr(hyperscan, "__version__", ""),
                    _source_digest(),
                    [(s.id, s.regex, s.caseless) for s in specs],
                    prefilter,
                )
            ).encode("utf-8", "replace")
        ).hexdigest()[:24]

    def _compile(self, specs: Sequence[RegexSpec], prefilter: bool) -> Any:
        hyperscan = self._hs
        exprs: list[bytes] = []
        ids: list[int] = []
        flags: list[int] = []
        for spec in specs:
            flag = (
                hyperscan.HS_FLAG_MULTILINE
                | hyperscan.HS_FLAG_ALLOWEMPTY
                | (hyperscan.HS_FLAG_CASELESS if spec.caseless else 0)
                | (hyperscan.HS_FLAG_PREFILTER if prefilter else 0)
            )
            for expr in hyperscan_expressions(spec.regex):
                exprs.append(expr)
                ids.append(spec.id)
                flags.append(flag)
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        if exprs:
            db.compile(expressions=exprs, ids=ids, elements=len(exprs), flags=flags)
        return db

    @staticmethod
    def _cache_dir() -> Path:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "hee-monitor"

    def _cached(self, key: str) -> Any:
        path = self._cache_dir() / f"hs-{key}.db"
        try:
            blob = path.read_bytes()
            db = self._hs.loadb(blob, self._hs.HS_MODE_BLOCK)
            db.scratch = self._hs.Scratch(db)
            os.utime(path)  # recently used: kept when the cache is pruned
            return db
        except Exception:  # no cache, unreadable or from another hyperscan build: recompile
            return None

    def _store(self, key: str, db: Any) -> None:
        try:
            directory = self._cache_dir()
            directory.mkdir(parents=True, exist_ok=True)
            tmp = directory / f".hs-{key}.{os.getpid()}"
            tmp.write_bytes(self._hs.dumpb(db))
            tmp.replace(directory / f"hs-{key}.db")
            _prune(directory)
        except OSError:
            pass  # the cache only saves start-up time

    def scan(self, data: bytes) -> list[tuple[int, int]]:
        if self._empty or not data:
            return []
        hits: list[tuple[int, int]] = []
        add = hits.append

        def on_match(sid: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            add((sid, end))

        self._db.scan(data, match_event_handler=on_match)
        return hits


class _RegexScanner:
    """One compiled regex per spec, run with finditer (``re`` or RE2)."""

    def __init__(self, specs: Sequence[RegexSpec], module: Any) -> None:
        self._compiled = [
            (s.id, module.compile(b"(?m)" + (b"(?i)" if s.caseless else b"") + _encode(s.regex)))
            for s in specs
        ]

    def scan(self, data: bytes) -> list[tuple[int, int]]:
        hits: list[tuple[int, int]] = []
        for sid, rx in self._compiled:
            hits.extend((sid, m.end()) for m in rx.finditer(data))
        return hits


def _hyperscan(specs: Sequence[RegexSpec]) -> Scanner:
    return _HyperscanScanner(specs)


def _re2(specs: Sequence[RegexSpec]) -> Scanner:
    import re2

    return _RegexScanner(specs, re2)


def _re(specs: Sequence[RegexSpec]) -> Scanner:
    return _RegexScanner(specs, re)


def _linear_or_re(specs: Sequence[RegexSpec]) -> Scanner:
    """RE2 for the specs hyperscan cannot scan (linear time on any block); Python ``re``
    only for those RE2 refuses too (user patterns that were never validated)."""
    linear: list[RegexSpec] = []
    other: list[RegexSpec] = []
    for spec in specs:
        (other if _rejection("re2", spec) else linear).append(spec)
    if not other:
        return _re2(linear)
    scanners = [_re2(linear), _re(other)] if linear else [_re(other)]

    class _Both:
        def scan(self, data: bytes) -> list[tuple[int, int]]:
            return [hit for scanner in scanners for hit in scanner.scan(data)]

    return _Both()


#: engine name → factory; the first one that imports is the default
ENGINES: dict[str, Callable[[Sequence[RegexSpec]], Scanner]] = {
    "hyperscan": _hyperscan,
    "re2": _re2,
    "re": _re,
}


_ENGINE_MODULES = (("hyperscan", "hyperscan"), ("re2", "re2"), ("re", "re"))


def available_engines() -> list[str]:
    names = []
    for name, module in _ENGINE_MODULES:
        try:
            __import__(module)
        except ImportError:
            continue
        names.append(name)
    return names


def default_engine() -> str:
    chosen = os.environ.get("HEE_MONITOR_ENGINE")
    if chosen in ENGINES:
        return chosen
    for name, module in _ENGINE_MODULES:  # import only up to the first that is installed
        try:
            __import__(module)
        except ImportError:
            continue
        return name
    return "re"


def fast_engine_error(regex: str, *, ignore_case: bool = False) -> str | None:
    """Why the fast engine cannot compile ``regex`` (in its tolerant form), or None."""
    engine = default_engine()
    spec = [RegexSpec(0, regex, ignore_case)]
    try:
        if engine == "hyperscan":
            import hyperscan

            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            db.compile(
                expressions=(exprs := hyperscan_expressions(regex)),
                ids=[0] * len(exprs),
                elements=len(exprs),
                flags=[
                    hyperscan.HS_FLAG_MULTILINE
                    | hyperscan.HS_FLAG_ALLOWEMPTY
                    | (hyperscan.HS_FLAG_CASELESS if ignore_case else 0)
                ]
                * len(exprs),
            )
        else:
            ENGINES[engine](spec)
    except Exception as exc:
        return f"the {engine} engine cannot compile it: {exc}"
    return None


def check_regex(regex: str, *, ignore_case: bool = False, fast: bool = True) -> str | None:
    """A problem with ``regex`` (Python syntax, then linear-time confirmation, then, when
    ``fast``, the fast engine), or None."""
    try:
        re.compile(regex, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        return f"does not compile: {exc}"
    if (problem := linear_regex_error(regex, ignore_case=ignore_case)) is not None:
        return problem
    if fast:
        return fast_engine_error(regex, ignore_case=ignore_case)
    return None


class CompositeScanner:
    """The chosen engine for the regexes it compiles; hyperscan's prefilter mode for the
    regexes hyperscan cannot match exactly (a superset the analyzer confirms); Python
    ``re`` for the rest."""

    def __init__(self, specs: Sequence[RegexSpec], engine: str | None = None) -> None:
        name = engine or default_engine()
        factory = ENGINES[name]
        self.engine = name
        #: specs the engine cannot compile exactly, with the reason
        self.rejected: list[tuple[RegexSpec, str]] = []
        #: rejected specs scanned in hyperscan's prefilter mode instead of with ``re``
        self.approximated: list[RegexSpec] = []
        self._approx: Scanner | None = None
        self._rest: Scanner | None = None
        known = _known_rejections(name, specs)
        if known is None:
            try:
                self._main = factory(specs)
                return
            except Exception:
                pass
        good: list[RegexSpec] = []
        slow: list[RegexSpec] = []
        for spec in specs:
            reason = _rejection(name, spec) if known is None else known.get(spec.id)
            if reason is None:
                good.append(spec)
                continue
            self.rejected.append((spec, reason))
            if name == "hyperscan":
                try:
                    _HyperscanScanner([spec], prefilter=True, cache=False)
                    self.approximated.append(spec)
                    continue
                except Exception:  # not even approximately: Python re scans it
                    pass
            slow.append(spec)
        if known is None:
            _store_rejections(name, specs, {spec.id: why for spec, why in self.rejected})
        self._main = factory(good)
        if self.approximated:
            self._approx = _HyperscanScanner(self.approximated, prefilter=True)
        self._rest = _linear_or_re(slow) if slow else None

    def scan(self, data: bytes) -> list[tuple[int, int]]:
        hits = self._main.scan(data)
        if self._approx is not None:
            hits.extend(self._approx.scan(data))
        if self._rest is not None:
            hits.extend(self._rest.scan(data))
        return hits


#: the cache keeps the most recently used compiled databases up to this many bytes (the
#: shipped database is about 2.5 MB; each pattern change leaves one behind otherwise)
CACHE_BYTES = 64 * 1024 * 1024


def _prune(directory: Path) -> None:
    """Delete the least recently used compiled databases beyond :data:`CACHE_BYTES`
    (the most recent one is always kept)."""
    budget = CACHE_BYTES
    entries = []
    for path in directory.glob("hs-*.db"):
        try:
            st = path.stat()
        except OSError:
            continue  # deleted meanwhile by another process
        entries.append((st.st_mtime, st.st_size, path))
    entries.sort(reverse=True)
    used = 0
    for index, (_, size, path) in enumerate(entries):
        used += size
        if index > 0 and used > budget:
            path.unlink(missing_ok=True)
            path.with_name(path.name[: -len(".db")] + ".rejected.json").unlink(missing_ok=True)


def _rejection(engine: str, spec: RegexSpec) -> str | None:
    """Why ``engine`` cannot compile ``spec``, or None (nothing is cached)."""
    try:
        if engine == "hyperscan":
            _HyperscanScanner([spec], cache=False)
        else:
            ENGINES[engine]([spec])
    except Exception as exc:
        return str(exc)
    return None


def _rejections_path(engine: str, specs: Sequence[RegexSpec]) -> Path | None:
    if engine != "hyperscan":  # the other engines compile one regex at a time anyway
        return None
    return _HyperscanScanner._cache_dir() / f"hs-{_HyperscanScanner.key(specs)}.rejected.json"


def _known_rejections(engine: str, specs: Sequence[RegexSpec]) -> dict[int, str] | None:
    """The specs ``engine`` rejected in an earlier run over the same ``specs`` (spec id →
    reason), or None when not known: one rejected regex then costs no failed compile of
    the whole database and no trial compile of every regex on each run."""
    path = _rejections_path(engine, specs)
    if path is None:
        return None
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
        return {int(k): str(v) for k, v in loaded.items()}
    except (OSError, ValueError, AttributeError):
        return None


def _store_rejections(engine: str, specs: Sequence[RegexSpec], rejected: dict[int, str]) -> None:
    path = _rejections_path(engine, specs)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(rejected), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # the cache only saves start-up time
