"""The bot's log as a source of the monitor: tailer batches -> LogEntry records for the store.

The tailer reads and parses in a worker thread in bounded rounds; only the conversion to plain
entries and the store update run on the event loop.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Callable

from tui.config import Config
from tui.sources.logparse import Categoriser
from tui.sources.logtail import LogBatch, LogTailer, TaggedRecord
from tui.sources.samples import LogEntry


def to_entry(tagged: TaggedRecord, fallback: datetime) -> LogEntry:
    record = tagged.record
    # The bot writes naive local time; the monitor runs beside it, so its zone is the bot's.
    at = record.time.astimezone(timezone.utc) if record.time is not None else fallback
    return LogEntry(at=at, level=record.level, logger=record.logger, message=record.message,
                    tags=tagged.tags, traceback=record.continuation, parsed=record.parsed,
                    source=tagged.source, line=record.line)


class LogFeed:
    def __init__(self, config: Config, tailer: LogTailer | None = None) -> None:
        self.tailer = tailer or LogTailer(
            [str(config.resolve(spec)) for spec in config.logs.paths],
            categoriser=Categoriser.load(config.logs.patterns or None),
            from_start=config.logs.from_start)

    def entries(self, batch: LogBatch, now: datetime) -> list[LogEntry]:
        return [to_entry(tagged, now) for tagged in batch.records]

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
