"""Whole-file analysis of the bot's log (``botmon logs``): streaming, constant memory, parallel.

Files (a rotated set in any order, ``.gz`` too) are put in time order, each plain file is split
into byte ranges that start where a record starts, and the ranges are scanned by ``jobs``
processes (``logs_scan``); results come back in order and are merged with their line numbers
shifted. Small inputs are scanned in-process. ``analyse_records`` is the slow reference path
(one parsed record at a time) that the fast one must agree with.
"""

from __future__ import annotations

import gzip
import multiprocessing as mp
import os
import re
import signal
import stat
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, BinaryIO

from tui.analysis.logs_scan import Scanner, ShapeClassifier, first_record_start, record_cut
from tui.analysis.logs_stats import LogStats
from tui.errors import BotmonError
from tui.sources.logparse import Categoriser, LogRecord, parse_header

CHUNK_BYTES = 4 << 20  # per scan step: bounds a worker's memory (~4x this at peak)
UNIT_BYTES = 64 << 20  # byte range handed to one worker at a time
PARALLEL_MIN_BYTES = 16 << 20  # below this, starting processes costs more than it saves
MAX_CARRY = 64 << 20  # a "record" longer than this is cut at a newline anyway
SEED_BYTES = 256 << 10  # read before a byte range: its incidents may have started there
_GZIP_MAGIC = b"\x1f\x8b"
_ROTATION_RE = re.compile(r"\.(\d+)(?:\.gz)?$")
_HEADER_LINE_RE = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - .+$", re.M)

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass
class LogFile:
    index: int  # position in time order
    path: str
    size: int  # on disk (compressed size for .gz)
    gz: bool
    first_time: datetime | None  # of its first record, used to order a rotated set
    rotation: int  # N of bot.log.N, 0 otherwise
    lines: int = 0
    records: int = 0
    last_time: datetime | None = None


@dataclass(frozen=True)
class Unit:
    file_index: int
    path: str
    gz: bool
    start: int
    end: int | None  # None: to the end (compressed input)


@dataclass
class LogAnalysis:
    files: list[LogFile]
    stats: LogStats
    categoriser: Categoriser
    seconds: float = 0.0
    jobs: int = 1
    units: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def default_jobs() -> int:
    # Each worker holds ~4 chunks; four is plenty for a disk-bound scan and keeps memory small.
    return max(1, min(os.cpu_count() or 1, 4))


# -- files ----------------------------------------------------------------------------------


def inspect_files(paths: Sequence[str | os.PathLike[str]]) -> list[LogFile]:
    """Check every file is readable and put the set in time order (rotated sets in any order)."""
    found: list[LogFile] = []
    seen: set[str] = set()
    for given in paths:
        path = os.fspath(given)
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        size, gz = _check_readable(path)
        first = _first_time(path, gz)
        m = _ROTATION_RE.search(os.path.basename(path))
        found.append(LogFile(len(found), path, size, gz, first, int(m.group(1)) if m else 0))
    # By first timestamp; a file without one (empty) by its rotation suffix: .3 is older than .1.
    found.sort(
        key=lambda f: (f.first_time is None, f.first_time or datetime.min, -f.rotation, f.index)
    )
    for i, f in enumerate(found):
        f.index = i
    return found


def _check_readable(path: str) -> tuple[int, bool]:
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise BotmonError(path, "is a directory", "give the log files, e.g. logs/bot.log*")
        with open(path, "rb") as fh:
            magic = fh.read(2)
    except FileNotFoundError:
        raise BotmonError(
            path,
            "no such file",
            "check the path; a rotated set is e.g. bot.log.2 bot.log.1 bot.log",
        ) from None
    except PermissionError:
        raise BotmonError(
            path, "permission denied", "run as a user who can read the bot's log"
        ) from None
    except OSError as err:
        raise BotmonError(path, err.strerror or str(err), "check the file") from None
    return st.st_size, magic == _GZIP_MAGIC


def _open_binary(path: str, gz: bool) -> tuple[BinaryIO, BinaryIO]:
    """``(reader, raw file)``: for .gz the reader decompresses and the raw file gives progress."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    return (gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw), raw  # type: ignore[return-value]


def _first_time(path: str, gz: bool) -> datetime | None:
    reader, raw = _open_binary(path, gz)
    try:
        head = reader.read(1 << 20)
    except (OSError, EOFError, zlib.error) as err:
        raise BotmonError(path, _describe(err, gz), "check the file is a complete .gz") from None
    finally:
        reader.close()
        raw.close()
    if b"\x00" in head[:65536]:  # text logs hold no NUL bytes; an image, an archive, a core do
        raise BotmonError(
            path, "binary data, not a text log", "give the bot's log files (bot.log, bot.log.1 ...)"
        )
    for m in _HEADER_LINE_RE.finditer(head):
        parts = parse_header(m.group(0))
        if parts and parts[0] is not None:
            return parts[0]
    return None


def _describe(err: BaseException, gz: bool) -> str:
    if isinstance(err, EOFError):
        return "compressed file ends early (truncated .gz)"
    if isinstance(err, gzip.BadGzipFile) or (gz and isinstance(err, zlib.error)):
        return f"not a valid gzip file ({err})"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err)


def plan_units(files: Sequence[LogFile], jobs: int, unit_bytes: int = UNIT_BYTES) -> list[Unit]:
    """Byte ranges in file order; each plain range starts where a record starts."""
    units: list[Unit] = []
    total = sum(f.size for f in files)
    for f in files:
        if f.gz or f.size == 0:
            units.append(Unit(f.index, f.path, f.gz, 0, None))
            continue
        pieces = max(1, round(f.size / unit_bytes))
        if jobs > 1 and total >= PARALLEL_MIN_BYTES and f.size >= PARALLEL_MIN_BYTES:
            pieces = max(pieces, jobs)
        cuts = [0]
        with open(f.path, "rb") as fh:
            for k in range(1, pieces):
                nominal = f.size * k // pieces
                if nominal <= cuts[-1]:
                    continue
                fh.seek(nominal - 1)  # include the newline before a record that starts right here
                at = first_record_start(fh.read(1 << 20))
                if at >= 0 and nominal - 1 + at > cuts[-1]:
                    cuts.append(nominal - 1 + at)
        cuts.append(f.size)
        units.extend(Unit(f.index, f.path, False, a, b) for a, b in zip(cuts, cuts[1:]) if b > a)
    return units


# -- scanning -------------------------------------------------------------------------------


def scan_unit(
    unit: Unit,
    shapes: ShapeClassifier,
    chunk_bytes: int = CHUNK_BYTES,
    on_bytes: Callable[[int], None] | None = None,
) -> LogStats:
    """Scan one byte range into a ``LogStats`` (line numbers relative to the range's start)."""
    scanner = Scanner(shapes, unit.file_index, file_start=unit.start == 0)
    reader, raw = _open_binary(unit.path, unit.gz)
    try:
        if unit.start > 0 and not unit.gz:
            # The records just before the range: repeats of their incidents are folded here too.
            seed_from = max(0, unit.start - SEED_BYTES)
            raw.seek(seed_from)
            scanner.seed(raw.read(unit.start - seed_from), at_file_start=seed_from == 0)
        raw.seek(unit.start)
        left = None if unit.end is None else unit.end - unit.start
        carry = b""
        pos = raw.tell()
        while left is None or left > 0:
            block = reader.read(chunk_bytes if left is None else min(chunk_bytes, left))
            if not block:
                break
            if left is not None:
                left -= len(block)
            buf = carry + block if carry else block
            del block
            cut = record_cut(buf)
            if cut == 0:  # no record starts here: cut at a newline, or wait for one
                cut = buf.rfind(b"\n") + 1
                if cut == 0 and len(buf) > MAX_CARRY:
                    cut = len(buf)
            carry = buf[cut:]
            chunk = buf[:cut]
            del buf
            scanner.feed(chunk)
            del chunk
            if on_bytes is not None:
                now = raw.tell()
                on_bytes(now - pos)
                pos = now
        scanner.feed(carry)
    finally:
        reader.close()
        raw.close()
    return scanner.stats


_WORKER: dict[str, Any] = {}


def _init_worker(patterns: dict[str, dict[str, list[str]]], slow_ms: float, counter: Any) -> None:
    # Ctrl+C reaches the whole process group: the parent stops the pool, workers stay quiet.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER["shapes"] = ShapeClassifier(Categoriser(patterns, slow_ms=slow_ms))
    _WORKER["counter"] = counter


def _add_progress(n: int) -> None:
    counter = _WORKER["counter"]
    with counter.get_lock():
        counter.value += n


def _run_unit(unit: Unit, chunk_bytes: int) -> tuple[str, Any]:
    # Errors travel back as plain tuples: BotmonError's constructor does not survive pickling.
    try:
        return "ok", scan_unit(unit, _WORKER["shapes"], chunk_bytes, _add_progress)
    except BotmonError as err:
        return "error", (err.where, err.problem, err.hint)
    except (OSError, EOFError, zlib.error) as err:
        return "error", (unit.path, _describe(err, unit.gz), "check the file")


def _mp_context() -> Any:
    # fork starts workers in milliseconds and shares the parent's loaded modules.
    methods = mp.get_all_start_methods()
    return mp.get_context("fork" if "fork" in methods else methods[0])


def analyse_files(
    paths: Sequence[str | os.PathLike[str]],
    *,
    categoriser: Categoriser | None = None,
    jobs: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    unit_bytes: int = UNIT_BYTES,
    progress: Progress | None = None,
) -> LogAnalysis:
    """Analyse log files; raises ``BotmonError`` for a missing, unreadable or corrupt file."""
    started = time.perf_counter()
    files = inspect_files(paths)
    cat = categoriser or Categoriser.load()
    jobs = default_jobs() if jobs is None else max(1, jobs)
    units = plan_units(files, jobs, unit_bytes)
    total_bytes = sum(f.size for f in files)
    parallel = jobs > 1 and len(units) > 1 and total_bytes >= PARALLEL_MIN_BYTES
    merger = _Merger(files)
    if parallel:
        ctx = _mp_context()
        counter = ctx.Value("q", 0)
        run = partial(_run_unit, chunk_bytes=chunk_bytes)
        with ctx.Pool(
            min(jobs, len(units)), _init_worker, (cat.patterns, cat.slow_ms, counter)
        ) as pool:
            results = pool.imap(run, units)
            for unit in units:
                while True:
                    try:
                        status, value = results.next(timeout=0.2)
                        break
                    except mp.TimeoutError:
                        if progress is not None:
                            progress(counter.value, total_bytes)
                if status == "error":
                    raise BotmonError(*value)
                merger.add(unit, value)
                if progress is not None:
                    progress(counter.value, total_bytes)
    else:
        shapes = ShapeClassifier(cat)
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            if progress is not None:
                progress(done, total_bytes)

        for unit in units:
            try:
                merger.add(unit, scan_unit(unit, shapes, chunk_bytes, advance))
            except (OSError, EOFError, zlib.error) as err:
                raise BotmonError(unit.path, _describe(err, unit.gz), "check the file") from None
    stats = merger.finish()
    if stats.records - stats.unparsed == 0:  # nothing to analyse: say so instead of a report
        where = ", ".join(f.path for f in files)
        if all(f.size == 0 for f in files):
            raise BotmonError(where, "empty file(s): no log lines", "is the bot writing here?")
        raise BotmonError(
            where,
            "no line in the bot's log format (YYYY-MM-DD HH:MM:SS,mmm - logger - LEVEL - message)",
            "give the bot's own log, not another file",
        )
    return LogAnalysis(
        files, stats, cat, time.perf_counter() - started, jobs if parallel else 1, len(units)
    )


class _Merger:
    """Merges unit results in order: shifts line numbers within a file, then files into a total."""

    def __init__(self, files: list[LogFile]) -> None:
        self.files = files
        self.total = LogStats()
        self.current: LogStats | None = None
        self.current_index = -1

    def add(self, unit: Unit, stats: LogStats) -> None:
        if unit.file_index != self.current_index:
            self._close_file()
            self.current = LogStats()
            self.current_index = unit.file_index
        assert self.current is not None
        self.current.merge(stats, shift=self.current.lines)

    def _close_file(self) -> None:
        if self.current is None:
            return
        f = self.files[self.current_index]
        f.lines, f.records = self.current.lines, self.current.records
        f.first_time, f.last_time = self.current.first_time, self.current.last_time
        self.total.merge(self.current)
        self.current = None

    def finish(self) -> LogStats:
        self._close_file()
        return self.total


# -- the reference path ---------------------------------------------------------------------


def analyse_records(
    records: Iterable[LogRecord],
    categoriser: Categoriser,
    file_index: int = 0,
    stats: LogStats | None = None,
) -> LogStats:
    """One record at a time: simple and slow; the fast scan must give the same answer."""
    stats = stats if stats is not None else LogStats()
    for rec in records:
        stats.add_record(rec, categoriser.matches(rec), (file_index, rec.line))
    return stats
