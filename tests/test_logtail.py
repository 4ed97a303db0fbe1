"""The live tailer, driven explicitly: nothing lost, nothing counted twice, no sleeping."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tui.sources import logtail
from tui.sources.logtail import FileFollower, LogTailer

TS = "2025-10-15 13:21:03,512"


def make(prefix: str, n: int, start: int = 0) -> list[str]:
    return [f"{TS} - core.x - INFO - {prefix} {i}" for i in range(start, start + n)]


def append(path: Path, lines: list[str], *, end: str = "\n") -> None:
    with open(path, "ab") as fh:
        fh.write(("\n".join(lines) + end).encode())


def drain(f: FileFollower) -> list[str]:
    out: list[str] = []
    while True:
        got = f.read_available()
        if not got:
            return out
        out += [b.decode() for b in got]


def test_starts_at_end_of_existing_file(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    append(log, make("old", 5))
    f = FileFollower(log)
    assert drain(f) == []
    append(log, make("new", 3))
    assert f.read_available() == [s.encode() for s in make("new", 3)]
    assert f.first_line == 6  # numbered as in the file, old lines included
    assert f.lines_read == 3


def test_from_start_reads_everything(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    append(log, make("old", 5))
    assert drain(FileFollower(log, from_start=True)) == make("old", 5)


def test_half_written_line_waits_for_its_newline(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    log.write_bytes(b"")
    f = FileFollower(log)
    assert f.read_available() == []  # opened while empty: everything after this is new
    append(log, ["abc"], end="")
    assert f.read_available() == []
    append(log, ["def", "ghi"], end="")
    assert f.read_available() == [b"abcdef"]
    append(log, [""], end="\n")
    assert f.read_available() == [b"ghi"]
    assert f.lines_read == 2


def test_start_mid_line_skips_the_tail_of_that_line(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    log.write_bytes(b"l1\nhalf")
    f = FileFollower(log)
    assert f.read_available() == []
    append(log, ["-rest", "l3"])
    assert f.read_available() == [b"l3"]
    assert f.first_line == 3


def test_rotation_by_rename_drains_the_old_file_first(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    append(log, make("a", 3))
    f = FileFollower(log, from_start=True)
    assert drain(f) == make("a", 3)
    generation = f.generation

    writer = open(log, "ab")  # noqa: SIM115 - the bot's handler, still open across the rename
    writer.write(("\n".join(make("b", 2)) + "\n").encode())
    writer.flush()
    os.rename(log, tmp_path / "bot.log.1")
    writer.write(("\n".join(make("late", 1)) + "\n" + "unterminated").encode())  # before it reopens
    writer.close()
    append(log, make("c", 4))

    got = drain(f)
    assert got == make("b", 2) + make("late", 1) + ["unterminated"] + make("c", 4)
    assert f.rotations == 1 and f.generation > generation
    assert f.lines_read == 3 + 2 + 1 + 1 + 4
    append(log, make("d", 1))
    assert drain(f) == make("d", 1)
    assert f.first_line == 5  # line numbers of the new file


def test_copytruncate(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    append(log, make("a", 10))
    f = FileFollower(log, from_start=True)
    assert len(drain(f)) == 10
    with open(log, "r+b") as fh:  # logrotate copytruncate
        fh.truncate(0)
    append(log, make("b", 3))
    assert drain(f) == make("b", 3)
    assert f.truncations == 1 and f.first_line == 1
    assert f.lines_read == 13


def test_truncated_and_regrown_past_our_offset(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    append(log, ["x1", "x2"])
    f = FileFollower(log, from_start=True)
    assert drain(f) == ["x1", "x2"]
    with open(log, "r+b") as fh:
        fh.truncate(0)
    append(log, make("longer", 6))  # bigger than before: only the leading bytes tell
    assert drain(f) == make("longer", 6)
    assert f.truncations == 1


def test_delete_and_recreate(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    append(log, make("a", 2))
    f = FileFollower(log, from_start=True)
    assert len(drain(f)) == 2
    append(log, make("a", 1, start=2))
    log.unlink()
    assert drain(f) == make("a", 1, start=2)  # read through the open handle
    assert drain(f) == []  # nothing there yet
    append(log, make("b", 2))
    assert drain(f) == make("b", 2)
    assert f.rotations == 1 and f.lines_read == 5


def test_file_that_does_not_exist_yet(tmp_path: Path) -> None:
    log = tmp_path / "later" / "bot.log"
    f = FileFollower(log)
    assert f.read_available() == []
    log.parent.mkdir()
    assert f.read_available() == []
    append(log, make("a", 3))
    assert drain(f) == make("a", 3)  # created after start: read from its beginning
    assert f.first_line == 1


def test_glob_follows_the_newest_file(tmp_path: Path) -> None:
    d = tmp_path / "monitoring_logs"
    d.mkdir()
    older, newer = d / "bot_20251015_090000.log", d / "bot_20251015_120000.log"
    append(older, make("old", 2))
    append(newer, make("cur", 2))
    os.utime(older, (1_000, 1_000))
    f = FileFollower(d / "bot_*.log")
    assert drain(f) == []
    assert f.path == str(newer)
    append(newer, make("cur", 1, start=2))
    assert drain(f) == make("cur", 1, start=2)

    newest = d / "bot_20251015_150000.log"
    append(newer, make("cur", 1, start=3))  # written just before the switch
    append(newest, make("next", 2))
    os.utime(newer, (2_000, 2_000))
    got = drain(f)
    assert got == make("cur", 1, start=3) + make("next", 2)
    assert f.path == str(newest) and f.rotations == 1


def test_bursts_are_read_in_bounded_steps(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    append(log, make("burst", 12_345))
    f = FileFollower(log, from_start=True, max_lines=5000, chunk_size=4096)
    sizes = []
    while True:
        got = f.read_available()
        if not got:
            break
        sizes.append(len(got))
        assert len(got) <= 5000
    assert sizes == [5000, 5000, 2345]
    assert f.lines_read == 12_345


def test_endless_line_is_not_buffered_forever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logtail, "MAX_LINE_BYTES", 100)
    log = tmp_path / "bot.log"
    log.write_bytes(b"")
    f = FileFollower(log, chunk_size=64)
    assert f.read_available() == []
    log.write_bytes(b"x" * 300)
    got = drain(f)
    assert got and sum(map(len, got)) <= 300


def test_a_line_over_the_cap_is_one_cut_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logtail, "MAX_LINE_BYTES", 100)
    log = tmp_path / "bot.log"
    log.write_bytes(b"")
    t = LogTailer([log], watch=False, chunk_size=64)  # the long line arrives in pieces
    t.poll()
    head = b"2025-10-15 13:00:00,001 - core.x - ERROR - "
    with open(log, "ab") as fh:
        fh.write(head + b"y" * 250 + b"\n" + head.replace(b"00,001", b"01,000") + b"next\n")
    records = [r for _ in range(20) for r in t.poll().records] + list(t.flush().records)
    assert [r.record.line for r in records] == [1, 2]
    first = records[0].record
    assert first.continuation == () and len(first.message) <= 100
    assert records[1].record.message == "next"
    counters = t.counters()
    assert (counters.lines, counters.long_lines) == (2, 1)


def test_tailer_folds_one_failure_logged_three_times(tmp_path: Path) -> None:
    """The same incident folding as `botmon logs`: two echo lines and the module line of one
    failed stop-loss update (the real storm of 2025-10-23) count once."""
    log = tmp_path / "bot.log"
    log.write_bytes(b"")
    t = LogTailer([log], watch=False)
    t.poll()
    echo = ("2025-10-23 16:54:57,598 - core.event_logger - ERROR - trailing_stop_sl_update_failed: "
            "{'symbol': 'PRCLUSDT', 'error': 'Exchange update failed, state rolled back'}")
    module = ("2025-10-23 16:54:57,598 - protection.trailing_stop - ERROR - ❌ PRCLUSDT: SL update "
              "FAILED on exchange, state rolled back (keeping old stop 0.0394)")
    later = module.replace("16:54:57,598", "16:55:07,534")
    log.write_text("\n".join([echo, echo, module, later]) + "\n", encoding="utf-8")
    records = list(t.poll().records) + list(t.flush().records)
    assert [r.folded for r in records] == [False, True, True, False]
    assert [("stop_loss.failed" in (m.tag for m in r.matches)) for r in records] == [
        True, False, False, True]


# -- LogTailer ----------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_tailer_assembles_and_categorises(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    log.write_bytes(b"")
    clock = FakeClock()
    t = LogTailer([log], clock=clock, flush_after=1.0, watch=False)
    assert t.poll().records == ()
    append(
        log,
        [
            f"{TS} - core.position_manager - INFO - ✅ Position #1 for PUNDIXUSDT opened "
            "ATOMICALLY at $1",
            f"{TS} - core.event_logger - ERROR - Failed to write event batch",
            "Traceback (most recent call last):",
            "TypeError: Object of type Decimal is not JSON serializable",
        ],
    )
    batch = t.poll()
    assert batch.lines == 4
    (opened,) = batch.records  # the ERROR record may still get traceback lines
    assert opened.tags == ("position.opened",) and opened.source == str(log)
    assert t.poll().records == ()  # not idle long enough
    clock.now = 5.0
    (error,) = t.poll().records
    assert error.record.level == "ERROR" and error.record.line == 2
    assert error.record.continuation[-1].startswith("TypeError")
    assert "error.exception" in error.tags
    c = t.counters()
    assert (c.lines, c.records, c.unparsed) == (4, 2, 0)


def test_tailer_numbers_lines_per_file_across_rotation(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    append(log, make("a", 3))
    t = LogTailer([log], from_start=True, watch=False)
    first = t.poll().records + t.flush().records
    assert [r.record.line for r in first] == [1, 2, 3]
    os.rename(log, tmp_path / "bot.log.1")
    append(log, make("b", 2))
    got = t.poll().records + t.flush().records
    assert [r.record.line for r in got] == [1, 2]
    assert [r.record.message for r in got] == ["b 0", "b 1"]
    c = t.counters()
    assert c.lines == 5 and c.records == 5 and c.rotations == 1


def test_tailer_counts_every_line_once_through_everything(tmp_path: Path) -> None:
    log = tmp_path / "bot.log"
    t = LogTailer([log], watch=False, max_lines=7)
    written = 0

    def write(lines: list[str]) -> None:
        nonlocal written
        append(log, lines)
        written += len(lines)

    seen: list[str] = []

    def pump() -> None:
        while True:
            batch = t.poll()
            seen.extend(r.record.message for r in batch.records)
            if not batch.lines and not batch.more:
                break
        seen.extend(r.record.message for r in t.flush().records)

    pump()  # the file does not exist yet
    write(make("a", 20))
    pump()
    os.rename(log, tmp_path / "bot.log.1")
    write(make("b", 15))
    pump()
    with open(log, "r+b") as fh:
        fh.truncate(0)
    write(make("c", 9))
    pump()
    log.unlink()
    write(make("d", 11))
    pump()
    expected = make("a", 20) + make("b", 15) + make("c", 9) + make("d", 11)
    assert seen == [s.split(" - INFO - ")[1] for s in expected]
    assert t.counters().lines == written == len(seen)


@pytest.mark.parametrize("watch", [True, False])
async def test_batches_arrive_without_polling_by_hand(tmp_path: Path, watch: bool) -> None:
    log = tmp_path / "bot.log"
    append(log, make("a", 2))
    t = LogTailer([log], from_start=True, watch=watch, poll_interval=0.2, flush_after=0.0)
    batches = t.batches()
    try:
        first = await asyncio.wait_for(anext(batches), timeout=10)
        assert first.lines == 2
        append(log, make("b", 3))
        messages: list[str] = [r.record.message for r in first.records]
        while len(messages) < 5:
            batch = await asyncio.wait_for(anext(batches), timeout=10)
            messages += [r.record.message for r in batch.records]
        assert messages == ["a 0", "a 1", "b 0", "b 1", "b 2"]
    finally:
        await batches.aclose()
