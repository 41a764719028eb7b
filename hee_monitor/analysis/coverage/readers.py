"""Read coverage reports: Cobertura XML, JaCoCo XML, LCOV, coverage.py and istanbul JSON.

Cobertura comes from coverage.py (``coverage xml``), JaCoCo through cover2cover and
istanbul/nyc (``--reporter=cobertura``); all put lines (with ``condition-coverage`` for
branches) under ``class`` elements and, except coverage.py, functions under ``method``.
XML is parsed with defusedxml: no entity expansion, no external entities. Reports above
:data:`MAX_REPORT_BYTES` are refused instead of filling memory. Every problem is a
:class:`~hee_monitor.core.errors.CoverageError` naming the file and what is wrong in it.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from hee_monitor.analysis.coverage.model import CoverageData, FileCoverage, FunctionCoverage
from hee_monitor.core.errors import CoverageError

MAX_REPORT_BYTES = 256 * 1024 * 1024

_CONDITION = re.compile(r"\((\d+)\s*/\s*(\d+)\)")


def read_report(path: Path, *, max_bytes: int = MAX_REPORT_BYTES) -> CoverageData:
    """Read a coverage report of any supported format (detected from its content)."""
    data = _read_bytes(path, max_bytes)
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        root = _parse_xml(path, data)
        reader = _XML_READERS.get(root.tag)
        if reader is None:
            raise CoverageError(
                f"{path}: XML root element <{root.tag}> is not a coverage report",
                hint="expected Cobertura (<coverage>) or JaCoCo (<report>) XML",
            )
        return reader(path, root)
    if head.startswith((b"{", b"[")):
        return _read_coverage_py_json(path, data)
    if re.search(rb"^(?:TN|SF):", head, re.MULTILINE):
        return _read_lcov(path, data)
    raise CoverageError(
        f"{path}: not a coverage report this tool reads",
        hint="give Cobertura XML (coverage xml, nyc --reporter=cobertura), JaCoCo XML, "
        "LCOV (lcov.info) or coverage.py JSON (coverage json)",
    )


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise CoverageError(
                f"{path}: report is {size:,d} bytes, more than the {max_bytes:,d} this tool reads",
                hint="report only the packages you want analysed (coverage --include, "
                "nyc --include) or split the report",
            )
        return path.read_bytes()
    except OSError as exc:
        raise CoverageError(
            f"{path}: cannot read the coverage report ({exc.strerror})",
            hint="check the path; generate it first, e.g. `coverage xml` or `nyc report`",
        ) from None


def _parse_xml(path: Path, data: bytes) -> Element:
    try:
        root: Element = SafeET.fromstring(data)
    except DefusedXmlException as exc:
        raise CoverageError(
            f"{path}: XML uses entities or external references, refused for safety ({exc})",
            hint="coverage reports never need entities; regenerate the report",
        ) from None
    except ParseError as exc:
        raise CoverageError(
            f"{path}: malformed XML ({exc})",
            hint="the report may be truncated; regenerate it",
        ) from None
    return root


def _int(path: Path, where: str, value: str | None, default: int | None = None) -> int:
    if value is None:
        if default is not None:
            return default
        raise CoverageError(f"{path}: {where}: missing value", hint="regenerate the report")
    try:
        return int(float(value))
    except ValueError:
        raise CoverageError(
            f"{path}: {where}: {value[:40]!r} is not a number", hint="regenerate the report"
        ) from None


def _float(path: Path, where: str, value: str | None) -> float:
    if value is None:
        return 0.0
    try:
        return float(value)
    except ValueError:
        raise CoverageError(
            f"{path}: {where}: {value[:40]!r} is not a number", hint="regenerate the report"
        ) from None


# -- Cobertura ---------------------------------------------------------------------------


class _FileBuilder:
    def __init__(self, path: str) -> None:
        self.path = path
        self.line_hits: dict[int, int] = {}
        self.branches: dict[int, tuple[int, int]] = {}
        self.functions: list[FunctionCoverage] = []

    def hit(self, line: int, hits: int) -> None:
        self.line_hits[line] = self.line_hits.get(line, 0) + max(hits, 0)

    def branch(self, line: int, covered: int, total: int) -> None:
        old = self.branches.get(line, (0, 0))
        self.branches[line] = (max(old[0], min(covered, total)), max(old[1], total))


def _cobertura_line(path: Path, line: Element, builder: _FileBuilder) -> int:
    number = _int(path, f"line element in {builder.path}", line.get("number"))
    hits = _int(path, f"{builder.path} line {number} hits", line.get("hits"), 0)
    builder.hit(number, hits)
    if line.get("branch", "false").lower() == "true":
        match = _CONDITION.search(line.get("condition-coverage", ""))
        if match:
            builder.branch(number, int(match.group(1)), int(match.group(2)))
    return number


def _read_cobertura(path: Path, root: Element) -> CoverageData:
    files: dict[str, _FileBuilder] = {}
    has_functions = False
    has_branches = root.get("branch-rate") is not None and root.get("branches-valid") != "0"
    for cls in root.iter("class"):
        filename = cls.get("filename") or cls.get("name")
        if not filename:
            raise CoverageError(f"{path}: a <class> element has no filename", hint="regenerate")
        builder = files.setdefault(filename, _FileBuilder(filename))
        lines = cls.find("lines")
        for line in lines.iter("line") if lines is not None else ():
            _cobertura_line(path, line, builder)
        raw_name = cls.get("name") or ""
        # istanbul and coverage.py name the "class" after the file: no class prefix then
        same_as_file = raw_name in (filename, Path(filename).name)
        class_name = "" if same_as_file else raw_name.rsplit(".", 1)[-1].rsplit("/", 1)[-1]
        for method in cls.iter("method"):
            has_functions = True
            name = method.get("name") or "?"
            if class_name:
                name = f"{class_name}.{name}"
            scratch = _FileBuilder(filename)
            numbers = [_cobertura_line(path, x, scratch) for x in method.iter("line")]
            for number, hits in scratch.line_hits.items():
                builder.line_hits.setdefault(number, hits)
            for number, (covered, total) in scratch.branches.items():
                builder.branch(number, covered, total)
            rate = _float(path, f"{filename} method {name} line-rate", method.get("line-rate"))
            hits = max(scratch.line_hits.values(), default=1 if rate > 0 else 0)
            if method.get("hits") is not None:  # istanbul: calls of the function
                hits = _int(path, f"{filename} method {name} hits", method.get("hits"))
            if len(numbers) <= 1:
                # istanbul lists only the declaration line: the body is found from the
                # file's lines up to the next function (see _with_function_ranges)
                builder.functions.append(
                    FunctionCoverage(name, min(numbers, default=0), (), (), hits)
                )
                continue
            builder.functions.append(
                FunctionCoverage(
                    name=name,
                    start_line=min(numbers),
                    lines=tuple(sorted(scratch.line_hits)),
                    uncovered_lines=tuple(
                        sorted(n for n, h in scratch.line_hits.items() if h <= 0)
                    ),
                    hits=hits,
                    branches_total=sum(t for _c, t in scratch.branches.values()),
                    branches_covered=sum(c for c, _t in scratch.branches.values()),
                )
            )
    if not files and root.find("packages") is None:
        raise CoverageError(
            f"{path}: Cobertura report without <packages>", hint="the report may be truncated"
        )
    has_branches = has_branches or any(b.branches for b in files.values())
    return CoverageData(
        source=str(path),
        format="cobertura",
        files=tuple(_with_function_ranges(files[k]) for k in sorted(files)),
        has_branches=has_branches,
        has_functions=has_functions,
    )


# -- JaCoCo XML --------------------------------------------------------------------------


def _read_jacoco(path: Path, root: Element) -> CoverageData:
    files: dict[str, _FileBuilder] = {}
    for package in root.iter("package"):
        pkg = package.get("name", "")
        for source in package.iter("sourcefile"):
            filename = f"{pkg}/{source.get('name', '?')}" if pkg else source.get("name", "?")
            builder = files.setdefault(filename, _FileBuilder(filename))
            for line in source.iter("line"):
                number = _int(path, f"{filename} line", line.get("nr"))
                ci = _int(path, f"{filename}:{number} ci", line.get("ci"), 0)
                mb = _int(path, f"{filename}:{number} mb", line.get("mb"), 0)
                cb = _int(path, f"{filename}:{number} cb", line.get("cb"), 0)
                builder.hit(number, 1 if ci > 0 else 0)
                if mb + cb:
                    builder.branch(number, cb, mb + cb)
        for cls in package.iter("class"):
            source_name = cls.get("sourcefilename")
            if not source_name:
                continue
            filename = f"{pkg}/{source_name}" if pkg else source_name
            builder = files.setdefault(filename, _FileBuilder(filename))
            class_name = (cls.get("name") or "").rsplit("/", 1)[-1]
            for method in cls.iter("method"):
                counters = {
                    c.get("type"): (
                        _int(path, f"{filename} counter", c.get("covered"), 0),
                        _int(path, f"{filename} counter", c.get("missed"), 0),
                    )
                    for c in method.iter("counter")
                }
                covered_methods, _ = counters.get("METHOD", (0, 0))
                bc, bm = counters.get("BRANCH", (0, 0))
                start = _int(path, f"{filename} method line", method.get("line"), 0)
                builder.functions.append(
                    FunctionCoverage(
                        name=f"{class_name}.{method.get('name', '?')}",
                        start_line=start,
                        lines=(),
                        uncovered_lines=(),
                        hits=1 if covered_methods > 0 else 0,
                        branches_total=bc + bm,
                        branches_covered=bc,
                    )
                )
    # a method's lines run from its first line to the next method's first line
    built = {k: _with_function_ranges(b) for k, b in files.items()}
    return CoverageData(
        source=str(path),
        format="jacoco",
        files=tuple(built[k] for k in sorted(built)),
        has_branches=any(b.branches for b in files.values()),
        has_functions=any(b.functions for b in files.values()),
    )


def _with_function_ranges(
    builder: _FileBuilder, ends: Mapping[tuple[str, int], int] | None = None
) -> FileCoverage:
    """Give functions without their own line list the file's lines between their starts."""
    functions = sorted(builder.functions, key=lambda f: (f.start_line, f.name))
    last_line = max(builder.line_hits, default=0)
    out: list[FunctionCoverage] = []
    for i, fn in enumerate(functions):
        if fn.lines:
            out.append(fn)
            continue
        end = (ends or {}).get((fn.name, fn.start_line))
        if end is None:
            later = [g.start_line for g in functions[i + 1 :] if g.start_line > fn.start_line]
            end = (min(later) - 1) if later else last_line
        lines = tuple(n for n in sorted(builder.line_hits) if fn.start_line <= n <= end)
        branch_lines = [builder.branches[n] for n in lines if n in builder.branches]
        out.append(
            FunctionCoverage(
                name=fn.name,
                start_line=fn.start_line,
                lines=lines,
                uncovered_lines=tuple(n for n in lines if builder.line_hits[n] <= 0),
                hits=fn.hits,
                branches_total=fn.branches_total or sum(t for _c, t in branch_lines),
                branches_covered=fn.branches_covered or sum(c for c, _t in branch_lines),
            )
        )
    return FileCoverage(builder.path, dict(builder.line_hits), dict(builder.branches), tuple(out))


# -- LCOV --------------------------------------------------------------------------------


def _read_lcov(path: Path, data: bytes) -> CoverageData:
    text = data.decode("utf-8", "replace")
    files: dict[str, _FileBuilder] = {}
    current: _FileBuilder | None = None
    fn_start: dict[str, tuple[int, int | None]] = {}
    fn_hits: dict[str, int] = {}
    ends: dict[tuple[str, int], int] = {}
    branch_hits: dict[int, list[int]] = defaultdict(list)
    has_branches = has_functions = False

    def finish(lineno: int) -> None:
        nonlocal current
        if current is None:
            raise CoverageError(f"{path}:{lineno}: end_of_record without SF:", hint="regenerate")
        for name, (start, end) in fn_start.items():
            current.functions.append(FunctionCoverage(name, start, (), (), fn_hits.get(name, 0)))
            if end is not None:
                ends[(name, start)] = end
        for line, taken in branch_hits.items():
            current.branch(line, sum(1 for t in taken if t > 0), len(taken))
        fn_start.clear()
        fn_hits.clear()
        branch_hits.clear()
        current = None

    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line == "end_of_record":
            finish(lineno)
            continue
        key, _, value = line.partition(":")
        where = f"{path}:{lineno}"
        if key == "SF":
            if current is not None:
                finish(lineno)
            current = files.setdefault(value, _FileBuilder(value))
            continue
        if key in ("TN", "VER", "LF", "LH", "FNF", "FNH", "BRF", "BRH"):
            continue
        if current is None:
            raise CoverageError(f"{where}: {key}: record before any SF: line", hint="regenerate")
        parts = value.split(",")
        try:
            if key == "DA":
                current.hit(int(parts[0]), int(float(parts[1])))
            elif key == "FN":
                has_functions = True
                if len(parts) >= 3:  # LCOV 2: FN:<start>,<end>,<name>
                    fn_start[",".join(parts[2:])] = (int(parts[0]), int(parts[1]))
                else:
                    fn_start[",".join(parts[1:])] = (int(parts[0]), None)
            elif key == "FNDA":
                has_functions = True
                name = ",".join(parts[1:])
                fn_hits[name] = fn_hits.get(name, 0) + int(float(parts[0]))
            elif key == "BRDA":
                has_branches = True
                taken = 0 if parts[3].strip() == "-" else int(float(parts[3]))
                branch_hits[int(parts[0])].append(taken)
            elif key in ("FNL", "FNA", "MSG"):  # LCOV 2.2 function leader/alias lines
                continue
            else:
                raise CoverageError(
                    f"{where}: unknown LCOV record {key!r}",
                    hint="expected SF, DA, FN, FNDA, BRDA, LF, LH, ... end_of_record",
                )
        except (ValueError, IndexError):
            raise CoverageError(
                f"{where}: malformed {key} record {raw[:60]!r}", hint="regenerate the report"
            ) from None
    if current is not None:
        raise CoverageError(
            f"{path}: last record ({current.path}) has no end_of_record",
            hint="the report is truncated; regenerate it",
        )
    if not files:
        raise CoverageError(f"{path}: LCOV report without any SF: record", hint="regenerate")
    return CoverageData(
        source=str(path),
        format="lcov",
        files=tuple(_with_function_ranges(files[k], ends) for k in sorted(files)),
        has_branches=has_branches,
        has_functions=has_functions,
    )


# -- coverage.py JSON --------------------------------------------------------------------


def _ints(path: Path, where: str, value: Any) -> list[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
        raise CoverageError(f"{path}: {where} must be a list of line numbers", hint="regenerate")
    return list(value)


def _arcs(path: Path, where: str, value: Any) -> list[tuple[int, int]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(
        isinstance(a, list) and len(a) == 2 and all(isinstance(x, int) for x in a) for a in value
    ):
        raise CoverageError(f"{path}: {where} must be a list of [from, to] pairs", hint="regen")
    return [(a[0], a[1]) for a in value]


def _branch_map(
    executed: Iterable[tuple[int, int]], missing: Iterable[tuple[int, int]]
) -> dict[int, tuple[int, int]]:
    out: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for src, _dst in executed:
        out[src][0] += 1
        out[src][1] += 1
    for src, _dst in missing:
        out[src][1] += 1
    return {line: (c, t) for line, (c, t) in out.items()}


def _read_coverage_py_json(path: Path, data: bytes) -> CoverageData:
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise CoverageError(f"{path}: malformed JSON ({exc})", hint="regenerate it") from None
    if isinstance(doc, dict) and doc and all(_looks_istanbul(v) for v in doc.values()):
        return _read_istanbul_json(path, doc)
    if not isinstance(doc, dict) or not isinstance(doc.get("files"), dict):
        raise CoverageError(
            f"{path}: JSON is not a coverage.py report (no 'files' object)",
            hint="expected coverage.py JSON (`coverage json`) or istanbul/nyc "
            "coverage-final.json; for other tools use their LCOV or Cobertura output",
        )
    meta: dict[str, Any] = doc["meta"] if isinstance(doc.get("meta"), dict) else {}
    has_branches = bool(meta.get("branch_coverage"))
    has_functions = False
    files: list[FileCoverage] = []
    for name, entry in sorted(doc["files"].items()):
        if not isinstance(entry, dict):
            raise CoverageError(f"{path}: files[{name!r}] is not an object", hint="regenerate")
        executed = _ints(path, f"files[{name!r}].executed_lines", entry.get("executed_lines"))
        missing = _ints(path, f"files[{name!r}].missing_lines", entry.get("missing_lines"))
        hits = {n: 1 for n in executed}
        hits.update({n: 0 for n in missing if n not in hits})
        branches = _branch_map(
            _arcs(path, f"files[{name!r}].executed_branches", entry.get("executed_branches")),
            _arcs(path, f"files[{name!r}].missing_branches", entry.get("missing_branches")),
        )
        functions: list[FunctionCoverage] = []
        fn_map = entry.get("functions")
        if isinstance(fn_map, dict):
            has_functions = True
            for fname, fentry in fn_map.items():
                if not fname or not isinstance(fentry, dict):
                    continue  # "" is the module-level code, not a function
                where = f"files[{name!r}].functions[{fname!r}]"
                f_exec = _ints(path, f"{where}.executed_lines", fentry.get("executed_lines", []))
                f_miss = _ints(path, f"{where}.missing_lines", fentry.get("missing_lines", []))
                lines = tuple(sorted(set(f_exec) | set(f_miss)))
                start = fentry.get("start_line")
                start = start if isinstance(start, int) else min(lines, default=0)
                f_branches = _branch_map(
                    _arcs(path, f"{where}.executed_branches", fentry.get("executed_branches")),
                    _arcs(path, f"{where}.missing_branches", fentry.get("missing_branches")),
                )
                functions.append(
                    FunctionCoverage(
                        name=fname,
                        start_line=start,
                        lines=lines,
                        uncovered_lines=tuple(sorted(set(f_miss) - set(f_exec))),
                        hits=1 if f_exec else 0,
                        branches_total=sum(t for _c, t in f_branches.values()),
                        branches_covered=sum(c for c, _t in f_branches.values()),
                    )
                )
        functions.sort(key=lambda f: (f.start_line, f.name))
        files.append(FileCoverage(name, hits, branches, tuple(functions)))
    return CoverageData(
        source=str(path),
        format="coverage.py-json",
        files=tuple(files),
        has_branches=has_branches or any(f.branches for f in files),
        has_functions=has_functions,
    )


# -- istanbul coverage-final.json ---------------------------------------------------------


def _looks_istanbul(entry: Any) -> bool:
    return isinstance(entry, dict) and "statementMap" in entry and "s" in entry


def _start_line(loc: Any) -> int | None:
    if isinstance(loc, dict) and isinstance(loc.get("start"), dict):
        line = loc["start"].get("line")
        return line if isinstance(line, int) else None
    return None


def _end_line(loc: Any) -> int | None:
    if isinstance(loc, dict) and isinstance(loc.get("end"), dict):
        line = loc["end"].get("line")
        return line if isinstance(line, int) else None
    return None


def _counts(path: Path, where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CoverageError(f"{path}: {where} must be an object", hint="regenerate the report")
    return value


def _read_istanbul_json(path: Path, doc: dict[str, Any]) -> CoverageData:
    """istanbul-lib-coverage's format: statements, functions and branches by id per file."""
    files: list[FileCoverage] = []
    for name, entry in sorted(doc.items()):
        file_name = str(entry.get("path") or name)
        where = f"[{file_name!r}]"
        statements = _counts(path, f"{where}.statementMap", entry.get("statementMap"))
        s_hits = _counts(path, f"{where}.s", entry.get("s"))
        builder = _FileBuilder(file_name)
        for sid, loc in statements.items():
            line = _start_line(loc)
            if line is None:
                raise CoverageError(
                    f"{path}: {where} statement {sid} has no start line",
                    hint="regenerate the report (nyc report --reporter=json)",
                )
            hits = s_hits.get(sid, 0)
            hits = hits if isinstance(hits, int) else 0
            builder.line_hits[line] = max(builder.line_hits.get(line, 0), hits)
        branch_map = _counts(path, f"{where}.branchMap", entry.get("branchMap", {}))
        b_hits = _counts(path, f"{where}.b", entry.get("b", {}))
        for bid, branch in branch_map.items():
            outcomes = b_hits.get(bid, [])
            line = _start_line(branch.get("loc") if isinstance(branch, dict) else None)
            if line is None and isinstance(branch, dict):
                line = branch.get("line") if isinstance(branch.get("line"), int) else None
            if line is None or not isinstance(outcomes, list):
                continue
            taken = sum(1 for c in outcomes if isinstance(c, int) and c > 0)
            old = builder.branches.get(line, (0, 0))
            builder.branches[line] = (old[0] + taken, old[1] + len(outcomes))
        fn_map = _counts(path, f"{where}.fnMap", entry.get("fnMap", {}))
        f_hits = _counts(path, f"{where}.f", entry.get("f", {}))
        ends: dict[tuple[str, int], int] = {}
        for fid, fn in fn_map.items():
            if not isinstance(fn, dict):
                continue
            start = _start_line(fn.get("decl")) or _start_line(fn.get("loc")) or fn.get("line")
            if not isinstance(start, int):
                continue
            fname = str(fn.get("name") or f"(anonymous_{fid})")
            hits = f_hits.get(fid, 0)
            builder.functions.append(
                FunctionCoverage(fname, start, (), (), hits if isinstance(hits, int) else 0)
            )
            end = _end_line(fn.get("loc"))
            if end is not None and end > start:
                ends[(fname, start)] = end
        files.append(_with_function_ranges(builder, ends))
    return CoverageData(
        source=str(path),
        format="istanbul-json",
        files=tuple(files),
        has_branches=any(f.branches for f in files),
        has_functions=any(f.functions for f in files),
    )


_XML_READERS: dict[str, Callable[[Path, Element], CoverageData]] = {
    "coverage": _read_cobertura,
    "report": _read_jacoco,
}
