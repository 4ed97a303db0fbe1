"""Live tail of the bot's log: byte offsets, rotation, truncation, re-creation, partial lines.

Two layers, so that the tricky part is testable without an event loop or sleeps:

* ``FileFollower`` is plain synchronous code: each ``read_available()`` returns the complete new
  lines of one file (or of the newest file matching a glob), reading at most a bounded amount.
* ``LogTailer`` assembles those lines into categorised records (``LogBatch``) and, in
  ``batches()``, wakes up on watchfiles events with a periodic poll as a fallback (events can be
  missed, e.g. on network filesystems). Reading and parsing run in a worker thread in bounded
  steps, so a 10,000 lines/s burst never holds the event loop.
"""

from __future__ import annotations

import asyncio
import glob
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tui.sources.logparse import (
    Categoriser,
    CategoryMatch,
    IncidentFolder,
    LogRecord,
    RecordAssembler,
)

CHUNK_SIZE = 64 * 1024  # one read; toolong reads 64 KiB too
MAX_LINES = 5000  # lines handed out per read_available() call
MAX_LINE_BYTES = 1 << 20  # a line is cut here; the rest of it is dropped and counted
_FINGERPRINT = 256  # leading bytes that identify a file's content (truncate-and-regrow check)

# What the path looks like once the open handle has been read to its end.
_SAME, _GONE, _REPLACED, _TRUNCATED, _NEWER = "same", "gone", "replaced", "truncated", "newer"


class FileFollower:
    """Follows one path, or the newest file matching a glob, and returns new complete lines.

    * Starts at the end of a file that exists at start (``from_start=False``); a file that
      appears later is read from its beginning.
    * Rotation by rename and delete/re-create: the old handle is drained to its end (a writer may
      still append between our last read and the rename) before the new file is opened.
    * Truncation (copytruncate): size below our offset, or different leading bytes -> offset 0.
    * A half-written last line stays buffered until its newline arrives; on a switch of file it
      is handed out as it is, so nothing is lost.
    * Every line returned by one call comes from the same file: ``generation`` changes between
      calls when the file does, and ``first_line`` is the physical line number of the first one.
    """

    def __init__(
        self,
        spec: str | os.PathLike[str],
        *,
        from_start: bool = False,
        chunk_size: int = CHUNK_SIZE,
        max_lines: int = MAX_LINES,
        count_existing_lines: bool = True,
    ) -> None:
        self.spec = os.fspath(spec)
        self.is_glob = glob.has_magic(self.spec)
        self.from_start = from_start
        self.chunk_size = chunk_size
        self.max_lines = max_lines
        self.count_existing_lines = count_existing_lines

        self.path: str | None = None if self.is_glob else self.spec  # the file being read
        self.generation = 0  # +1 whenever the followed file changes (rotation, truncation, ...)
        self.first_line = 1  # physical line number of the first line of the last call's result
        self.lines_read = 0
        self.bytes_read = 0
        self.rotations = 0
        self.truncations = 0

        self._fh: BinaryIO | None = None
        self._ident: tuple[int, int] | None = None
        self._offset = 0
        self._fingerprint = b""
        self._partial = b""
        self._skip_to_newline = False  # started mid-line at the end of an existing file
        self._discard_to_newline = False  # the rest of a line cut at MAX_LINE_BYTES
        self.long_lines = 0  # lines longer than MAX_LINE_BYTES (cut)
        self._pending: deque[bytes] = deque()
        self._next_line = 1  # number of the next line to hand out
        self._started = False

    # -- public -------------------------------------------------------------------------------

    def read_available(self) -> list[bytes]:
        """New complete lines (line endings removed), at most ``max_lines``, one file only."""
        if len(self._pending) < self.max_lines:
            self._fill()
        count = min(len(self._pending), self.max_lines)
        if not count:
            return []
        out = [self._pending.popleft() for _ in range(count)]
        self.first_line = self._next_line
        self._next_line += count
        self.lines_read += count
        return out

    @property
    def has_more(self) -> bool:
        """Lines are already waiting (the last call hit its cap)."""
        return bool(self._pending)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    # -- reading ------------------------------------------------------------------------------

    def _fill(self) -> None:
        if self._fh is None:
            initial = not self._started
            self._started = True
            if not self._open(initial):
                return
        elif self._rewritten():  # checked before reading: regrown content must not be read mid-line
            if self._partial:
                self._pending.append(self._partial)
                self._partial = b""
            if self._pending:
                return
            self._restart_at_zero()
        while len(self._pending) < self.max_lines:
            if self._read_some():
                continue
            change = self._look_at_path()
            if change in (_SAME, _GONE):
                return
            if change != _TRUNCATED and self._read_some():
                continue  # final drain: written just before the rename, read it first
            if self._partial:  # the old file's unterminated last line: hand it out as it is
                self._pending.append(self._partial)
                self._partial = b""
            if self._pending:
                return  # the old file's lines go out first; switch on the next call
            if change == _TRUNCATED:
                self._restart_at_zero()
            else:
                self.close()
                self.rotations += 1
                if not self._open(initial=False):
                    return

    def _read_some(self) -> bool:
        assert self._fh is not None
        data = self._fh.read(self.chunk_size)
        if not data:
            return False
        self._offset += len(data)
        self.bytes_read += len(data)
        if len(self._fingerprint) < _FINGERPRINT and self._offset > len(self._fingerprint):
            self._fingerprint = os.pread(self._fh.fileno(), _FINGERPRINT, 0)
        if self._skip_to_newline or self._discard_to_newline:
            cut = data.find(b"\n")
            if cut < 0:
                return True
            data = data[cut + 1 :]
            if self._skip_to_newline:
                self._next_line += 1  # the tail of a line whose start we did not see
            self._skip_to_newline = self._discard_to_newline = False
        parts = (self._partial + data).split(b"\n")
        self._partial = parts.pop()
        if len(self._partial) > MAX_LINE_BYTES:
            # Never buffer without bound: the line's first MiB goes out as the line, the rest of
            # it is dropped (not handed out as more "lines", which would read as a traceback).
            parts.append(self._partial[:MAX_LINE_BYTES])
            self._partial = b""
            self._discard_to_newline = True
            self.long_lines += 1
        self._pending.extend(parts)
        return True

    def _open(self, initial: bool) -> bool:
        path = self._resolve()
        if path is None:
            return False
        try:
            fh = open(path, "rb", buffering=0)  # noqa: SIM115 - kept open across calls
        except OSError:  # vanished between listing and opening, or unreadable: retry later
            return False
        st = os.fstat(fh.fileno())
        self._fh, self.path = fh, path
        self._ident = (st.st_dev, st.st_ino)
        self._partial = b""
        self._fingerprint = b""
        self._skip_to_newline = self._discard_to_newline = False
        self._offset = 0
        self._next_line = 1
        self.generation += 1
        if initial and not self.from_start and st.st_size > 0:
            self._start_at_end(st.st_size)
        return True

    def _start_at_end(self, size: int) -> None:
        """Skip what the file already holds, keeping line numbers true where cheap enough."""
        assert self._fh is not None
        fd = self._fh.fileno()
        if self.count_existing_lines:
            newlines, pos = 0, 0
            while pos < size:  # ~2 GB/s; runs in the tailer's worker thread, once
                block = os.pread(fd, min(1 << 20, size - pos), pos)
                if not block:
                    break
                newlines += block.count(b"\n")
                pos += len(block)
            self._next_line = newlines + 1
        self._fingerprint = os.pread(fd, _FINGERPRINT, 0)
        self._skip_to_newline = os.pread(fd, 1, size - 1) != b"\n"
        self._fh.seek(size)
        self._offset = size

    def _restart_at_zero(self) -> None:
        assert self._fh is not None
        self.truncations += 1
        self.generation += 1
        self._fh.seek(0)
        self._offset = 0
        self._fingerprint = b""
        self._skip_to_newline = self._discard_to_newline = False
        self._next_line = 1

    def _rewritten(self) -> bool:
        """Truncated (copytruncate), possibly already grown again past our offset?"""
        assert self._fh is not None
        fd = self._fh.fileno()
        if os.fstat(fd).st_size < self._offset:
            return True
        return (
            bool(self._fingerprint) and os.pread(fd, len(self._fingerprint), 0) != self._fingerprint
        )

    def _resolve(self) -> str | None:
        if not self.is_glob:
            return self.spec if os.path.exists(self.spec) else None
        return newest_match(self.spec)

    def _look_at_path(self) -> str:
        assert self._fh is not None and self.path is not None
        if self.is_glob:
            newest = newest_match(self.spec)
            if newest is not None and newest != self.path:
                return _NEWER
        try:
            st = os.stat(self.path)
        except OSError:
            return _GONE  # renamed away or deleted; keep the handle, a writer may still append
        if (st.st_dev, st.st_ino) != self._ident:
            return _REPLACED
        return _TRUNCATED if self._rewritten() else _SAME


def newest_match(pattern: str) -> str | None:
    """The most recently modified file matching ``pattern`` (ties: the greatest name)."""
    best: tuple[float, str] | None = None
    for name in glob.glob(pattern):
        try:
            st = os.stat(name)
        except OSError:
            continue
        if not os.path.isfile(name):
            continue
        key = (st.st_mtime, name)
        if best is None or key > best:
            best = key
    return best[1] if best else None


# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaggedRecord:
    record: LogRecord
    matches: tuple[CategoryMatch, ...]  # after folding: a repeated incident's tags are left out
    source: str  # the file it was read from
    folded: bool = False  # the record repeated an incident already counted (IncidentFolder)

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(m.tag for m in self.matches)


@dataclass(frozen=True, slots=True)
class TailCounters:
    """Running totals since the tailer started."""

    lines: int
    records: int
    unparsed: int
    bytes: int
    rotations: int
    truncations: int
    files: tuple[str, ...]  # the files currently followed (missing ones are left out)
    long_lines: int = 0  # lines cut at MAX_LINE_BYTES


@dataclass(frozen=True, slots=True)
class LogBatch:
    records: tuple[TaggedRecord, ...]
    lines: int  # physical lines consumed by this batch
    counters: TailCounters
    more: bool  # a read hit its cap: more lines are already waiting


class LogTailer:
    """Follows log files (paths or globs) and turns new lines into categorised records.

    ``poll()`` is synchronous and does one bounded round; ``batches()`` is the async driver.
    """

    def __init__(
        self,
        specs: Sequence[str | os.PathLike[str]],
        *,
        categoriser: Categoriser | None = None,
        from_start: bool = False,
        poll_interval: float = 1.0,
        flush_after: float = 1.0,
        chunk_size: int = CHUNK_SIZE,
        max_lines: int = MAX_LINES,
        watch: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.categoriser = categoriser or Categoriser.load()
        self.followers = [
            FileFollower(s, from_start=from_start, chunk_size=chunk_size, max_lines=max_lines)
            for s in specs
        ]
        self._assemblers = [RecordAssembler() for _ in self.followers]
        # The same incident folding as `botmon logs`, per followed file.
        self._folders = [IncidentFolder() for _ in self.followers]
        self._generations = [0 for _ in self.followers]
        self._sources = ["" for _ in self.followers]
        self._last_line_at = [0.0 for _ in self.followers]
        self.poll_interval = poll_interval
        self.flush_after = flush_after  # a record with nothing after it is finished this late
        self.watch = watch
        self._clock = clock

    def poll(self) -> LogBatch:
        """Read what is available (bounded) and return the records finished by it."""
        now = self._clock()
        out: list[TaggedRecord] = []
        lines = 0
        for i, follower in enumerate(self.followers):
            got = follower.read_available()
            asm = self._assemblers[i]
            if got and follower.generation != self._generations[i]:
                # A new file (or the same one truncated): its lines are numbered from its start.
                self._emit(i, asm.restart(follower.first_line), out)
                self._folders[i] = IncidentFolder()
                self._generations[i] = follower.generation
                self._sources[i] = follower.path or follower.spec
            if got:
                lines += len(got)
                self._last_line_at[i] = now
                for line in got:
                    self._emit(i, asm.feed(line), out)
            elif asm.pending and now - self._last_line_at[i] >= self.flush_after:
                self._emit(i, asm.flush(), out)
        return self._batch(out, lines)

    def flush(self) -> LogBatch:
        """Finish every pending record now (shutdown, or a test)."""
        out: list[TaggedRecord] = []
        for i, asm in enumerate(self._assemblers):
            self._emit(i, asm.flush(), out)
        return self._batch(out, 0)

    def counters(self) -> TailCounters:
        return TailCounters(
            lines=sum(f.lines_read for f in self.followers),
            records=sum(a.records for a in self._assemblers),
            unparsed=sum(a.unparsed for a in self._assemblers),
            bytes=sum(f.bytes_read for f in self.followers),
            rotations=sum(f.rotations for f in self.followers),
            truncations=sum(f.truncations for f in self.followers),
            long_lines=sum(f.long_lines for f in self.followers),
            files=tuple(f.path for f in self.followers if f.path and os.path.exists(f.path)),
        )

    def close(self) -> None:
        for f in self.followers:
            f.close()

    async def batches(self) -> AsyncIterator[LogBatch]:
        """Batches with at least one line or record, as they arrive, until cancelled."""
        wake = asyncio.Event()
        stop = asyncio.Event()
        watcher = asyncio.create_task(self._watch(wake, stop)) if self.watch else None
        try:
            while True:
                batch = await asyncio.to_thread(self.poll)
                if batch.records or batch.lines:
                    yield batch
                if batch.more:
                    await asyncio.sleep(0)  # let the loop breathe between capped rounds
                    continue
                try:
                    await asyncio.wait_for(wake.wait(), timeout=self.poll_interval)
                except asyncio.TimeoutError:
                    pass  # the periodic fallback poll
                wake.clear()
        finally:
            stop.set()
            if watcher is not None:
                watcher.cancel()
                try:
                    await watcher
                except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                    pass
            self.close()

    async def run(self, on_batch: Callable[[LogBatch], Awaitable[None] | None]) -> None:
        """Call ``on_batch`` for every batch until cancelled."""
        async for batch in self.batches():
            result = on_batch(batch)
            if result is not None:
                await result

    # -- internals ----------------------------------------------------------------------------

    def _emit(self, i: int, rec: LogRecord | None, out: list[TaggedRecord]) -> None:
        if rec is not None:
            source = self._sources[i] or self.followers[i].spec
            kept, folded = self._folders[i].apply(rec, self.categoriser.matches(rec))
            out.append(TaggedRecord(rec, kept, source, folded))

    def _batch(self, records: list[TaggedRecord], lines: int) -> LogBatch:
        more = any(f.has_more for f in self.followers)
        return LogBatch(tuple(records), lines, self.counters(), more)

    def _watch_dirs(self) -> list[str]:
        dirs = set()
        for f in self.followers:
            spec = f.spec
            if f.is_glob:  # the directory part before the first wildcard
                parts = Path(spec).parts
                fixed = [
                    p for p in parts[: next(i for i, p in enumerate(parts) if glob.has_magic(p))]
                ]
                base = str(Path(*fixed)) if fixed else "."
            else:
                base = os.path.dirname(spec) or "."
            if os.path.isdir(base):
                dirs.add(base)
        return sorted(dirs)

    async def _watch(self, wake: asyncio.Event, stop: asyncio.Event) -> None:
        """Wake the poll loop on filesystem events; the periodic poll covers anything missed."""
        try:
            from watchfiles import awatch
        except ImportError:  # pragma: no cover - watchfiles is a dependency
            return
        dirs = self._watch_dirs()
        if not dirs:
            return  # nothing to watch yet (directory missing): polling alone will find the file
        try:
            async for _changes in awatch(
                *dirs, debounce=50, step=50, recursive=False, stop_event=stop, watch_filter=None
            ):
                wake.set()
        except Exception:  # noqa: BLE001 - e.g. the directory was removed: fall back to polling
            return
