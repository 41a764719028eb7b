"""Validation of pattern files: the schema, regexes, duplicate ids, and every example and
counter-example run through the analyzer the patterns will be used by.

It sits above both :mod:`~hee_monitor.analysis.patterns` (reading) and
:mod:`~hee_monitor.analysis.analyzer` (which compiles a database), so neither imports the
other back.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from hee_monitor.analysis.analyzer import Analyzer
from hee_monitor.analysis.patterns import (
    SCHEMA_FILE,
    Pattern,
    PatternDatabase,
    Problem,
    _as_tuple,
    _line_of,
    _Map,
    _pattern_id_at,
    _read_yaml,
    load_database,
    pattern_files,
    pattern_from_mapping,
)
from hee_monitor.core.errors import PatternError

__all__ = ["validate_files"]


def validate_files(
    files: Sequence[Path | str], *, shipped: bool = True, check_examples: bool = True
) -> list[Problem]:
    """Every problem of the given pattern files (directories are expanded), in file order.

    Examples are checked against the database the analyzer would use: the shipped patterns
    (when ``shipped``) overridden by the patterns of ``files``.
    """
    import jsonschema

    from hee_monitor.analysis.matcher import check_regex
    from hee_monitor.core.resources import load_schema

    validator = jsonschema.Draft202012Validator(load_schema(SCHEMA_FILE))
    problems: list[Problem] = []
    good: list[Pattern] = []
    seen: dict[str, tuple[Path, int]] = {}
    paths = [p for f in files for p in pattern_files(Path(f))]
    for path in paths:
        try:
            root = _read_yaml(path)
        except PatternError as exc:
            m = re.match(r".*?:(\d+): (.*)", exc.message, re.DOTALL)
            line, message = (int(m.group(1)), m.group(2)) if m else (1, exc.message)
            problems.append(Problem(path, line, None, message))
            continue
        if root is None:
            root = _Map()
        for error in sorted(validator.iter_errors(root), key=lambda e: list(e.absolute_path)):
            where = list(error.absolute_path)
            pointer = "/" + "/".join(str(p) for p in where)
            pid = _pattern_id_at(root, where)
            if error.validator == "additionalProperties" and isinstance(error.instance, dict):
                known = set(error.schema.get("properties", {}))
                for key in sorted(k for k in error.instance if k not in known):
                    problems.append(
                        Problem(
                            path,
                            _line_of(root, [*where, key]),
                            pid,
                            f"schema: {pointer}: unknown field {key!r} "
                            "(rule: additionalProperties)",
                        )
                    )
                continue
            problems.append(
                Problem(
                    path,
                    _line_of(root, where),
                    pid,
                    f"schema: {pointer}: {error.message} (rule: {error.validator})",
                )
            )
        items = root.get("patterns") if isinstance(root, dict) else None
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            line = getattr(item, "line", 1)
            pid = item.get("id") if isinstance(item.get("id"), str) else None
            if pid is not None:
                if pid in seen:
                    first_path, first_line = seen[pid]
                    problems.append(
                        Problem(
                            path,
                            line,
                            pid,
                            f"duplicate id {pid} (first defined at {first_path}:{first_line})",
                        )
                    )
                else:
                    seen[pid] = (path, line)
            regex_problem = False
            flags = bool(item.get("ignore_case", False))
            for key in ("regex", "exclude", "end"):
                value = item.get(key)
                for rx in _as_tuple(value) if isinstance(value, (str, list)) else ():
                    message = check_regex(rx, ignore_case=flags, fast=key == "regex")
                    if message:
                        regex_problem = True
                        klines = getattr(item, "key_lines", {})
                        problems.append(
                            Problem(path, klines.get(key, line), pid, f"{key} {rx!r}: {message}")
                        )
            if regex_problem:
                continue
            try:
                good.append(pattern_from_mapping(item, path))
            except PatternError:
                continue  # the schema errors above already say why
    if check_examples and good:
        problems.extend(_check_examples(good, shipped=shipped))
    order = {path: n for n, path in enumerate(paths)}
    return sorted(problems, key=lambda p: (order.get(p.file, 0), p.line))


def _check_examples(patterns: list[Pattern], *, shipped: bool) -> list[Problem]:
    base = load_database(shipped=True) if shipped else PatternDatabase()
    try:
        database = base.merged(patterns)
    except PatternError:
        database = PatternDatabase(patterns)
    analyzer = Analyzer(database, all_findings=True)
    problems: list[Problem] = []
    for pattern in patterns:
        src = pattern.source or Path("<patterns>")
        line = pattern.line or 1
        for n, example in enumerate(pattern.examples, 1):
            diagnosis = analyzer.analyze_text(example, name=f"{pattern.id} example {n}")
            ids = [f.pattern_id for f in diagnosis.failures]
            if pattern.id not in ids:
                problems.append(
                    Problem(src, line, pattern.id, f"example {n} does not match the pattern")
                )
            elif ids[0] != pattern.id:
                problems.append(
                    Problem(
                        src,
                        line,
                        pattern.id,
                        f"example {n} matches but ranks {ids[0]} first "
                        f"(raise priority or make {ids[0]} more specific)",
                    )
                )
        for n, counter in enumerate(pattern.counter_examples, 1):
            diagnosis = analyzer.analyze_text(counter, name=f"{pattern.id} counter_example {n}")
            if any(f.pattern_id == pattern.id for f in diagnosis.failures):
                problems.append(
                    Problem(src, line, pattern.id, f"counter_example {n} matches the pattern")
                )
    return problems
