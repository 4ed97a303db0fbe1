"""DbPoller: one read-only round trip per poll, each event row counted exactly once.

The cursor (:class:`EventCursor`) lives outside the connection pool, so an outage and a
reconnect continue where the last successful poll stopped: rows written during the outage are
read afterwards, once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from tui.config import Config, redact, secrets_of
from tui.errors import SchemaError
from tui.resources import read_sql
from tui.sources.connect import connect, create_pool, explain_connect_error, render_sql
from tui.sources.samples import DbSample, EventRow, OpenPosition

log = logging.getLogger(__name__)

# The columns the poll reads, per configured table (the config key names the table).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "events_table": ("id", "created_at", "event_type", "exchange", "symbol", "severity",
                     "position_id"),
    "positions_table": ("id", "symbol", "exchange", "side", "status", "opened_at", "entry_price",
                        "current_price", "pnl_percentage", "unrealized_pnl", "has_stop_loss",
                        "stop_loss_price", "has_trailing_stop"),
    "trailing_stop_table": ("symbol", "exchange", "position_id", "state", "is_activated",
                            "current_stop_price"),
}
NO_ID_ABOVE = 2**62  # first poll: nothing is "above the last id" yet; the history read has it all
ROW_CAP = 20_000
# The first poll's history read is one-off and must not be split: a later poll could not tell
# which history rows it already counted. Ten minutes of events stay far below this.
HISTORY_CAP = 2_000_000
MAX_HOLES = 50_000  # ids awaited at once; beyond this the oldest are given up
MAX_HOLE_SPAN = 200_000
# First poll: the ids this far below the highest one that were not visible are awaited (the
# in-flight inserts of the moment botmon started sit at the top of the id range). Old rows
# among them that merely lie outside the history window are read once, into their own minutes.
FIRST_POLL_SLACK = 1_000  # a jump of the sequence this large is not a list of in-flight ids

_CONNECTION_ERRORS = (OSError, TimeoutError, asyncpg.InterfaceError,
                      asyncpg.ConnectionDoesNotExistError, asyncpg.CannotConnectNowError,
                      asyncpg.PostgresConnectionError)


class PollError(Exception):
    """A poll that failed; ``reason`` is one redacted line for the gap record."""

    def __init__(self, reason: str, connection_lost: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.connection_lost = connection_lost


@dataclass
class EventCursor:
    """What the next poll must read: ids above ``max_id``, and the holes below it.

    A hole is an id at or below the highest visible id that was not visible itself: an insert
    not yet committed (it commits later: count it then) or rolled back (it never appears).
    Holes are awaited for ``hole_wait``; an insert that stays uncommitted longer is given up.
    """

    history_start: datetime | None
    hole_wait: timedelta
    max_id: int = NO_ID_ABOVE
    holes: dict[int, datetime] = field(default_factory=dict)  # id -> when first noticed
    given_up: int = 0  # holes that expired: rolled back, or committed too late to be seen

    def params(self) -> tuple[datetime | None, int, list[int]]:
        return self.history_start, self.max_id, list(self.holes)

    def advance(self, db_now: datetime, rows: list[EventRow], table_max_id: int | None,
                truncated: bool) -> None:
        returned = {row.id for row in rows}
        for row_id in returned:
            self.holes.pop(row_id, None)
        first = self.history_start is not None
        if truncated:
            new_max = max(returned)  # everything not returned lies above it
        elif table_max_id is not None:
            new_max = table_max_id
        else:
            new_max = 0 if first else self.max_id  # an empty table
        if first:
            low = max(0, new_max - FIRST_POLL_SLACK)
        else:
            low = self.max_id
        if new_max - low <= MAX_HOLE_SPAN:
            for row_id in range(low + 1, new_max + 1):
                if row_id not in returned:
                    self.holes.setdefault(row_id, db_now)
        else:
            log.warning("event ids jumped by %d; not awaiting the ids in between",
                        new_max - low)
        self.max_id = max(new_max, self.max_id) if not first else new_max
        # Never read by time twice: whatever the first poll missed lies above max_id.
        self.history_start = None
        expired = [i for i, seen in self.holes.items() if db_now - seen > self.hole_wait]
        if len(self.holes) - len(expired) > MAX_HOLES:
            expired = sorted(self.holes, key=self.holes.get)[:len(self.holes) - MAX_HOLES]
        for row_id in expired:
            del self.holes[row_id]
        self.given_up += len(expired)


class DbPoller:
    def __init__(self, config: Config, row_cap: int = ROW_CAP) -> None:
        self.config = config
        self.row_cap = row_cap
        self.pool: asyncpg.Pool | None = None
        self.cursor: EventCursor | None = None
        self.hole_wait = timedelta(seconds=config.poll.lookback_s)
        self._poll_sql = render_sql(config, read_sql("poll/poll.sql", config.sql_dir))
        self._secrets = secrets_of(config)

    async def connect(self) -> datetime:
        """Open the pool, verify the schema; return the database clock. Raises BotmonError."""
        self.pool = await create_pool(self.config, max_size=2)
        try:
            async with self.pool.acquire() as conn:
                await self._check_schema(conn)
                return await conn.fetchval("SELECT now()")
        except _CONNECTION_ERRORS as exc:
            await self.close()
            raise explain_connect_error(self.config, exc) from None
        except SchemaError:
            await self.close()
            raise

    async def _check_schema(self, conn: asyncpg.Connection) -> None:
        db = self.config.database
        tables = {key: getattr(db, key) for key in REQUIRED_COLUMNS}
        rows = await conn.fetch(read_sql("check/columns.sql", self.config.sql_dir), db.schema,
                                list(tables.values()))
        present: dict[str, set[str]] = {}
        for row in rows:
            present.setdefault(row["table_name"], set()).add(row["column_name"])
        missing = []
        for key, table in tables.items():
            if table not in present:
                missing.append(f"table {db.schema}.{table} (database.{key})")
                continue
            lost = [c for c in REQUIRED_COLUMNS[key] if c not in present[table]]
            if lost:
                missing.append(f"columns {', '.join(lost)} of {db.schema}.{table} "
                               f"(database.{key})")
        if missing:
            raise SchemaError(f"schema {db.schema}", "missing " + "; ".join(missing),
                              "point database.schema / database.*_table at the bot's tables "
                              "(see config.example.toml)")

    def start_cursor(self, since: datetime) -> None:
        """Count events created from ``since`` on (history for the windows, or a resume)."""
        self.cursor = EventCursor(history_start=since, hole_wait=self.hole_wait)

    async def poll(self) -> DbSample:
        if self.cursor is None:
            raise RuntimeError("start_cursor() first")
        if self.pool is None:
            try:
                self.pool = await create_pool(self.config, max_size=2)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a gap reason
                raise PollError(self._reason(exc), connection_lost=True) from None
        history_start, max_id, holes = self.cursor.params()
        cap = HISTORY_CAP if history_start is not None else self.row_cap
        started = time.perf_counter()
        try:
            row = await self.pool.fetchrow(
                self._poll_sql, history_start, max_id, holes,
                list(self.config.positions.open_statuses), cap)
        except _CONNECTION_ERRORS as exc:
            await self.close()
            raise PollError(self._reason(exc), connection_lost=True) from None
        except asyncpg.QueryCanceledError:
            raise PollError(f"poll timed out after {self.config.database.statement_timeout_ms} ms "
                            "(statement_timeout)", connection_lost=False) from None
        except asyncpg.PostgresError as exc:
            raise PollError(self._reason(exc), connection_lost=False) from None
        latency_ms = (time.perf_counter() - started) * 1000.0
        return self._sample(row, latency_ms)

    def _sample(self, row: Any, latency_ms: float) -> DbSample:
        assert self.cursor is not None
        db_now: datetime = row["db_now"]
        events = _events(row, db_now)
        cap = HISTORY_CAP if self.cursor.history_start is not None else self.row_cap
        truncated = row["ev_count"] >= cap
        self.cursor.advance(db_now, events, row["max_id"], truncated)
        return DbSample(db_now=db_now, latency_ms=latency_ms, positions=_positions(row),
                        events=tuple(events), last_event_at=row["last_event_at"],
                        truncated=truncated, ts_orphans=tuple(row["ts_orphans"] or ()))

    def _reason(self, exc: BaseException) -> str:
        text = str(exc).strip() or type(exc).__name__
        if isinstance(exc, _CONNECTION_ERRORS) or isinstance(exc, ConnectionError):
            text = f"database unreachable: {text}"
        return redact(text.splitlines()[0], self._secrets)

    async def close(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            try:
                await pool.close()
            except Exception:  # noqa: BLE001 - a dead pool cannot close cleanly
                pool.terminate()

    # -- the report's exact recount --------------------------------------------------------------
    async def recount(self, start: datetime, end: datetime | None,
                      timeout_ms: int = 60_000) -> Recounted:
        """Exact (type, severity, exchange, n) rows and the price-updated positions for
        [start, end]; ``end=None`` means the database's now(), read on the same connection."""
        conn = await connect(self.config, statement_timeout_ms=timeout_ms)
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                return await self._recount(conn, start, end)
        finally:
            await conn.close()

    async def _recount(self, conn: asyncpg.Connection, start: datetime,
                       end: datetime | None) -> Recounted:
        db_now = await conn.fetchval("SELECT now()")
        end = db_now if end is None else min(end, db_now)
        rows = await conn.fetch(self._sql("report/totals.sql"), start, end)
        types = sorted({r["event_type"] for r in rows})
        price_types = [t for t in types if _matches_any(t, self.config.events.price_updates)]
        ids = await conn.fetch(self._sql("report/price_positions.sql"), start, end, price_types)
        return Recounted(end, [(r["event_type"], r["severity"], r["exchange"], r["n"])
                               for r in rows], {r["position_id"] for r in ids})

    async def resume(self, run_start: datetime, history: timedelta,
                     timeout_ms: int = 120_000) -> Resumed:
        """Continue a run: the exact all-time totals since ``run_start``, the recent events for
        the minute windows, and a cursor that starts right after them -- all read in one
        snapshot, so every row is counted by the recount or by a later poll, never both."""
        conn = await connect(self.config, statement_timeout_ms=timeout_ms)
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                counted = await self._recount(conn, run_start, None)
                recent = await conn.fetch(self._sql("report/history.sql"),
                                          counted.end - history)
                max_id = await conn.fetchval(self._sql("report/max_id.sql"))
                low = max(0, max_id - FIRST_POLL_SLACK)
                visible = {r["id"] for r in await conn.fetch(self._sql("report/top_ids.sql"),
                                                             low)}
        finally:
            await conn.close()
        self.cursor = EventCursor(history_start=None, hole_wait=self.hole_wait, max_id=max_id,
                                  holes={i: counted.end for i in range(low + 1, max_id + 1)
                                         if i not in visible})
        events = tuple(EventRow(r["id"], r["created_at"] or counted.end, r["event_type"],
                                r["exchange"], r["symbol"], r["severity"], r["position_id"])
                       for r in recent)
        return Resumed(counted, events)

    def _sql(self, name: str) -> str:
        return render_sql(self.config, read_sql(name, self.config.sql_dir))


@dataclass
class Recounted:
    end: datetime
    rows: list[tuple[str, str | None, str | None, int]]
    price_positions: set[int]


@dataclass
class Resumed:
    recount: Recounted
    recent: tuple[EventRow, ...]


def _matches_any(name: str, patterns: tuple[str, ...]) -> bool:
    from fnmatch import fnmatchcase

    return any(fnmatchcase(name, p) for p in patterns)


def _events(row: Any, db_now: datetime) -> list[EventRow]:
    if not row["ev_count"]:
        return []
    return [EventRow(id=i, created_at=at or db_now, event_type=t, exchange=x, symbol=s,
                     severity=v, position_id=p)
            for i, at, t, x, s, v, p in zip(row["ev_id"], row["ev_created_at"], row["ev_type"],
                                            row["ev_exchange"], row["ev_symbol"],
                                            row["ev_severity"], row["ev_position_id"])]


def _positions(row: Any) -> tuple[OpenPosition, ...]:
    if not row["pos_id"]:
        return ()
    columns = ("id", "symbol", "exchange", "side", "status", "opened_at", "entry_price",
               "current_price", "pnl_percent", "unrealized_pnl", "has_stop_loss",
               "stop_loss_price", "has_trailing_stop", "ts_state", "ts_activated",
               "ts_stop_price")
    return tuple(OpenPosition(*values)
                 for values in zip(*(row[f"pos_{name}"] for name in columns)))
