"""Shared helpers for the UI tests (no tests here): seeding, monitors, reading widgets."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

import asyncpg

from tui.config import load_config
from tui.monitor import Monitor
from tui.outputs.rundir import RunDir
from tui.sources.samples import DbSample, EventRow, OpenPosition, PositionChange
from tui.store.store import MetricStore

UTC = timezone.utc


class FakeClock:
    """A wall clock that only moves when told (the monitor re-reads the DB clock each poll)."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def make_monitor(dsn: str, tmp_path: Path, *, duration_s: float | None = 3600.0,
                 wall=None, **overrides: Any) -> Monitor:
    config = load_config(environ={}, overrides={"database.dsn": dsn, **overrides})
    run_dir = RunDir.create(config, out=str(tmp_path / "runs"))
    return Monitor(config, run_dir, duration_s=duration_s, wall=wall or FakeClock())


# -- seeding -------------------------------------------------------------------------------------
POSITIONS = (
    # symbol, exchange, side, age, has_stop_loss, stop_loss_price, pnl %, status
    ("BTCUSDT", "binance", "long", timedelta(minutes=30), True, 95.0, 1.5, "active"),
    ("ETHUSDT", "binance", "SHORT", timedelta(minutes=20), False, None, -0.8, "active"),
    ("SOLUSDT", "bybit", "long", timedelta(hours=4), True, 140.0, 2.1, "active"),
    ("XRPUSDT", "bybit", "long", timedelta(hours=1), True, 0.5, 0.0, "closed"),
)


async def db_now(dsn: str) -> datetime:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval("SELECT now()")
    finally:
        await conn.close()


async def seed_positions(dsn: str) -> dict[str, int]:
    """Three open positions (one without SL, one aged with an active trailing stop), one closed."""
    conn = await asyncpg.connect(dsn)
    ids: dict[str, int] = {}
    try:
        now = await conn.fetchval("SELECT now()")
        for symbol, exchange, side, age, has_sl, sl_price, pnl, status in POSITIONS:
            ids[symbol] = await conn.fetchval(
                """INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price,
                       current_price, stop_loss_price, status, opened_at, pnl_percentage,
                       has_stop_loss)
                   VALUES ($1, $2, $3, 1, 100, 101, $4, $5, $6, $7, $8) RETURNING id""",
                symbol, exchange, side, sl_price, status, now - age, pnl, has_sl)
        await conn.execute(
            """INSERT INTO monitoring.trailing_stop_state (symbol, exchange, position_id, state,
                   is_activated, current_stop_price, entry_price, side, quantity)
               VALUES ('SOLUSDT', 'bybit', $1, 'active', true, 141, 100, 'long', 1)""",
            ids["SOLUSDT"])
    finally:
        await conn.close()
    return ids


async def insert_events(dsn: str, rows: Iterable[tuple]) -> None:
    """rows: (event_type, exchange, symbol, severity, position_id, created_at or None=now())."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            """INSERT INTO monitoring.events (event_type, exchange, symbol, severity, position_id,
                   created_at) VALUES ($1, $2, $3, $4, $5, coalesce($6, now()))""", list(rows))
    finally:
        await conn.close()


def run_events(ids: dict[str, int]) -> list[tuple]:
    """The events written during the run (created now), with known all-time totals below."""
    btc, eth, sol = ids["BTCUSDT"], ids["ETHUSDT"], ids["SOLUSDT"]
    return [
        ("position_created", "binance", "BTCUSDT", "INFO", btc, None),
        ("position_created", "binance", "ETHUSDT", "INFO", eth, None),
        ("position_created", "bybit", "SOLUSDT", "INFO", sol, None),
        ("position_closed", "bybit", "XRPUSDT", "INFO", ids["XRPUSDT"], None),
        ("position_updated", "binance", "BTCUSDT", "INFO", btc, None),
        ("position_updated", "binance", "BTCUSDT", "INFO", btc, None),
        ("position_updated", "binance", "ETHUSDT", "INFO", eth, None),
        ("position_updated", "bybit", "SOLUSDT", "INFO", sol, None),
        ("health_check_failed", None, None, "INFO", None, None),
        ("websocket_disconnected", "bybit", None, "WARNING", None, None),
        ("trailing_stop_activated", "bybit", "SOLUSDT", "INFO", sol, None),
        ("zombie_order_cancelled", "binance", "BTCUSDT", "INFO", None, None),
    ]


async def open_in_run(dsn: str) -> None:
    """The current bot's atomic opens during the run: rows, no position_created event. DOTUSDT
    opens and closes between two polls."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price,
                   current_price, stop_loss_price, status, opened_at, closed_at, has_stop_loss)
               VALUES ('ADAUSDT', 'binance', 'long', 1, 100, 101, 95, 'active', now(), NULL,
                       false),
                      ('DOTUSDT', 'bybit', 'long', 1, 100, 99, 95, 'closed', now(), now(),
                       true)""")
    finally:
        await conn.close()


ALL_TIME = {  # what the All time pane must show for open_in_run() and run_events()
    "positions_opened": "2", "positions_opened.binance": "1", "positions_opened.bybit": "1",
    # The table has 2 opens, the events say 3: both are shown.
    "positions_opened_events": "3",
    "positions_closed": "1", "price_updates": "4", "positions_price_updated": "3",
    "ts_activations": "1", "zombies": "1", "errors": "1", "ws_reconnects": "1",
    # This database holds none of these types: no source, never a confident 0.
    "sl_updates": "—", "emergency_closes": "—",
}
CURRENT = {"open": "4", "open.binance": "3", "open.bybit": "1", "unprotected": "1", "aged": "1"}
NOTABLE_RUN_EVENTS = 8  # run_events() without the 4 position_updated ticks


def history_events(now: datetime) -> list[tuple]:
    """Events from before the run: in the windows (history), never in all-time."""
    return [
        ("position_created", "binance", "ADAUSDT", "INFO", None, now - timedelta(seconds=45)),
        ("stop_loss_error", "binance", "ADAUSDT", "ERROR", None, now - timedelta(seconds=45)),
        ("position_created", "bybit", "DOTUSDT", "INFO", None, now - timedelta(minutes=5)),
    ]


# -- reading widgets ---------------------------------------------------------------------------
def static_text(widget) -> str:
    """The plain text a Static shows."""
    visual = widget.render()
    plain = getattr(visual, "plain", None)
    return plain if plain is not None else str(visual)


# -- a hand-built view (snapshots: pinned clock, no database) -----------------------------------
T0 = datetime(2025, 10, 15, 11, 0, 0, tzinfo=UTC)


def synthetic_store(*, minutes: int = 14, unprotected: bool = True, seed: int = 7) -> MetricStore:
    """A store fed by hand: 14 minutes of a bot with waves, 6 open positions."""
    import random

    config = load_config(environ={}, overrides={"database.dsn": "postgresql://x@127.0.0.1/x"})
    store = MetricStore(config, run_start=T0, run_end=T0 + timedelta(hours=8))
    rng = random.Random(seed)
    symbols = [("BTCUSDT", "binance"), ("ETHUSDT", "bybit"), ("SOLUSDT", "binance"),
               ("PUNDIXUSDT", "bybit"), ("NEIROCTOUSDT", "bybit"), ("CLOUDUSDT", "binance")]
    positions = []
    for index, (symbol, exchange) in enumerate(symbols):
        protected = not (unprotected and index == 1)
        positions.append(OpenPosition(
            id=index + 1, symbol=symbol, exchange=exchange,
            side="long" if index % 2 else "short", status="active",
            opened_at=T0 - timedelta(minutes=25 * index + 7), entry_price=100.0,
            current_price=101.0, pnl_percent=round(rng.uniform(-3, 3), 2), unrealized_pnl=1.0,
            has_stop_loss=protected, stop_loss_price=97.0 if protected else None,
            has_trailing_stop=True, ts_state="active" if index == 2 else None,
            ts_activated=index == 2, ts_stop_price=99.0 if index == 2 else None))
    event_id = 0
    kinds = ["position_created", "position_closed", "trailing_stop_activated",
             "stop_loss_updated", "health_check_failed", "websocket_disconnected"]
    for minute in range(minutes):
        at = T0 + timedelta(minutes=minute, seconds=30)
        events = []
        for _ in range(20 + (60 if minute % 15 == 5 else 0)):
            event_id += 1
            pos = rng.choice(positions)
            events.append(EventRow(event_id, at - timedelta(seconds=rng.randint(0, 25)),
                                   "position_updated", pos.exchange, pos.symbol, "INFO", pos.id))
        changes = []
        for _ in range(rng.randint(0, 3)):
            event_id += 1
            kind = rng.choice(kinds)
            severity = "WARNING" if kind.startswith("websocket") else "INFO"
            pos = rng.choice(positions)
            stamp = at - timedelta(seconds=rng.randint(0, 25))
            events.append(EventRow(event_id, stamp, kind, pos.exchange, pos.symbol, severity,
                                   pos.id))
            # Opens and closes as the positions table shows them (the events cross-check).
            if kind in ("position_created", "position_closed"):
                changes.append(PositionChange(
                    "opened" if kind == "position_created" else "closed",
                    dataclasses.replace(pos, id=10_000 + event_id), stamp))
        store.ingest(DbSample(db_now=at, latency_ms=2.5 + minute % 3, positions=tuple(positions),
                              events=tuple(events), last_event_at=at, changes=tuple(changes)))
        for due in store.due_minutes(at, 10.0):
            store.seal(due)
    return store
