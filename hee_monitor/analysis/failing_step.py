"""The pattern-free fallback: the most likely cause inside the step that failed.

Inside the failing step, above the line the search is anchored at (the step's exit line,
or the first summary line a generic pattern found there: ``npm ERR! Test failed.``, "N
failures", ``BUILD FAILURE``), every line is scored by

* its wording: error-ish words (error, failed, exception, expected … but got, cannot, not
  found, ✗ …) count, passing words (ok, passed, ✓, 0 errors) count against;
* the rarity of its masked template (:mod:`~hee_monitor.analysis.templates`): a message
  repeated many times in the step is progress, not the failure, and a template also seen
  in passing output (a last-green log of the same job, given as a baseline) is noise;
* its closeness to the anchor: the cause usually sits a few lines above the exit line.

The best line grows into a block (the message with its stack trace or diff lines below
it, up to :data:`MAX_BLOCK` lines); several blocks that do not overlap are candidates, best
first (the LLM re-ranker reads them).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from hee_monitor.analysis.templates import template

#: lines of the failing step the fallback reads, up from its anchor
MAX_STEP_LINES = 800
#: closeness to the anchor decays by e every this many lines (the labelled causes of the
#: tuning repositories lie a median of 7 lines above their command's exit line)
_DECAY = 20.0
#: the first line of the region that reads strongly like an error: compilers and test
#: runners print the first failure first, and what follows is often its consequence
_FIRST_BONUS = 1.5
#: lines in one candidate block
MAX_BLOCK = 12
#: candidate blocks returned
MAX_CANDIDATES = 5

# matched against the lower-cased line (faster than IGNORECASE); _CAPS on the line itself
_STRONG = re.compile(
    r"error|fatal|exception|panic|traceback|segmentation fault|core dumped"
    r"|\bnot ok\b|[✗✖✘×]|\*\*\* failed|assertion"
)
_CAPS = re.compile(r"\bFAIL(?:ED|URE|S)?\b|^\s*E\s{2,}")
_MEDIUM = re.compile(
    r"\bfail(?:ed|s|ure|ures|ing)?\b|assert|expect(?:ed|ing)?\b|\bbut (?:got|was|found|received)"
    r"|cannot|can't|could not|couldn't|unable to|not found|no such|undefined|denied|refused"
    r"|timed? ?out|killed|abort|invalid|missing|unexpected|mismatch|conflict|violation"
    r"|wrong|incorrect|differ|\bshould\b|unresolved|unknown|not (?:a|an) |is not|does not"
    r"|did not|must |require[sd]? |exceed|overflow|\btoo \w+"
)
#: a cheap first look: a line without any of these has no wording and is no summary
_KEYWORDS = re.compile(
    r"err|fail|fatal|exce|pani|trace|segm|dump|not|[✗✖✘×✓✔√]|\*\*\*|asser|expect|but |can"
    r"|could|unable|undef|deni|refus|time|kill|abort|invalid|missing|unexpect|mismatch"
    r"|conflict|violat|wrong|incorrect|differ|should|unresolv|unknown|is |does|did|must"
    r"|requir|exceed|overflow|too |exit|compil|non-zero|test|make|pass|succe|ok|skip|problem"
    r"|^\s*at |file \"|^\s*[-+<>] |^[<>]|^@@|^\s*e\s|^fail"
)
#: lines this close to the anchor are scored without any error-ish word
_NEAR_LINES = 60
#: a stack frame: part of a block, never its head
_FRAME = re.compile(r"^\s*at [\w$.<>/\\]+[ (:]|^\s+at |^\s*File \"|^\s*#\d+ +0x")
#: a line that introduces the detail below it ("rake aborted!", "* What went wrong:")
_HEADER = re.compile(r"[!:]\s*$")
_WEAK = re.compile(r"^\s*at |^\s*file \"|^\s*[-+] |^[<>] |^@@ ")
#: a line that sums up rather than tells: the cause lies above it
_SUMMARY = re.compile(
    r"exit(?:ed)? (?:with )?(?:code|status)|failed with exit code|command failed|build failed"
    r"|aborting due to|could not compile|compilation failed"
    r"|\b\d+ (?:errors?|failures?|failed|failing|problems?)\b|tests? failed"
    r"|^\W*(?:error|fail(?:ed|ure)?)\W*$|^make(?:\[\d+\])?: \*\*\*"
    r"|returned (?:a )?non-zero|^npm err! (?:code|errno|failed|test failed|a complete log|\s*$)"
    r"|build failure|tests? run: |^fail\s+\S+\s+[\d.]+s$"
)
_GOOD = re.compile(
    r"\b0 (?:errors?|failures?|failed|problems?|warnings?)\b|\bno (?:errors?|failures?)\b"
    r"|\bpass(?:ed|es|ing)?\b|\bsuccess|\bok\b|[✓✔√]|\bskipp"
)
#: lines that are never the cause: CI markers, the echoed command, progress
_NOISE = re.compile(
    r"^\s*$|^travis_|^##\[(?:group|endgroup|section|command)|^\[Pipeline\]|^section_(?:start|end):"
    r"|^\s*(?:\$|\+) |^The command \".*\" (?:failed and )?exited with|^Process completed with"
    r"|^Done\. Your build exited|^\s*[\W_]{0,3}\s*$|^\s*\d+(?:\.\d+)?\s*%|^Downloading|^Download"
    r"|^Fetching|^Installing|^Collecting|^Requirement already|^Using |^Get:\d|^Hit:\d"
)
#: a line that continues the message above it: a stack frame, an indented detail, a diff
_CONTINUATION = re.compile(
    r"^\s+\S|^\s*at |^\s*File \"|^\s*[-+<>|] ?|^@@|^\s*\^|^\s*~+|^Caused by|^\s*\.\.\. \d+ more"
    r"|^(?:Expected|Actual|Received|Got|But|expected|actual|got|but)\b"
)


@dataclass(frozen=True)
class Candidate:
    """A block of consecutive lines the fallback offers as a cause."""

    start: int
    end: int
    #: the line that scored best in it
    line: int
    score: float
    #: the block's wording held an error-ish word
    worded: bool


def wording(text: str, low: str | None = None) -> float:
    """How error-ish a line reads (negative: it reads like a success); ``low``: the line
    lower-cased, when the caller has it."""
    score = 0.0
    if low is None:
        low = text.lower()
    if _STRONG.search(low) or _CAPS.search(text):
        score += 3.0
    if _MEDIUM.search(low):
        score += 2.0
    if _WEAK.search(low):
        score += 0.5
    if _GOOD.search(low):
        score -= 2.5
    return score


def candidates(
    lines: Sequence[tuple[int, str]],
    anchor: int,
    *,
    noise: frozenset[str] | set[str] = frozenset(),
    agreed: frozenset[int] | set[int] = frozenset(),
    limit: int = MAX_CANDIDATES,
) -> list[Candidate]:
    """Candidate blocks among ``lines`` ((number, normalised text), in order, all above or
    at ``anchor``), best first. ``noise``: templates seen in passing output; ``agreed``:
    line numbers a pattern matched (a small bonus)."""
    if not lines:
        return []
    lowered = [text.lower() for _, text in lines]
    keyworded = [_KEYWORDS.search(low) is not None for low in lowered]
    summary = [
        k and _SUMMARY.search(low) is not None for k, low in zip(keyworded, lowered, strict=True)
    ]
    # distance from each line down to the nearest summary line below it (or the anchor)
    below: list[int] = [anchor] * len(lines)
    nearest = anchor
    for k in range(len(lines) - 1, -1, -1):
        below[k] = nearest
        if summary[k]:
            nearest = lines[k][0]
    distances = [max(min(anchor, below[k]) - lines[k][0], 0) for k in range(len(lines))]
    # templates (for rarity and the baseline) of the lines that can score: worded or near
    temps: list[str | None] = [
        template(text) if keyworded[k] or distances[k] < _NEAR_LINES else None
        for k, (_, text) in enumerate(lines)
    ]
    counts = Counter(t for t in temps if t)
    seen = [t is not None and t in noise for t in temps]
    scores: list[float] = []
    words_of: list[float] = []
    for index, (number, text) in enumerate(lines):
        temp = temps[index]
        if temp == "" or _NOISE.search(text):
            scores.append(-1.0)
            words_of.append(0.0)
            continue
        near = math.exp(-distances[index] / _DECAY)
        rarity = 1.0 / (1.0 + math.log(counts[temp])) if temp else 1.0
        if seen[index]:
            rarity *= 0.1
        words = wording(text, lowered[index]) if keyworded[index] else 0.0
        words_of.append(words)
        score = max(words, 0.0) * rarity * (0.35 + 0.65 * near) + 0.6 * near * rarity
        if words < 0:
            score *= 0.3
        if summary[index]:
            score *= 0.25
        if _FRAME.match(text):
            score *= 0.3
        if number in agreed:
            score += 1.0 * rarity
        scores.append(score)
    first = next((k for k, w in enumerate(words_of) if w >= 3.0 and scores[k] > 0), None)
    if first is not None:
        scores[first] *= _FIRST_BONUS
    order = sorted(range(len(lines)), key=lambda i: (-scores[i], -lines[i][0]))
    taken: list[tuple[int, int]] = []
    out: list[Candidate] = []
    blocked = [(k, k) for k, s in enumerate(seen) if s]
    for i in order:
        if len(out) >= limit or scores[i] <= 0:
            break
        if any(a <= i <= b for a, b in taken):
            continue
        a, b = _grow(i, lines, scores, words_of, [*taken, *blocked])
        taken.append((a, b))
        worded = any(words_of[k] > 0 for k in range(a, b + 1))
        out.append(Candidate(lines[a][0], lines[b][0], lines[i][0], scores[i], worded))
    return out


def _grow(
    i: int,
    lines: Sequence[tuple[int, str]],
    scores: list[float],
    words: list[float],
    taken: list[tuple[int, int]],
) -> tuple[int, int]:
    """The block around line index ``i``: the message above it that shares its wording
    and the continuation lines below it."""

    def free(k: int) -> bool:
        return not any(a <= k <= b for a, b in taken)

    a = b = i
    header = bool(_HEADER.search(lines[i][1]))
    while (
        a - 1 >= 0
        and i - (a - 1) < 4
        and free(a - 1)
        and scores[a - 1] > 0
        and lines[a - 1][0] == lines[a][0] - 1
        and (words[a - 1] > 0 or _CONTINUATION.match(lines[a][1]))
    ):
        a -= 1
    while (
        b + 1 < len(lines)
        and b - a + 1 < MAX_BLOCK
        and free(b + 1)
        and lines[b + 1][0] == lines[b][0] + 1
        and scores[b + 1] >= 0
        and (
            _CONTINUATION.match(lines[b + 1][1])
            or words[b + 1] > 0
            or (header and b - i < 2 and lines[b + 1][1].strip() != "")
        )
    ):
        b += 1
    return a, b
