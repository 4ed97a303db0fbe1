"""The bot's log as a source of the monitor: tailer batches -> LogEntry records for the store.

The tailer reads and parses in a worker thread in bounded rounds; only the conversion to plain
entries and the store update run on the event loop.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Callable

from tui.config import Config
from tui.sources.logparse import Categoriser, is_detail_line
from tui.sources.logtail import LogBatch, LogTailer, TaggedRecord, TailCounters
from tui.sources.samples import LogEntry
from tui.store.metrics import LOG_DETAIL_MARK, LOG_FOLDED_MARK


def to_entry(tagged: TaggedRecord, fallback: datetime) -> LogEntry:
    record = tagged.record
    # The bot writes naive local time; the monitor runs beside it, so its zone is the bot's.
    at = record.time.astimezone(timezone.utc) if record.time is not None else fallback
    tags = tagged.tags
    if tagged.folded:
        tags += (LOG_FOLDED_MARK,)
    if record.parsed and is_detail_line(record.message):
        tags += (LOG_DETAIL_MARK,)
    return LogEntry(at=at, level=record.level, logger=record.logger, message=record.message,
                    tags=tags, traceback=record.continuation, parsed=record.parsed,
                    source=tagged.source, line=record.line)


class LogEntries(list):  # list[LogEntry]
    """The entries of one round, with what the tailer itself counted in that round (physical
    lines, rotations, truncations, cut lines): ``MetricStore.ingest_log`` counts both."""

    def __init__(self, entries: list[LogEntry], source_counts: dict[str, int]) -> None:
        super().__init__(entries)
        self.source_counts = source_counts


class LogFeed:
    def __init__(self, config: Config, tailer: LogTailer | None = None) -> None:
        self.tailer = tailer or LogTailer(
            [str(config.resolve(spec)) for spec in config.logs.paths],
            categoriser=Categoriser.load(config.logs.patterns or None),
            from_start=config.logs.from_start)
        self._seen: dict[str, int] = {}

    def entries(self, batch: LogBatch, now: datetime) -> LogEntries:
        return LogEntries([to_entry(tagged, now) for tagged in batch.records],
                          self._source_counts(batch.counters))

    def _source_counts(self, counters: TailCounters) -> dict[str, int]:
        """What the tailer counted since the last round (its counters are running totals)."""
        now = {"log_lines": counters.lines, "log_rotations": counters.rotations,
               "log_truncations": counters.truncations, "log_long_lines": counters.long_lines}
        seen = self._seen
        self._seen = now
        return {k: v - seen.get(k, 0) for k, v in now.items() if v - seen.get(k, 0) > 0}

    def poll(self, now: datetime) -> tuple[list[LogEntry], bool]:
        """One bounded round, synchronously (tests drive it): entries, and whether it grew."""
        batch = self.tailer.poll()
        return self.entries(batch, now), batch.lines > 0

    async def run(self, deliver: Callable[[list[LogEntry], bool], None],
                  now: Callable[[], datetime]) -> None:
        """Deliver every batch until cancelled."""
        try:
            async for batch in self.tailer.batches():
                deliver(self.entries(batch, now()), batch.lines > 0)
        except asyncio.CancelledError:
            raise
        finally:
            self.tailer.close()
