"""DbPoller: one read-only round trip per poll, each event row and each position change counted
exactly once.

A run starts with one snapshot (a repeatable-read transaction: the history for the minute
windows, the event types the database holds, where the id cursors begin, and on a resume the
exact recount of the run so far); then every poll is one prepared statement with a generic plan
(``sql/poll/poll.sql``) on one dedicated connection. The cursors live outside the connection,
so an outage and a reconnect continue where the last successful poll stopped: rows written
during the outage are read afterwards, once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from tui.config import Config, redact, secrets_of
from tui.errors import SchemaError
from tui.resources import read_sql
from tui.sources.connect import connect, explain_connect_error, render_sql
from tui.sources.cursor import IdCursor
from tui.sources.positions import PositionTracker, closed_time
from tui.sources.samples import DbSample, EventRow, OpenPosition, PositionChange

log = logging.getLogger(__name__)

# The columns the poll reads, per configured table (the config key names the table).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "events_table": ("id", "created_at", "event_type", "exchange", "symbol", "severity",
                     "position_id", "event_data"),
    "positions_table": ("id", "symbol", "exchange", "side", "status", "opened_at", "closed_at",
                        "updated_at", "created_at", "entry_price", "current_price", "quantity",
                        "pnl_percentage", "unrealized_pnl", "realized_pnl", "pnl",
                        "exit_reason", "has_stop_loss", "stop_loss_price", "has_trailing_stop"),
    "trailing_stop_table": ("symbol", "exchange", "position_id", "state", "is_activated",
                            "current_stop_price"),
}
ROW_CAP = 20_000
DAY = timedelta(hours=24)
# What the exact recount reads off the positions table per exchange (the store's metric names
# are positions_opened / positions_closed and the trade counters).
POSITION_TOTALS = ("opened", "closed", "realized_pnl", "trades_won", "trades_lost",
                   "trades_unknown_pnl")
# Ids this far below each maximum that are not visible at the start snapshot are awaited: the
# in-flight inserts of that moment sit at the top of the id range.
IN_FLIGHT_SLACK = 1_000
# Extra time the client waits beyond the server's statement_timeout before it gives up on a
# poll: a frozen server (SIGSTOP, a dead network) cannot enforce its own timeout.
CLIENT_GRACE_S = 0.5

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
class Recounted:
    end: datetime
    rows: list[tuple[str, str | None, str | None, int]]  # (kind, severity, exchange, n)
    price_positions: set[int]
    # exchange -> POSITION_TOTALS (opened, closed, realized PnL, trades won/lost)
    positions: dict[str, dict[str, float]] = field(default_factory=dict)
    trades: tuple[OpenPosition, ...] = ()  # the positions closed in the interval


@dataclass
class Started:
    """The start snapshot: history for the windows, and on a resume the exact recount."""

    sample: DbSample
    recount: Recounted | None
    event_types: dict[str, bool]  # type -> written within events.source_days
    trades: tuple[PositionChange, ...] = ()  # closes of the 24 hours before the history
    bot_started_at: datetime | None = None
    bot_stopped_at: datetime | None = None


class DbPoller:
    def __init__(self, config: Config, row_cap: int = ROW_CAP) -> None:
        self.config = config
        self.row_cap = row_cap
        self.conn: asyncpg.Connection | None = None
        hole_wait = timedelta(seconds=config.poll.lookback_s)
        self.cursor = IdCursor(hole_wait)
        self.positions = PositionTracker(frozenset(config.positions.open_statuses),
                                         frozenset(config.positions.never_opened_statuses),
                                         hole_wait)
        self.bad_rows = 0
        self._poll_sql = self._sql("poll/poll.sql")
        self._secrets = secrets_of(config)
        self._open = list(config.positions.open_statuses)
        self._never = list(config.positions.never_opened_statuses)
        self._orphans_at = 0.0  # monotonic time of the last trailing-stop orphan read

    # -- connecting ------------------------------------------------------------------------------
    async def connect(self) -> datetime:
        """Open the poll connection, verify the schema; return the database clock.
        Raises BotmonError."""
        try:
            conn = await self._connection()
        except PollError:
            raise
        try:
            await self._check_schema(conn)
            return await conn.fetchval("SELECT now()")
        except _CONNECTION_ERRORS as exc:
            await self.close()
            raise explain_connect_error(self.config, exc) from None
        except SchemaError:
            await self.close()
            raise

    async def _connection(self) -> asyncpg.Connection:
        if self.conn is None or self.conn.is_closed():
            # One dedicated connection, not a pool: a pool resets the session after every
            # query, a second round trip per poll. Polls never overlap, so one is enough.
            # The poll's branches are key and status lookups whatever the parameters, so its
            # generic plan is the right one: no re-planning of a large statement every poll.
            self.conn = await connect(self.config, plan_cache_mode="force_generic_plan")
        return self.conn

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

    # -- the start snapshot ------------------------------------------------------------------------
    async def start(self, history_start: datetime, recount_from: datetime | None = None,
                    timeout_ms: int = 120_000) -> Started:
        """Read the start snapshot and set the cursors right after it: every later row is
        counted by a poll, every earlier one by the snapshot (history or recount), never both.
        ``recount_from`` (a resume): also recount the run exactly from then to the snapshot."""
        conn = await connect(self.config, statement_timeout_ms=timeout_ms)
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                db_now = await conn.fetchval("SELECT now()")
                recount = (await self._recount(conn, recount_from, db_now)
                           if recount_from is not None else None)
                history = await conn.fetch(self._sql("start/events.sql"), history_start)
                cursor = await conn.fetchrow(self._sql("start/cursor.sql"), IN_FLIGHT_SLACK)
                known = await conn.fetch(self._sql("start/positions.sql"), history_start,
                                         self._open)
                last_event_at = await conn.fetchval(self._sql("start/last_event.sql"))
                types = await self._event_types(conn, db_now)
                trades = await conn.fetch(self._sql("start/trades.sql"), history_start - DAY,
                                          history_start, self._open, self._never)
                bot = await conn.fetchrow(self._sql("start/bot_state.sql"),
                                          list(self.config.events.bot_started),
                                          list(self.config.events.bot_stopped))
        finally:
            await conn.close()
        self.cursor.seed(db_now, cursor["max_id"], cursor["top_ids"] or (),
                         max(0, cursor["max_id"] - IN_FLIGHT_SLACK))
        self.positions.seed(db_now, cursor["pos_max_id"], cursor["pos_top_ids"] or [],
                            max(0, cursor["pos_max_id"] - IN_FLIGHT_SLACK),
                            {r["id"]: r["is_open"] for r in known})
        events, bad = self._decode_events(history, db_now)
        sample = DbSample(db_now=db_now, latency_ms=0.0, positions=(), events=tuple(events),
                          last_event_at=last_event_at, ts_orphans=None, bad_rows=tuple(bad),
                          event_types=frozenset(t for t, recent in types.items() if recent))
        closes = []
        for record in trades:
            row = _position(record)
            closes.append(PositionChange("closed", row, closed_time(row, db_now),
                                         f"status {row.status}", recounted=True))
        return Started(sample, recount, types, tuple(closes), bot["started_at"],
                       bot["stopped_at"])

    async def _event_types(self, conn: asyncpg.Connection, db_now: datetime) -> dict[str, bool]:
        since = db_now - timedelta(days=self.config.events.source_days)
        probe = self._sql("start/event_type_recent.sql")
        found = {}
        for row in await conn.fetch(self._sql("start/event_types.sql")):
            found[row["event_type"]] = await conn.fetchval(probe, row["event_type"], since)
        return found

    async def event_types(self) -> dict[str, bool]:
        """The event types the database holds -> whether written within events.source_days
        (`botmon check`)."""
        conn = await connect(self.config, statement_timeout_ms=60_000)
        try:
            return await self._event_types(conn, await conn.fetchval("SELECT now()"))
        finally:
            await conn.close()

    # -- the steady-state poll ---------------------------------------------------------------------
    async def poll(self) -> DbSample:
        try:
            conn = await self._connection()
        except Exception as exc:  # noqa: BLE001 - every failure becomes a gap reason
            await self.close()
            raise PollError(self._reason(exc), connection_lost=True) from None
        max_id, holes = self.cursor.params()
        pos_max, pos_holes, known, known_xmin, known_txmin = self.positions.params()
        orphans = time.monotonic() - self._orphans_at >= self.config.poll.orphans_every_s
        timeout = self.config.database.statement_timeout_ms / 1000.0 + CLIENT_GRACE_S
        started = time.perf_counter()
        try:
            row = await conn.fetchrow(self._poll_sql, max_id, holes, self.row_cap, self._open,
                                      pos_max, pos_holes, known, known_xmin, known_txmin,
                                      orphans, timeout=timeout)
        except asyncpg.QueryCanceledError:
            raise PollError(f"poll timed out after {self.config.database.statement_timeout_ms} ms "
                            "(statement_timeout)", connection_lost=False) from None
        except (asyncio.TimeoutError, TimeoutError):
            # The server did not answer within its own timeout: frozen or unreachable. The
            # connection's state is unknown, so it is dropped, not reused.
            await self.close()
            raise PollError(f"database did not answer within {timeout:.1f} s (frozen or "
                            "unreachable)", connection_lost=True) from None
        except _CONNECTION_ERRORS as exc:
            await self.close()
            raise PollError(self._reason(exc), connection_lost=True) from None
        except asyncpg.PostgresError as exc:
            raise PollError(self._reason(exc), connection_lost=False) from None
        latency_ms = (time.perf_counter() - started) * 1000.0
        if orphans:
            self._orphans_at = time.monotonic()
        return self._sample(row, latency_ms, orphans)

    def _sample(self, row: Any, latency_ms: float, orphans: bool) -> DbSample:
        db_now: datetime = row["db_now"]
        rows = _event_rows(row)
        events, bad = self._decode_events(rows, db_now)
        truncated = row["ev_count"] >= self.row_cap
        self.cursor.advance(db_now, (r["id"] for r in rows), row["max_id"], truncated)
        read = _position_rows(row)
        versions = tuple(zip(row["pos_pxmin"] or (), row["pos_txmin"] or ()))
        changes = self.positions.advance(db_now, read, row["pos_max_id"],
                                         tuple(row["pos_gone"] or ()), versions)
        return DbSample(db_now=db_now, latency_ms=latency_ms, positions=self.positions.open_rows,
                        events=tuple(events), last_event_at=row["last_event_at"],
                        truncated=truncated,
                        ts_orphans=tuple(row["ts_orphans"] or ()) if orphans else None,
                        changes=tuple(changes), bad_rows=tuple(bad))

    def _decode_events(self, rows, db_now: datetime) -> tuple[list[EventRow], list[str]]:
        events, bad = [], []
        for r in rows:
            if r["created_at"] is None:
                bad.append(f"event id {r['id']} ({r['event_type']}): created_at missing or "
                           "infinite")
                continue
            events.append(EventRow(r["id"], r["created_at"], r["event_type"], r["exchange"],
                                   r["symbol"], r["severity"], r["position_id"], r["subtype"]))
        self.bad_rows += len(bad)
        return events, bad

    def _reason(self, exc: BaseException) -> str:
        text = str(exc).strip() or type(exc).__name__
        if isinstance(exc, _CONNECTION_ERRORS) or isinstance(exc, ConnectionError):
            text = f"database unreachable: {text}"
        return redact(text.splitlines()[0], self._secrets)

    async def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), timeout=1.0)
            except Exception:  # noqa: BLE001 - a dead connection cannot close cleanly
                conn.terminate()

    async def db_now(self) -> datetime:
        conn = await self._connection()
        timeout = self.config.database.statement_timeout_ms / 1000.0 + CLIENT_GRACE_S
        return await conn.fetchval("SELECT now()", timeout=timeout)

    # -- the report's exact recount --------------------------------------------------------------
    async def recount(self, start: datetime, end: datetime | None,
                      timeout_ms: int = 60_000) -> Recounted:
        """Exact totals for [start, end] by the stream's own definitions; ``end=None`` means the
        database's now(), read on the same connection."""
        conn = await connect(self.config, statement_timeout_ms=timeout_ms)
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                db_now = await conn.fetchval("SELECT now()")
                return await self._recount(conn, start, db_now if end is None
                                           else min(end, db_now))
        finally:
            await conn.close()

    async def _recount(self, conn: asyncpg.Connection, start: datetime,
                       end: datetime) -> Recounted:
        rows = await conn.fetch(self._sql("report/totals.sql"), start, end)
        kinds = [(f"{r['event_type']}:{r['subtype']}" if r["subtype"] else r["event_type"],
                  r["severity"], r["exchange"], r["n"]) for r in rows]
        types = sorted({r["event_type"] for r in rows})
        price_types = [t for t in types if _matches_any(t, self.config.events.price_updates)]
        ids = await conn.fetch(self._sql("report/price_positions.sql"), start, end, price_types)
        positions = await conn.fetch(self._sql("report/positions_totals.sql"), start, end,
                                     self._open, self._never)
        # The run's trades (a few hundred rows): the report lists every one.
        trades = await conn.fetch(self._sql("start/trades.sql"), start,
                                  end + timedelta(microseconds=1), self._open, self._never)
        return Recounted(end, kinds, {r["position_id"] for r in ids},
                         {r["exchange"] or "?": {name: r[name] for name in POSITION_TOTALS}
                          for r in positions},
                         tuple(_position(r) for r in trades))

    def _sql(self, name: str) -> str:
        return render_sql(self.config, read_sql(name, self.config.sql_dir))


def _matches_any(name: str, patterns: tuple[str, ...]) -> bool:
    from fnmatch import fnmatchcase

    return any(fnmatchcase(name, p) for p in patterns)


_EVENT_COLUMNS = ("id", "created_at", "event_type", "exchange", "symbol", "severity",
                  "position_id", "subtype")


def _event_rows(row: Any) -> list[dict]:
    if not row["ev_count"]:
        return []
    return [dict(zip(_EVENT_COLUMNS, values))
            for values in zip(*(row[f"ev_{name if name != 'event_type' else 'type'}"]
                                for name in _EVENT_COLUMNS))]


_POSITION_COLUMNS = ("id", "symbol", "exchange", "side", "status", "opened_at", "entry_price",
                     "current_price", "pnl_percent", "unrealized_pnl", "has_stop_loss",
                     "stop_loss_price", "has_trailing_stop", "ts_state", "ts_activated",
                     "ts_stop_price", "closed_at", "updated_at", "created_at", "quantity",
                     "realized_pnl", "exit_reason")


def _position(record: Any) -> OpenPosition:
    return OpenPosition(**{name: record[name] for name in _POSITION_COLUMNS})


def _position_rows(row: Any) -> tuple[OpenPosition, ...]:
    if not row["pos_id"]:
        return ()
    return tuple(OpenPosition(*values)
                 for values in zip(*(row[f"pos_{name}"] for name in _POSITION_COLUMNS)))
