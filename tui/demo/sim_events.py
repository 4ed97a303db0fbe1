"""The simulated bot's event logger: stamp, queue, insert in batches over two connections.

Like the bot's ``core.event_logger``: an event's ``created_at`` is stamped (UTC, Python side) when
it happens, the event is queued, and the queue is written in batches of up to ``batch_size`` rows or
every ``flush_interval`` seconds, whichever comes first. Rows therefore become visible 0-5 s after
their ``created_at``.

Two connections write. With probability ``reorder_probability`` a batch is split in two and written
as overlapping transactions: connection A inserts the older half (taking the *smaller* ids), then
connection B inserts the newer half and commits, and only then does A commit (after an optional
``hold``, a slow commit). For a moment rows with larger ids are visible while smaller ids are not:
a reader that trusts ``id > last_seen_id`` loses the older half. This is the case the monitor has
to count exactly once.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg

SCHEMA = "monitoring"
TABLE = "events"
COLUMNS = ("event_type", "event_data", "correlation_id", "position_id", "order_id", "symbol",
           "exchange", "severity", "error_message", "stack_trace", "created_at")
Record = tuple[Any, ...]  # in COLUMNS order
ConnectionErrors = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError,
                    asyncio.TimeoutError)


class EventWriter:
    def __init__(self, dsn: str, *, batch_size: int = 100, flush_interval: float = 5.0,
                 reorder_probability: float = 0.3, max_queue: int = 100_000,
                 rng: random.Random | None = None) -> None:
        self.dsn = dsn
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.reorder_probability = reorder_probability
        self.max_queue = max_queue
        self.rng = rng or random.Random()
        self._queue: deque[Record] = deque()
        self._conns: list[asyncpg.Connection | None] = [None, None]
        self._next_conn = 0
        self._lock = asyncio.Lock()
        self._last_flush: datetime | None = None
        self.ready = asyncio.Event()  # set when a full batch is waiting
        # Test hook: awaited while the older half of a reordered batch is still uncommitted.
        self.on_hold: Callable[[], Awaitable[None]] | None = None
        self.written = 0
        self.dropped = 0
        self.batches = 0
        self.reordered_batches = 0

    # -- queue ------------------------------------------------------------------------------------
    def add(self, record: Record) -> None:
        if len(self._queue) >= self.max_queue:  # database gone for long: keep memory bounded
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(record)
        if len(self._queue) >= self.batch_size:
            self.ready.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def due(self, now: datetime) -> bool:
        if not self._queue:
            return False
        if len(self._queue) >= self.batch_size:
            return True
        if self._last_flush is None:
            self._last_flush = now
        return (now - self._last_flush).total_seconds() >= self.flush_interval

    def seconds_until_due(self, now: datetime) -> float:
        if len(self._queue) >= self.batch_size:
            return 0.0
        if self._last_flush is None:
            self._last_flush = now
        return max(0.0, self.flush_interval - (now - self._last_flush).total_seconds())

    # -- connections ------------------------------------------------------------------------------
    async def open(self) -> None:
        for i, conn in enumerate(self._conns):
            if conn is None or conn.is_closed():
                self._conns[i] = await asyncpg.connect(
                    self.dsn, server_settings={"application_name": f"botsim-events-{i}"})

    async def close(self) -> None:
        conns, self._conns = self._conns, [None, None]
        for conn in conns:
            if conn is not None and not conn.is_closed():
                try:
                    await asyncio.wait_for(conn.close(), 5)
                except (*ConnectionErrors, asyncio.CancelledError):
                    conn.terminate()

    def _invalidate(self) -> None:
        for i, conn in enumerate(self._conns):
            if conn is not None:
                conn.terminate()
            self._conns[i] = None

    # -- writing ----------------------------------------------------------------------------------
    async def flush(self, now: datetime, *, hold: tuple[float, float] | None = None,
                    only_full: bool = False) -> int:
        """Write the queue (all of it, or only full batches); return the number of rows written.

        ``hold`` is a (min, max) delay in seconds for the older half of a reordered batch: the
        background flusher uses it to imitate slow commits; direct calls never sleep.
        On a database error the unwritten rows go back to the front of the queue and it raises.
        """
        async with self._lock:
            written = 0
            self._last_flush = now
            self.ready.clear()
            while self._queue and (not only_full or len(self._queue) >= self.batch_size):
                n = min(self.batch_size, len(self._queue))
                batch = [self._queue.popleft() for _ in range(n)]
                try:
                    await self.open()
                    if n >= 2 and self.rng.random() < self.reorder_probability:
                        await self._write_reordered(batch, hold)
                    else:
                        conn = self._conns[self._next_conn]
                        self._next_conn ^= 1
                        assert conn is not None
                        await conn.copy_records_to_table(TABLE, schema_name=SCHEMA,
                                                         columns=COLUMNS, records=batch)
                        self.written += n
                except BaseException:
                    # Back to the front of the queue; a fresh pair of connections next time
                    # (after a cancellation mid-COPY a connection's state is not worth trusting).
                    self._queue.extendleft(reversed(batch))
                    self._invalidate()
                    raise
                written += n
                self.batches += 1
            return written

    async def _write_reordered(self, batch: list[Record],
                               hold: tuple[float, float] | None) -> None:
        cut = max(1, len(batch) // 2)
        older, newer = batch[:cut], batch[cut:]
        first, second = self._conns
        assert first is not None and second is not None
        tx = first.transaction()
        await tx.start()
        committed = 0
        finished = False
        try:
            # older rows take the smaller ids ...
            await first.copy_records_to_table(TABLE, schema_name=SCHEMA, columns=COLUMNS,
                                              records=older)
            # ... newer rows take larger ids and are committed (visible) first.
            await second.copy_records_to_table(TABLE, schema_name=SCHEMA, columns=COLUMNS,
                                               records=newer)
            committed = len(newer)
            self.written += committed
            if self.on_hold is not None:
                await self.on_hold()
            if hold is not None and hold[1] > 0:
                await asyncio.sleep(self.rng.uniform(*hold))
            finished = True
            await tx.commit()
            self.written += len(older)
            self.reordered_batches += 1
        except BaseException:
            if not finished:
                try:
                    await asyncio.shield(tx.rollback())
                except (*ConnectionErrors, asyncio.CancelledError):
                    pass
            if committed:  # the newer half is in: only the older half must be retried
                del batch[cut:]
            raise
