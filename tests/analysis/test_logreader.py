from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hee_monitor.analysis.logreader import (
    MAX_LINE_BYTES,
    LogLine,
    LogSource,
    build_excerpt,
    is_plain,
    iter_blocks,
    iter_log_lines,
    log_sources,
    normalise_line,
)


def test_normalise_line_strips_timestamp_ansi_cr_nul() -> None:
    raw = b"2024-01-01T00:00:00.1234567Z \x1b[31mFAILED\x1b[0m tests/x.py\x00\r"
    assert normalise_line(raw) == "FAILED tests/x.py"


def test_normalise_line_replaces_invalid_utf8() -> None:
    assert normalise_line(b"bad \xff\xfe byte") == "bad \ufffd\ufffd byte"


def test_normalise_line_cuts_overlong_lines() -> None:
    assert len(normalise_line(b"x" * (MAX_LINE_BYTES * 2))) == MAX_LINE_BYTES


def test_blocks_number_lines_across_chunks() -> None:
    chunks = [b"one\ntw", b"o\nthree\n", b"four"]
    blocks = list(iter_blocks(chunks, block_bytes=4))
    numbers = []
    for block in blocks:
        for offset, _ in enumerate(block.data.split(b"\n")[: block.line_count]):
            numbers.append(block.first_line + offset)
    assert numbers == [1, 2, 3, 4]
    assert blocks[-1].last_line == 4


def test_overlong_unterminated_line_is_cut_but_numbering_kept() -> None:
    big = b"y" * (9 * 1024 * 1024)
    chunks = [b"first\n", big[: len(big) // 2], big[len(big) // 2 :], b"\nlast\n"]
    lines = list(iter_log_lines(chunks))
    assert [ln.number for ln in lines] == [1, 2, 3]
    assert lines[0].text == "first"
    assert len(lines[1].text) <= MAX_LINE_BYTES
    assert lines[2].text == "last"


def test_steps_are_tracked_for_github_jenkins_travis() -> None:
    text = (
        "##[group]Run pytest -q\n##[endgroup]\nFAILED a\n"
        "[Pipeline] { (Build)\nmake\n"
        "travis_fold:start:install\r\x1b[0Knpm ci\n"
    )
    lines = list(iter_log_lines([text.encode()]))
    assert lines[2].step == "pytest -q"
    assert lines[4].step == "Build"
    assert lines[5].step == "install"


def test_bom_is_dropped_from_first_line_only() -> None:
    lines = list(iter_log_lines([b"\xef\xbb\xbfCurrent runner version\nnext\n"]))
    assert lines[0].text == "Current runner version"
    assert len(lines) == 2


_piece = st.sampled_from(["", "\x1b[31m", "\x1b[0m", "\r", "\x00", "é", "\xff"])
_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\x1b\x00"),
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(
    lines=st.lists(st.tuples(st.booleans(), _piece, _text, _piece), min_size=1, max_size=30),
    bom=st.booleans(),
    crlf=st.lists(st.booleans(), min_size=30, max_size=30),
    split=st.integers(min_value=1, max_value=64),
)
def test_line_numbers_point_at_original_lines(
    lines: list[tuple[bool, str, str, str]], bom: bool, crlf: list[bool], split: int
) -> None:
    """Whatever the decoration, line N of the reader is line N of the file (split on \\n)."""
    raw_lines = []
    for i, (stamp, pre, body, post) in enumerate(lines):
        prefix = "2024-01-01T00:00:00.1234567Z " if stamp else ""
        tagged = f"L{i}:{body}"
        text = f"{prefix}{pre}{tagged}{post}".encode("utf-8", "surrogateescape")
        raw_lines.append(text.replace("\xff".encode(), b"\xff") + (b"\r" if crlf[i] else b""))
    data = (b"\xef\xbb\xbf" if bom else b"") + b"\n".join(raw_lines) + b"\n"
    chunks = [data[i : i + split] for i in range(0, len(data), split)]
    got = list(iter_log_lines(chunks))
    assert len(got) == len(lines)
    originals = data.split(b"\n")
    for line in got:
        marker = f"L{line.number - 1}:"
        assert marker in line.text
        assert marker.encode() in originals[line.number - 1]


def test_excerpt_is_bounded_and_keeps_error_context() -> None:
    body = [LogLine(n, f"line {n} ok", "build") for n in range(1, 5001)]
    body[2999] = LogLine(3000, "##[error]something broke", "build")
    body += [LogLine(n, f"error number {n}", "build") for n in range(5001, 5500)]
    body.append(LogLine(5500, "##[error]Process completed with exit code 1.", "build"))
    excerpt = build_excerpt(body, "job.log", max_lines=200, max_bytes=16 * 1024)
    numbers = [ln.number for ln in excerpt.lines]
    assert len(numbers) <= 200
    assert sum(len(ln.text) + 1 for ln in excerpt.lines) <= 16 * 1024
    assert 5500 in numbers and 3000 in numbers and 2999 in numbers and 3001 in numbers
    assert numbers == sorted(numbers)
    assert excerpt.total_lines == 5500
    assert len(excerpt.log_fingerprint) == 16


def test_a_redrawn_line_reads_as_its_last_text() -> None:
    """Progress bars redraw a line with lone CRs: the text after the last one is what it
    says (an anchored regex must see it at the line start); numbering stays by newline."""
    raw = b"2024-01-01T00:00:00.1Z Downloading 10%\rDownloading 100%\r\x1b[31mERROR: no space\r"
    assert normalise_line(raw) == "ERROR: no space"
    assert normalise_line(b"Pulling 1/3\rdone\r   \r") == "done"
    assert normalise_line(raw, redraws=True) == "Downloading 10% Downloading 100% ERROR: no space"
    lines = list(iter_log_lines([b"a\rb\nc\r\rd\n"]))
    assert [(line.number, line.text) for line in lines] == [(1, "b"), (2, "d")]


def test_the_job_and_step_names_gh_run_view_adds_are_not_part_of_the_line() -> None:
    from hee_monitor.analysis.logreader import normalise_line

    line = b"build / test\tRun pytest\t\xef\xbb\xbf2024-07-19T13:40:28.2762079Z E   assert 1 == 2\r"
    assert normalise_line(line) == "E   assert 1 == 2"
    # tabs without the timestamp behind them are text
    assert normalise_line(b"name\tvalue\tother") == "name\tvalue\tother"


def _job_log() -> bytes:
    return (Path(__file__).resolve().parents[2] / "examples/logs/npm-eresolve.log").read_bytes()


def test_log_sources_reads_gzip_and_github_run_log_archives(tmp_path: Path) -> None:
    import gzip
    import zipfile

    from hee_monitor.analysis.logreader import log_sources

    data = _job_log()
    plain = tmp_path / "job.log"
    plain.write_bytes(data)
    (source,) = log_sources(plain)
    assert source.path == plain and b"".join(source.open()) == data

    packed = tmp_path / "job.log.gz"
    packed.write_bytes(gzip.compress(data))
    (source,) = log_sources(packed)
    assert source.path is None and b"".join(source.open()) == data

    # GitHub's run log download: one file per job, and a folder of per-step files
    run = tmp_path / "logs_42.zip"
    with zipfile.ZipFile(run, "w") as archive:
        archive.writestr("0_build.txt", data)
        archive.writestr("1_lint.txt", b"lint ok\n")
        archive.writestr("build/3_Install.txt", data)
    assert [s.name for s in log_sources(run)] == [f"{run}!0_build.txt", f"{run}!1_lint.txt"]
    assert b"".join(log_sources(run)[0].open()) == data
    steps = tmp_path / "steps.zip"
    with zipfile.ZipFile(steps, "w") as archive:
        archive.writestr("build/3_Install.txt", data)
        archive.writestr("build/", b"")
    assert [s.name for s in log_sources(steps)] == [f"{steps}!build/3_Install.txt"]


def test_damaged_archives_say_what_is_wrong(tmp_path: Path) -> None:
    import gzip

    from hee_monitor.analysis.logreader import log_sources

    cut = tmp_path / "job.log.gz"
    cut.write_bytes(gzip.compress(_job_log())[:200])
    (source,) = log_sources(cut)
    with pytest.raises(ValueError, match="damaged gzip file"):
        b"".join(source.open())
    broken = tmp_path / "logs.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises(ValueError, match="damaged zip archive"):
        log_sources(broken)


@pytest.mark.parametrize(
    ("bom", "encoding"), [(b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")]
)
def test_utf16_logs_with_a_byte_order_mark_are_read_as_text(
    tmp_path: Path, bom: bytes, encoding: str
) -> None:
    from hee_monitor.analysis.logreader import log_sources

    text = _job_log().decode("utf-8")
    path = tmp_path / "build.log"
    path.write_bytes(bom + text.replace("\n", "\r\n").encode(encoding))
    (source,) = log_sources(path)
    assert b"".join(source.open()).decode("utf-8") == text.replace("\n", "\r\n")


def test_piped_logs_and_archives_are_read_like_files() -> None:
    import gc
    import gzip
    import io
    import tempfile
    import zipfile

    from hee_monitor.analysis.logreader import stdin_sources

    data = _job_log()
    (plain,) = stdin_sources(io.BytesIO(data))
    assert plain.name == "<stdin>" and plain.keep_alive is None
    assert b"".join(plain.open()) == data
    (packed,) = stdin_sources(io.BytesIO(gzip.compress(data)))
    assert b"".join(packed.open()) == data
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("0_build.txt", data)
        archive.writestr("build/1_Set up job.txt", b"setup\n")
    (job,) = stdin_sources(io.BytesIO(buffer.getvalue()))
    assert job.name == "<stdin>!0_build.txt" and b"".join(job.open()) == data
    assert isinstance(job.keep_alive, tempfile.TemporaryDirectory)
    copy = Path(job.keep_alive.name)
    assert copy.is_dir()
    del job, packed
    gc.collect()
    assert not copy.exists()  # the temporary copy goes with its sources
    assert stdin_sources(io.BytesIO(b""))[0].name == "<stdin>"


def _text_of(source: LogSource) -> bytes:
    return b"".join(source.open())


def test_a_log_that_starts_with_ff_fe_but_is_not_utf16_is_read_as_it_is(tmp_path: Path) -> None:
    # Latin-1 "ÿþ" followed by ordinary ASCII lines: two bytes are no proof of UTF-16
    path = tmp_path / "job.log"
    body = b"\xff\xfe build started\nerror: cannot find module 'left-pad'\n"
    path.write_bytes(body)
    (source,) = log_sources(path)
    assert source.path == path
    assert b"cannot find module 'left-pad'" in _text_of(source)


def test_real_utf16_with_a_mark_is_still_told_from_its_text(tmp_path: Path) -> None:
    path = tmp_path / "ps.log"
    path.write_bytes(
        b"\xff\xfe" + "Build FAILED.\r\nerror CS1002: ; expected\r\n".encode("utf-16-le")
    )
    (source,) = log_sources(path)
    assert source.path is None
    assert b"error CS1002: ; expected" in _text_of(source)


@given(st.binary(min_size=2, max_size=600))
def test_sniffing_never_raises_on_any_start(data: bytes) -> None:
    sample = b"\xff\xfe" + data
    assert isinstance(is_plain(sample), bool)


def test_many_member_archives_are_read_through_one_open_archive(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "logs.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(300):
            archive.writestr(f"{i}_job.txt", f"line of job {i}\n")
    sources = log_sources(path)
    assert len(sources) == 300
    # every member's reader shares the archive opened once, whose directory is parsed once
    archives = {id(source.keep_alive) for source in sources}
    assert len(archives) == 1
    assert _text_of(sources[299]) == b"line of job 299\n"


def test_an_archive_with_too_many_members_is_refused_with_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zipfile

    from hee_monitor.analysis import logreader
    from hee_monitor.core.errors import LogReadError

    monkeypatch.setattr(logreader, "MAX_ZIP_MEMBERS", 5)
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(6):
            archive.writestr(f"{i}.txt", "x\n")
    with pytest.raises(LogReadError, match="6 members"):
        log_sources(path)
