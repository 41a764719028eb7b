"""Read CI logs of any size: bounded blocks of raw bytes, normalised lines, step names.

Two ways in:

* :func:`iter_blocks` cuts a stream of byte chunks into blocks that end on a line boundary
  (a few MiB each). The analyzer scans these raw blocks with the multi-pattern engine and
  only normalises the few lines the engine selected, so a 1 GB log costs no per-line
  Python work.
* :func:`iter_log_lines` yields every line normalised, with its original 1-based number
  and the CI step it belongs to. Slower; for callers that want to read everything
  (excerpts for the LLM fallback, metadata detection).

Line numbers always count ``\\n``-separated lines of the original bytes, whatever the
encoding, CR/CRLF mix, ANSI colours, NUL bytes or timestamp prefixes.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from hee_monitor.analysis.interface import ExcerptLine, LogExcerpt
from hee_monitor.core.errors import LogReadError

#: a line longer than this is cut for matching and evidence (its number stays right)
MAX_LINE_BYTES = 64 * 1024
#: blocks handed to the scanner are about this big (they end on a line boundary)
BLOCK_BYTES = 4 * 1024 * 1024
#: an unterminated line is cut once this much of it is buffered (bounded memory)
MAX_PARTIAL_BYTES = 8 * 1024 * 1024
READ_CHUNK_BYTES = 4 * 1024 * 1024

BOM = b"\xef\xbb\xbf"

#: escape sequences: CSI (SGR colours, erase line, cursor moves), OSC (window titles,
#: hyperlinks; ended by BEL or ST), character-set selection and the other two-byte ones
_ANSI = re.compile(
    r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[()][A-Za-z0-9]"
    r"|\x1b[=>@-Z\\^_]"
)
#: a backspace overstrike (``_\bX``, ``X\bX``: man-page bold and underline)
_OVERSTRIKE = re.compile(r"_\x08|([^\x08])\x08(?=\1)")
#: runner timestamp columns: GitHub Actions (``2024-…Z ``), GitLab (``2024-…Z 00O+ ``),
#: Jenkins' timestamper (``[2024-…Z] ``)
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z(?: \d\d[OE]\+?)? ?")
_BRACKET_TIMESTAMP = re.compile(r"^\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\] ")
#: ``gh run view --log`` / ``--log-failed`` put the job and step names, tab-separated, in
#: front of each timestamped line: ``build<TAB>Run pytest<TAB>2024-…Z text``
_GH_CLI_PREFIX = re.compile(r"^[^\t]{1,300}\t[^\t]{0,300}\t(?=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")
_STEP_GITHUB = re.compile(r"^##\[group\]Run (.*)")
_STEP_JENKINS = re.compile(r"^\[Pipeline\] \{ \((.*)\)")
_STEP_TRAVIS = re.compile(r"travis_fold:start:([^\s\x1b]+)")
_EXIT_CODE = re.compile(r"Process completed with exit code (\d+)")
_ERROR_WORDS = re.compile(r"error|fail|exception|fatal|panic|denied|timed? ?out", re.IGNORECASE)


def normalise_line(raw: bytes, *, redraws: bool = False, limit: int = MAX_LINE_BYTES) -> str:
    """The text of one raw line as patterns see it: decoded (invalid UTF-8 replaced), cut
    at ``limit`` bytes (:data:`MAX_LINE_BYTES` unless given), without CR, NUL, BOM, ANSI
    escapes and the timestamp prefix GitHub Actions puts in front of every line (and the
    job and step names ``gh run view --log`` puts in front of that).

    A lone CR inside a line redraws it (progress bars, ``pip``/``docker pull`` output):
    only the text after the last one (the last non-blank part) is kept, as a terminal shows
    it, so ``^``-anchored regexes see the line's final text. ``redraws=True`` keeps every
    part, joined by spaces (step markers such as ``travis_fold:start:x`` come before the
    CR)."""
    if len(raw) > limit:
        raw = raw[:limit]
    text = raw.decode("utf-8", errors="replace")
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if "\x08" in text:
        text = _OVERSTRIKE.sub("", text).replace("\x08", "")
    text = text.rstrip("\r")
    if "\r" in text:
        if redraws:
            text = text.replace("\r", " ")
        else:
            parts = text.split("\r")
            text = next((part for part in reversed(parts) if part.strip()), parts[-1])
    text = text.replace("\x00", "").replace("\ufeff", "")
    if "\t" in text:
        text = _GH_CLI_PREFIX.sub("", text, count=1)
    if text[:1].isdigit():
        text = _TIMESTAMP.sub("", text, count=1)
    elif text.startswith("[2") or text.startswith("[1"):
        text = _BRACKET_TIMESTAMP.sub("", text, count=1)
    return text


def step_of(text: str) -> str | None:
    """The step a normalised line starts, or None: ``##[group]Run cmd`` (GitHub Actions),
    ``[Pipeline] { (Stage)`` (Jenkins), ``travis_fold:start:name`` (Travis)."""
    for rx in (_STEP_GITHUB, _STEP_JENKINS, _STEP_TRAVIS):
        m = rx.search(text) if rx is _STEP_TRAVIS else rx.match(text)
        if m:
            return m.group(1).strip()[:200] or None
    return None


def read_file_chunks(path: Path, chunk_size: int = READ_CHUNK_BYTES) -> Iterator[bytes]:
    """Stream a file in chunks (never the whole file at once)."""
    with path.open("rb") as fh:
        while chunk := fh.read(chunk_size):
            yield chunk


_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


@dataclass(frozen=True)
class LogSource:
    """One log to analyse: its name (for the report) and how to stream its bytes. ``path``
    is set when the log is the file itself (it can then be read again cheaply)."""

    name: str
    open: Callable[[], Iterator[bytes]]
    path: Path | None = None
    #: what must outlive the source (the temporary copy of a piped archive)
    keep_alive: object = field(default=None, repr=False, compare=False)


def log_sources(path: Path) -> list[LogSource]:
    """The logs a file holds, told by its first bytes, not its name:

    * a gzip file (``job.log.gz``): its decompressed text, streamed;
    * UTF-16 text with a byte-order mark (PowerShell's ``>``): read as UTF-8;
    * a zip archive, such as the run logs GitHub lets you download
      (``/actions/runs/{id}/logs``: ``0_build.txt`` per job, and ``build/1_Set up job.txt``
      per step): one log per top-level file, else (no top-level file) one per member;
      named ``archive.zip!member``;
    * anything else: the file itself.

    Raises :class:`~hee_monitor.core.errors.LogReadError` when the file cannot be read or the
    archive is damaged (also while a source is streamed)."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise LogReadError(
            f"cannot read log file {path}: {exc.strerror or exc}",
            hint="check the file's permissions (it must be readable by you)",
        ) from None
    if not is_plain(magic):
        return _packed_sources(path, magic)
    return [LogSource(str(path), lambda: read_file_chunks(path), path)]


#: bytes read from the start of a log to tell what it is
SNIFF_BYTES = 512


def is_plain(magic: bytes) -> bool:
    """Whether a file starting with ``magic`` (up to its first :data:`SNIFF_BYTES` bytes) is
    read as it is."""
    return not (magic.startswith(_GZIP_MAGIC) or magic[:4] in _ZIP_MAGICS or _utf16_encoding(magic))


def _utf16_encoding(magic: bytes) -> str | None:
    """The UTF-16 codec of a log that starts with a UTF-16 byte-order mark AND whose next bytes
    decode as UTF-16 text, else ``None``.

    Two bytes are not evidence enough: a binary or Latin-1 log may start with ``FF FE`` by
    chance, and reading it as UTF-16 would turn every line into noise and lose its findings.
    """
    encoding = _UTF16_BOMS.get(magic[:2])
    if encoding is None:
        return None
    body = magic[2:]
    body = body[: len(body) - len(body) % 2]
    if not body:
        return encoding  # nothing but the mark: an empty UTF-16 file
    try:
        sample = body.decode(encoding)
    except UnicodeDecodeError:
        # a cut surrogate pair at the end of the sample is fine; anything else is not UTF-16
        try:
            sample = body[:-2].decode(encoding)
        except UnicodeDecodeError:
            return None
    # Text in UTF-16 has line breaks or Latin characters, whose high bytes are NUL; ASCII
    # bytes read as UTF-16 give neither (they pair into CJK-looking code points).
    if "\n" in sample or "\r" in sample:
        return encoding
    latin = sum(1 for ch in sample if ord(ch) < 0x100)
    return encoding if latin >= 0.3 * len(sample) else None


def stdin_sources(stream: BinaryIO, name: str = "<stdin>") -> list[LogSource]:
    """:func:`log_sources` for a stream (``gh api …/logs | hee-monitor analyze -``). Plain
    text is streamed as it comes; a gzip, zip or UTF-16 stream is first copied to a
    temporary file (a zip archive cannot be read front to back), removed once the sources
    are gone."""
    import tempfile

    magic = stream.read(SNIFF_BYTES)
    if is_plain(magic):

        def chunks() -> Iterator[bytes]:
            yield magic
            while chunk := stream.read(READ_CHUNK_BYTES):
                yield chunk

        return [LogSource(name, chunks)]
    keep = tempfile.TemporaryDirectory(prefix="hee-stdin-")
    path = Path(keep.name) / "stdin"
    with path.open("wb") as out:
        out.write(magic)
        while chunk := stream.read(READ_CHUNK_BYTES):
            out.write(chunk)
    return [
        LogSource(name + source.name[len(str(path)) :], source.open, keep_alive=keep)
        for source in _packed_sources(path, magic)
    ]


def _packed_sources(path: Path, magic: bytes) -> list[LogSource]:
    if magic.startswith(_GZIP_MAGIC):
        return [LogSource(str(path), lambda: _gunzip_chunks(path))]
    if magic[:4] in _ZIP_MAGICS:
        return _zip_sources(path)
    encoding = _utf16_encoding(magic)
    assert encoding is not None  # is_plain() was false for a log neither gzip nor zip
    return [LogSource(str(path), lambda: _utf16_chunks(path, encoding))]


#: PowerShell's ``>`` writes UTF-16 with a byte-order mark
_UTF16_BOMS = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}


def _utf16_chunks(path: Path, encoding: str) -> Iterator[bytes]:
    """The file's text as UTF-8, decoded as it streams (lines and their count unchanged)."""
    import codecs

    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    with path.open("rb") as fh:
        fh.read(2)  # the byte-order mark
        while chunk := fh.read(READ_CHUNK_BYTES):
            yield decoder.decode(chunk).encode("utf-8")
    yield decoder.decode(b"", final=True).encode("utf-8")


def _damaged(message: str) -> LogReadError:
    return LogReadError(message, hint="pass the log itself, or an intact gzip or zip archive")


def _gunzip_chunks(path: Path) -> Iterator[bytes]:
    import gzip
    import zlib

    try:
        with gzip.open(path, "rb") as fh:
            while chunk := fh.read(READ_CHUNK_BYTES):
                yield chunk
    except (OSError, EOFError, zlib.error) as exc:
        raise _damaged(f"{path}: damaged gzip file ({exc})") from None


#: members of one zip archive read at most (a run's log download has one per job and step)
MAX_ZIP_MEMBERS = 10_000


def _zip_sources(path: Path) -> list[LogSource]:
    """One source per chosen member, all read through ONE open archive.

    Opening the archive again for each member would parse its central directory once per
    member: quadratic in the member count (20,000 members took minutes). The archive is
    opened once, kept alive by the sources, and closed when the last of them is gone."""
    import zipfile

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _damaged(f"{path}: damaged zip archive ({exc})") from None
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        archive.close()
        raise LogReadError(
            f"{path}: zip archive has {len(infos):,} members, more than the "
            f"{MAX_ZIP_MEMBERS:,} a run's log download can hold",
            hint="unpack the job logs you want and pass them one by one",
        )
    members = [i.filename for i in infos if not i.is_dir()]
    top = [m for m in members if "/" not in m.strip("/")]
    chosen = top or members

    def opener(member: str) -> Callable[[], Iterator[bytes]]:
        def chunks() -> Iterator[bytes]:
            try:
                with archive.open(member) as fh:
                    while chunk := fh.read(READ_CHUNK_BYTES):
                        yield chunk
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                raise _damaged(f"{path}!{member}: damaged zip member ({exc})") from None

        return chunks

    return [LogSource(f"{path}!{member}", opener(member), keep_alive=archive) for member in chosen]


@dataclass(frozen=True)
class Block:
    """Raw bytes of consecutive whole lines; ``first_line`` is the 1-based number of the
    first, ``newlines`` the number of ``\\n`` in ``data``. Only the last block of a log may
    end without a newline. No line in it is longer than :data:`MAX_PARTIAL_BYTES`."""

    first_line: int
    data: bytes
    newlines: int

    @property
    def line_count(self) -> int:
        if not self.data:
            return 0
        return self.newlines + (0 if self.data.endswith(b"\n") else 1)

    @property
    def last_line(self) -> int:
        return self.first_line + self.line_count - 1


def iter_blocks(chunks: Iterable[bytes], block_bytes: int = BLOCK_BYTES) -> Iterator[Block]:
    """Line-aligned blocks of about ``block_bytes`` with their line numbers."""
    line = 1
    for data in iter_raw_blocks(chunks, block_bytes):
        newlines = data.count(b"\n")
        yield Block(line, data, newlines)
        line += newlines


def iter_raw_blocks(chunks: Iterable[bytes], block_bytes: int = BLOCK_BYTES) -> Iterator[bytes]:
    """Cut chunks into line-aligned blocks of about ``block_bytes``, in bounded memory.

    A leading UTF-8 BOM is dropped (it is not part of the first line's text). An overlong
    line is cut after :data:`MAX_LINE_BYTES`; the rest of it up to its newline is skipped,
    so the numbering of later lines is unchanged.
    """
    parts: list[bytes | memoryview] = []  # pending data, joined once per block (few copies)
    size = 0
    skipping = False
    first = True
    for chunk in chunks:
        if not chunk:
            continue
        if first:
            first = False
            if chunk.startswith(BOM):
                chunk = chunk[len(BOM) :]
        if skipping:
            idx = chunk.find(b"\n")
            if idx < 0:
                continue
            chunk = chunk[idx:]
            skipping = False
        parts.append(chunk)
        size += len(chunk)
        if size < block_bytes:
            continue
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            if len(parts) == 1:
                data = chunk[: cut + 1] if cut + 1 < len(chunk) else chunk
            else:  # join the pending data with a view of the chunk's head: one copy
                parts[-1] = memoryview(chunk)[: cut + 1]
                data = b"".join(parts)
            rest = chunk[cut + 1 :]
            parts = [rest] if rest else []
            size = len(rest)
            yield data
        elif size > MAX_PARTIAL_BYTES:
            joined = b"".join(parts)
            cut = joined.rfind(b"\n")
            if cut >= 0:
                yield joined[: cut + 1]
                joined = joined[cut + 1 :]
            if len(joined) > MAX_PARTIAL_BYTES:
                # one unterminated line: keep its head, skip to its end
                joined = joined[:MAX_LINE_BYTES]
                skipping = True
            parts = [joined] if joined else []
            size = len(joined)
    if parts:
        yield b"".join(parts)


@dataclass(frozen=True)
class LogLine:
    number: int
    text: str
    #: the CI step the line belongs to, when the log marks steps
    step: str | None


def iter_log_lines(chunks: Iterable[bytes]) -> Iterator[LogLine]:
    """Every line of a log, normalised, with its original number and its step."""
    step: str | None = None
    for block in iter_blocks(chunks):
        raws = block.data.split(b"\n")
        if block.data.endswith(b"\n"):
            raws.pop()
        for offset, raw in enumerate(raws):
            text = normalise_line(raw)
            started = step_of(normalise_line(raw, redraws=True) if b"\r" in raw else text)
            if started is not None:
                step = started
            yield LogLine(block.first_line + offset, text, step)


# --- excerpts for a fallback classifier ----------------------------------------------------

EXCERPT_MAX_LINES = 200
EXCERPT_MAX_BYTES = 16 * 1024
_EXCERPT_LINE_CHARS = 500


def build_excerpt(
    lines: Iterable[LogLine],
    log: str,
    *,
    max_lines: int = EXCERPT_MAX_LINES,
    max_bytes: int = EXCERPT_MAX_BYTES,
    candidates: Sequence[tuple[int, int]] = (),
) -> LogExcerpt:
    """Choose the lines a classifier should read, in bounded memory.

    Priority: the ``candidates`` line ranges, in their order (the analyzer's candidate
    blocks of the failing step, best first, for the model to pick from), the lines before
    the "Process completed with exit code" line (the end of the failing step), the lines
    around ``##[error]`` annotations, then lines with error words (first and last ones).
    At most ``max_lines`` lines and ``max_bytes`` of text.
    """
    wanted: list[list[LogLine]] = [[] for _ in candidates]
    tail: deque[LogLine] = deque(maxlen=40)  # recent lines, for context before a marker
    before_exit: list[LogLine] = []
    around_error: dict[int, LogLine] = {}
    take_after = 0  # lines still to take after an ##[error] annotation
    first_words: list[LogLine] = []
    last_words: deque[LogLine] = deque(maxlen=60)
    digest = hashlib.sha256()
    total = 0
    for item in lines:
        total = item.number
        digest.update(item.text.encode("utf-8", "replace"))
        digest.update(b"\n")
        for slot, (low, high) in enumerate(candidates):
            if low <= item.number <= high:
                wanted[slot].append(item)
        if take_after > 0:
            around_error[item.number] = item
            take_after -= 1
        text = item.text
        if "##[error]" in text:
            if _EXIT_CODE.search(text):
                if not before_exit:
                    before_exit = [*list(tail)[-30:], item]
            elif len(around_error) < 120:
                for ln in list(tail)[-3:]:
                    around_error[ln.number] = ln
                around_error[item.number] = item
                take_after = 3
        elif _ERROR_WORDS.search(text):
            if len(first_words) < 40:
                first_words.append(item)
            else:
                last_words.append(item)
        tail.append(item)
    if not before_exit and tail:
        before_exit = list(tail)[-30:]
    chosen: dict[int, LogLine] = {}
    used = 0
    for group in (
        *wanted,
        before_exit,
        sorted(around_error.values(), key=lambda x: x.number),
        first_words,
        list(last_words),
    ):
        for ln in group:
            if ln.number in chosen:
                continue
            cost = min(len(ln.text), _EXCERPT_LINE_CHARS) + 1
            if len(chosen) >= max_lines or used + cost > max_bytes:
                break
            chosen[ln.number] = ln
            used += cost
    picked = tuple(ExcerptLine(n, chosen[n].text[:_EXCERPT_LINE_CHARS]) for n in sorted(chosen))
    return LogExcerpt(
        log=log, total_lines=total, lines=picked, log_fingerprint=digest.hexdigest()[:16]
    )


def excerpt_from_path(
    path: Path | str,
    *,
    max_lines: int = EXCERPT_MAX_LINES,
    max_bytes: int = EXCERPT_MAX_BYTES,
) -> LogExcerpt:
    """:func:`build_excerpt` over a log file, streamed."""
    p = Path(path)
    return build_excerpt(
        iter_log_lines(read_file_chunks(p)), str(path), max_lines=max_lines, max_bytes=max_bytes
    )
