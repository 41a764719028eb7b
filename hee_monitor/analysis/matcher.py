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
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# SGR colours and erase-line only: hyperscan 5.4 silently drops matches of other patterns
# in the same database when this group ends in the wider class [A-Za-z] (found on the
# shipped database: PHP-PHPUNIT-FAILURE vanished next to CC-CTEST-FAILED)
_ANSI = r"(?:\x1b\[[0-9;]*[mK])"
_TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?"
_PREFIX = r"(?:^(?:" + _TIMESTAMP + r")?" + _ANSI + "*)"
#: hyperscan gets one expression per way a line can start instead of one optional
#: prefix: with the optional form, hyperscan 5.4 silently missed ``^[0-9]+\) ...`` lines
#: in the shipped database (found by the examples test; see test_matcher.py)
_HS_PREFIXES = (
    "(?:^)",
    "(?:^" + _TIMESTAMP + ")",
    "(?:^(?:" + _TIMESTAMP + ")?" + _ANSI + "+)",
)
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
    """The expressions hyperscan compiles for ``regex``: one per line-start form when the
    regex is anchored with ``^``, else one."""
    forms = {tolerant(regex, prefix) for prefix in _HS_PREFIXES}
    return sorted(f.encode("utf-8") for f in forms)


class _HyperscanScanner:
    def __init__(self, specs: Sequence[RegexSpec]) -> None:
        import hyperscan

        self._hs = hyperscan
        flags = [
            hyperscan.HS_FLAG_MULTILINE
            | hyperscan.HS_FLAG_ALLOWEMPTY
            | (hyperscan.HS_FLAG_CASELESS if s.caseless else 0)
            for s in specs
        ]
        exprs: list[bytes] = []
        ids: list[int] = []
        expr_flags: list[int] = []
        for spec, flag in zip(specs, flags, strict=True):
            for expr in hyperscan_expressions(spec.regex):
                exprs.append(expr)
                ids.append(spec.id)
                expr_flags.append(flag)
        flags = expr_flags
        key = hashlib.sha256(
            repr((getattr(hyperscan, "__version__", ""), exprs, ids, flags)).encode(
                "utf-8", "replace"
            )
        ).hexdigest()[:24]
        self._db = self._cached(key)
        if self._db is None:
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            if exprs:
                db.compile(expressions=exprs, ids=ids, elements=len(exprs), flags=flags)
            self._db = db
            self._store(key, db)
        self._empty = not exprs

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


#: engine name → factory; the first one that imports is the default
ENGINES: dict[str, Callable[[Sequence[RegexSpec]], Scanner]] = {
    "hyperscan": _hyperscan,
    "re2": _re2,
    "re": _re,
}


def available_engines() -> list[str]:
    names = []
    for name, module in (("hyperscan", "hyperscan"), ("re2", "re2"), ("re", "re")):
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
    return available_engines()[0]


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
    """A problem with ``regex`` (Python syntax, then the fast engine), or None."""
    try:
        re.compile(regex, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        return f"does not compile: {exc}"
    if fast:
        return fast_engine_error(regex, ignore_case=ignore_case)
    return None


class CompositeScanner:
    """The chosen engine for the regexes it compiles, Python ``re`` for the rest."""

    def __init__(self, specs: Sequence[RegexSpec], engine: str | None = None) -> None:
        name = engine or default_engine()
        factory = ENGINES[name]
        self.engine = name
        self.rejected: list[tuple[RegexSpec, str]] = []
        try:
            self._main = factory(specs)
            self._rest: Scanner | None = None
        except Exception:
            good: list[RegexSpec] = []
            slow: list[RegexSpec] = []
            for spec in specs:
                try:
                    factory([spec])
                    good.append(spec)
                except Exception as exc:
                    slow.append(spec)
                    self.rejected.append((spec, str(exc)))
            self._main = factory(good)
            self._rest = _re(slow) if slow else None

    def scan(self, data: bytes) -> list[tuple[int, int]]:
        hits = self._main.scan(data)
        if self._rest is not None:
            hits.extend(self._rest.scan(data))
        return hits
