"""Prompt size held within the bound on real CI logs.

Reads the LogChunks development logs from the shared data directory (never copied into the
project): ``<repo>/../shared/ci-logs/logchunks-dev``, or ``$HEE_SHARED_DIR/ci-logs/...``.
For the largest log it prints the log size, the excerpt (lines/bytes) and the prompt bytes
against the bound; then the same over every log, against the baseline of sending the whole
log. The excerpt comes from the analyzer's own excerpt builder
(``hee_monitor.analysis.logreader.excerpt_from_path``), as in a monitoring cycle.

    python benchmarks/llm_prompt_bench.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hee_monitor.analysis.llm import (
    MAX_EXCERPT_BYTES,
    MAX_EXCERPT_LINES,
    SYSTEM_PROMPT,
    build_prompt,
)
from hee_monitor.analysis.logreader import excerpt_from_path
from hee_monitor.core.models import Category


def shared_dir() -> Path:
    env = os.environ.get("HEE_SHARED_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared"


def main() -> int:
    logs_dir = shared_dir() / "ci-logs" / "logchunks-dev"
    logs = sorted(logs_dir.glob("*.log"), key=lambda p: p.stat().st_size, reverse=True)
    if not logs:
        print(f"no logs in {logs_dir}; set HEE_SHARED_DIR to the shared data directory")
        return 2
    instructions = len(SYSTEM_PROMPT.format(categories=", ".join(Category)).encode())
    # the bound: instructions + a header line + the excerpt's own bound + line numbers
    numbering = MAX_EXCERPT_LINES * len("1234567: ")
    bound = instructions + 512 + MAX_EXCERPT_BYTES + numbering
    largest = logs[0]
    excerpt = excerpt_from_path(largest)
    prompt = build_prompt(excerpt)
    excerpt_bytes = sum(len(x.text.encode()) + 1 for x in excerpt.lines)
    size = largest.stat().st_size
    print(f"largest log            {largest.name}")
    print(f"  log size             {size:>10,d} bytes, {excerpt.total_lines:,d} lines")
    print(
        f"  excerpt              {len(excerpt.lines):>10,d} lines (bound {MAX_EXCERPT_LINES}), "
        f"{excerpt_bytes:,d} bytes (bound {MAX_EXCERPT_BYTES:,d})"
    )
    print(
        f"  prompt               {prompt.size_bytes:>10,d} bytes (bound {bound:,d}: "
        f"{instructions:,d} instructions + 512 header + {MAX_EXCERPT_BYTES:,d} excerpt "
        f"+ {numbering:,d} line numbers) "
        f"-> {prompt.size_bytes / bound:.0%} of the bound"
    )
    print(f"  vs whole log         {prompt.size_bytes / size:.2%} of the baseline (whole log)")

    started = time.perf_counter()
    worst = 0
    total_log = total_prompt = 0
    over = 0
    omitted = 0
    for path in logs:
        prompt = build_prompt(excerpt_from_path(path))
        omitted += prompt.omitted_lines
        worst = max(worst, prompt.size_bytes)
        total_log += path.stat().st_size
        total_prompt += prompt.size_bytes
        over += prompt.size_bytes > bound
    elapsed = time.perf_counter() - started
    print(f"all {len(logs)} logs")
    print(f"  largest prompt       {worst:>10,d} bytes ({worst / bound:.0%} of the bound)")
    print(f"  prompts over bound   {over:>10d}")
    print(
        f"  excerpt lines cut    {omitted:>10d} (chosen by the analyzer, dropped to hold the bound)"
    )
    print(
        f"  bytes sent           {total_prompt:>10,d} vs {total_log:,d} for whole logs "
        f"(baseline) = {total_prompt / total_log:.1%}"
    )
    print(f"  excerpt+redact+prompt {elapsed / len(logs) * 1000:>9.1f} ms per log")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
