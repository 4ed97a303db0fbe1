"""A simulated trading bot for ``botmon demo`` and the tests.

:class:`BotSimulator` writes to a real PostgreSQL database (schema ``monitoring``) what the bot
writes -- positions through ``pending_entry`` / ``entry_placed`` / ``pending_sl`` to ``active`` and
out again, their trailing-stop rows and orders, and the event stream through an event logger that
batches (``sim_events.EventWriter``) -- and appends the bot's log file (``sim_log.BotLog``), with
the event logger's echo line for every event, as the bot logs them.

It behaves like a given version of the bot (``bot_version``, see ``sim_versions``), by default the
current one (2026-03):

* the atomic open writes no ``position_created`` (2025-10: its wrapper does) and no
  ``stop_loss_placed``; the stop is on the exchange and ``stop_loss_price`` in the row at once, but
  ``has_stop_loss`` is set only by the protection sync, every ``sync_interval`` (120 s) of bot time;
* a stop-loss or trailing-stop hit happens on the exchange: the position stays ``active`` in the
  table until the next periodic sync finds it gone and closes it (``closed_by_sync``,
  ``sync_cleanup``, no ``position_closed``); some hits log ``stop_loss_triggered`` first;
* positions that vanish otherwise are phantom-closed (``phantom_position_detected/closed``); an
  instant cross of a trailing stop is an emergency market close reported as ``warning_raised``
  (``ts_emergency_close_instant_cross``); only the bot's own closes (profitable aged positions)
  write ``position_closed``;
* no version writes ``websocket_*`` or ``subscription_*`` events: their incidents are log lines.

``sim.ledger`` (``sim_ledger.Ledger``) keeps what it wrote, per minute and exchange: the ground
truth for tests.

Time. ``created_at``, ``opened_at`` ... are always the *real* time from ``clock`` (UTC): the
monitor windows on the database clock, which the demo shares. ``speed`` compresses only the bot's
rhythm: "bot time" runs ``speed`` times faster from the first step, and waves (minutes 5/20/35/50),
the periodic sync (120 s), the aged check (5 minutes), incident rates and price volatility follow
bot time. Per-position price ticks stay at the bot's real rate (one ``position_updated`` per open
position every ``price_interval`` seconds); "aged" (> 3 h) is measured in real time, like the
monitor does.

Driving it::

    sim = BotSimulator(dsn, log_path, speed=10)
    await sim.seed()                          # bot_started, ~20-40 open positions, a few closed
    task = asyncio.create_task(sim.run())     # ~1 tick a second until stop()/cancel
    ...
    await sim.stop()                          # flushes the event queue, closes connections

Tests never sleep: ``clock=ManualClock(...)`` and ``await sim.advance(seconds)`` / ``step(now)``.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import count
from pathlib import Path
from typing import Any

import asyncpg

from tui.demo import sim_catalog as cat
from tui.demo import sim_incidents
from tui.demo.sim_events import ConnectionErrors, EventWriter
from tui.demo.sim_history import backfill as _backfill
from tui.demo.sim_ledger import Ledger
from tui.demo.sim_log import BotLog
from tui.demo.sim_versions import BotVersion
from tui.demo.sim_versions import version as _version
from tui.resources import read_sql

__all__ = ["BotSimulator", "ManualClock", "SimParams", "load_queries"]

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ENTRY_FEE = 0.0005
EXIT_FEE = 0.00055


def load_queries(relative: str = "demo/simulator.sql") -> dict[str, str]:
    """Split a SQL file into statements keyed by their ``-- name: <key>`` line."""
    queries: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in read_sql(relative).splitlines():
        if line.startswith("-- name:"):
            if name:
                queries[name] = "\n".join(lines).strip().rstrip(";")
            name, lines = line.split(":", 1)[1].strip(), []
        elif name is not None and not line.startswith("--"):
            lines.append(line)
    if name:
        queries[name] = "\n".join(lines).strip().rstrip(";")
    return queries


class ManualClock:
    """A clock for tests: ``clock()`` returns the current fake UTC time, ``advance()`` moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class SimParams:
    """Everything tunable; defaults follow the bot's rhythm in BOT_FACTS.md."""

    max_open: int = 70
    seed_open: tuple[int, int] = (20, 40)
    seed_closed: tuple[int, int] = (3, 8)
    seed_hours: float = 4.0                    # seeded positions opened over the last 4 h
    signals_per_wave: int = 85
    opens_per_wave: tuple[int, int] = (3, 9)
    price_interval: float = 12.0               # real s between two ticks of one position
    volatility: float = 0.008                  # random walk, per sqrt(bot hour)
    stop_loss_percent: tuple[float, float] = (2.0, 3.5)
    trailing_activation: float = 1.5          # percent
    trailing_callback: float = 0.5            # percent
    trailing_min_step: float = 0.1            # percent move of the stop before an update
    sl_update_failure_probability: float = 0.03
    emergency_percent: float = 3.0            # market close of a position without SL
    aged_hours: float = 3.0                   # real hours
    aged_close_probability: float = 0.3       # a profitable aged position closed at a check
    sync_interval: float = 120.0              # bot s: periodic sync and protection check
    aged_check_interval: float = 300.0        # bot s
    stage_delay: tuple[float, float] = (0.2, 1.2)   # real s between opening stages
    unprotected_probability: float = 0.03     # an opened position misses its SL for a while
    unprotected_seconds: tuple[float, float] = (60.0, 180.0)  # real s
    stale_ts_probability: float = 0.05        # a closed position leaves its TS row behind
    stop_loss_triggered_probability: float = 0.5   # a stop hit the bot logs as an event
    instant_cross_probability: float = 0.3    # a trailing-stop hit that is an emergency close
    phantom_bare_probability: float = 0.5     # a phantom close writes the status only
    # incidents per bot hour
    ws_reconnects_per_hour: float = 0.6
    zombies_per_hour: float = 0.4
    health_check_failed_per_hour: float = 11.0  # ~270 a day
    order_errors_per_hour: float = 1.5
    rate_limit_errors_per_hour: float = 2.0
    traceback_errors_per_hour: float = 1.5
    asyncio_noise_per_hour: float = 1.0
    stale_price_per_hour: float = 1.0
    garbled_lines_per_hour: float = 0.2       # a log line with invalid UTF-8 bytes
    phantoms_per_hour: float = 0.3            # a position closed outside the bot
    emergency_close_per_hour: float = 0.005   # CRITICAL emergency_close_all_triggered
    # event logger
    batch_size: int = 100
    flush_interval: float = 5.0
    reorder_probability: float = 0.3
    commit_hold: tuple[float, float] = (0.0, 1.5)  # slow commit of a reordered half (run() only)
    max_queue: int = 100_000
    log_price_lines: bool = True
    max_catchup: float = 60.0                 # a step never simulates more real s than this


@dataclass
class Position:
    id: int
    signal_id: int
    symbol: str
    exchange: str
    side: str
    quantity: float
    entry: float
    price: float
    sl_percent: float
    opened_at: datetime
    status: str = "pending_entry"
    stop: float | None = None          # positions.stop_loss_price as written
    sl_on_exchange: bool = False       # the stop order exists on the exchange
    flag: bool = False                 # positions.has_stop_loss as written
    ts_activated: bool = False
    peak: float = 0.0
    ts_updates: int = 0
    order_id: str = ""
    sl_order_id: str = ""
    correlation_id: str = ""
    unprotected_until: datetime | None = None
    naked_since: datetime | None = None
    gone: str | None = None            # closed on the exchange: stop_loss, trailing_stop, ...
    exit_price: float | None = None

    @property
    def sign(self) -> int:
        return 1 if self.side == "long" else -1

    def pnl_percent(self, price: float | None = None) -> float:
        return self.sign * ((price or self.price) / self.entry - 1.0) * 100.0

    def pnl(self, price: float | None = None) -> float:
        return self.sign * ((price or self.price) - self.entry) * self.quantity

    @property
    def key(self) -> tuple[str, str]:
        return self.symbol, self.exchange

    @property
    def trades(self) -> bool:
        """Still open on the exchange (the price moves it, the stop can hit)."""
        return self.status == "active" and self.gone is None


@dataclass
class SimStats:
    ticks: int = 0
    events: int = 0
    waves: int = 0
    syncs: int = 0
    opened: int = 0
    closed: int = 0
    ts_activations: int = 0
    db_errors: int = 0
    errors: int = 0                    # failed steps in run() (a bug: see the bot log)
    by_type: dict[str, int] = field(default_factory=dict)


def _round_price(p: float) -> float:
    """5 significant digits, as exchanges quote, and no more than numeric(20,8) keeps: the row
    then holds the very price the PnL was computed from."""
    return round(float(f"{p:.5g}"), 8)


def _fmt(p: float | None) -> str:
    return "None" if p is None else f"{p:.8g}"


class BotSimulator:
    """An asyncio "bot" writing positions, trailing stops, orders, events and its log file."""

    def __init__(self, dsn: str, log_path: Path | str | None = None, *, speed: float = 1.0,
                 seed: int | None = None, exchanges: Sequence[str] = ("binance", "bybit"),
                 clock: Callable[[], datetime] | None = None, params: SimParams | None = None,
                 tick: float = 1.0, max_bytes: int | None = None, backup_count: int = 10,
                 bot_version: str | BotVersion | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.dsn = dsn
        self.speed = float(speed)
        self.version = _version(bot_version)
        self.exchanges = tuple(exchanges)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.p = params or SimParams()
        self.tick = tick
        self.rng = random.Random(seed)
        self.q = load_queries()
        self.log = BotLog(Path(log_path) if log_path else None, max_bytes=max_bytes,
                          backup_count=backup_count)
        self.events = EventWriter(dsn, batch_size=self.p.batch_size,
                                  flush_interval=self.p.flush_interval,
                                  reorder_probability=self.p.reorder_probability,
                                  max_queue=self.p.max_queue, rng=random.Random(self.rng.random()))
        self.stats = SimStats()
        self.ledger = Ledger()
        self._conn: asyncpg.Connection | None = None
        self._open: dict[int, Position] = {}
        self._keys: dict[tuple[str, str], int] = {}
        self._stale_ts: list[tuple[str, str]] = []
        self._prices: dict[str, float] = {}
        self._schedule: list[tuple[datetime, int, Callable[[], Awaitable[None]]]] = []
        self._seq = count()
        self._anchor: datetime | None = None
        self._last: datetime | None = None
        self._now: datetime = self.clock()
        self._loaded = False
        self._next_signal = 0
        # the bot's sync loop started at some moment of its own: not aligned with the waves
        self._sync_offset = self.rng.uniform(0, self.p.sync_interval)
        self._stop = asyncio.Event()
        self._running = False
        self._run_done = asyncio.Event()
        self.first_tick = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self._db_retry_at: datetime | None = None
        self._db_failures = 0

    # ============================================================================ public API
    async def open(self) -> None:
        """Connect and load the open positions already in the database (idempotent)."""
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(
                self.dsn, server_settings={"application_name": "botsim"})
            self._loaded = False
        await self.events.open()
        if not self._loaded:
            await self._load_state()
            self._loaded = True

    async def seed(self, n_open: int | None = None, n_closed: int | None = None) -> None:
        """A believable start: bot_started, the startup sync, positions of the last hours."""
        await self.open()
        now = self._tick_time(self.clock())
        p = self.p
        n_open = n_open if n_open is not None else self.rng.randint(*p.seed_open)
        n_closed = n_closed if n_closed is not None else self.rng.randint(*p.seed_closed)
        n_open = min(n_open, p.max_open - len(self._open))
        self._startup_lines(now)
        self.emit("bot_started", {"mode": "production", "exchange": "both", "version": "2.0"})
        for _ in range(n_closed):  # older ids first, like a bot that has been trading
            await self._seed_closed(now)
        # the bot opens only in waves: each seeded position at a wave of the last hours
        waves = self._marks(now - timedelta(hours=p.seed_hours), now, 900.0, 300.0)
        opened = sorted(self.rng.choice(waves) + timedelta(seconds=self.rng.uniform(1, 20))
                        for _ in range(n_open)) if waves else []
        aged = [w for w in waves if (now - w).total_seconds() > p.aged_hours * 3600 + 300]
        if n_open >= 3 and aged:  # make sure some are aged (> 3 h) and some are fresh
            opened[0] = min(opened[0], aged[0] + timedelta(seconds=3))
            opened[1] = min(opened[1], aged[-1] + timedelta(seconds=7))
        seeded = [pos for when in sorted(opened)
                  if (pos := await self._seed_open(now, when)) is not None]
        await self._startup_sync(now, seeded)
        await self.flush()

    async def step(self, now: datetime | None = None) -> None:
        """One tick: due actions, price ticks, waves/syncs/checks crossed in bot time, incidents."""
        await self.open()
        now = now or self.clock()
        now = self._tick_time(now)
        prev = self._last if self._last is not None else now
        if now < prev:
            now = prev
        real_dt = min((now - prev).total_seconds(), self.p.max_catchup)
        bot_prev, bot_now = self._bot_time(prev), self._bot_time(now)
        self._last = now

        await self._run_due(now)
        await self._price_tick(prev, now, real_dt)
        for mark in self._marks(bot_prev, bot_now, 900.0, 300.0)[-4:]:
            await self._wave(now, mark)
        for _ in self._marks(bot_prev, bot_now, self.p.sync_interval, self._sync_offset)[-2:]:
            await self._periodic_sync(now)
        for _ in self._marks(bot_prev, bot_now, self.p.aged_check_interval, 0.0)[-2:]:
            await self._aged_check(now)
        await sim_incidents.maybe(self, now, real_dt * self.speed / 3600.0)

        self.stats.ticks += 1
        self.log.flush()
        if self._flusher is None and self.events.due(now):
            await self.events.flush(now)
        self.first_tick.set()

    async def advance(self, seconds: float, tick: float | None = None) -> None:
        """Simulate ``seconds`` of real time in ticks (for tests); moves a ManualClock along."""
        tick = tick or self.tick
        start = self._last or self._tick_time(self.clock())
        if self._last is None:
            await self.step(start)
        n = max(1, math.ceil(seconds / tick))
        for i in range(1, n + 1):
            now = start + timedelta(seconds=min(seconds, i * tick))
            if isinstance(self.clock, ManualClock):
                self.clock.now = now
            await self.step(now)

    async def run_for(self, n_ticks: int) -> None:
        """``n_ticks`` explicit ticks of ``tick`` seconds each (no sleeping)."""
        await self.advance(n_ticks * self.tick, tick=self.tick)

    async def run(self) -> None:
        """Tick about once a second (real time) until :meth:`stop` or cancellation.

        The event queue is written by a background task (batches of 100 or every 5 s); on exit,
        however it ends, the queue is flushed and every connection closed. A database outage is
        survived: steps pause with a short backoff and the open positions are reloaded after.
        A simulator is run once: after :meth:`stop` a new ``run()`` returns at once.
        """
        if self._stop.is_set():  # stop() came before the task got to run: nothing to do
            return
        self._running = True
        self._run_done.clear()
        try:
            await self.open()
            self._flusher = asyncio.create_task(self._flush_loop(), name="botsim-flusher")
            while not self._stop.is_set():
                try:
                    if self._db_retry_at is None or self.clock() >= self._db_retry_at:
                        await self.step()
                        self._db_retry_at = None
                        self._db_failures = 0
                except ConnectionErrors as exc:
                    self._on_db_error(exc)
                except Exception as exc:  # noqa: BLE001 - a demo's bot must not die silently
                    self._on_bug(exc)
                try:
                    await asyncio.wait_for(self._stop.wait(), self.tick)
                except asyncio.TimeoutError:
                    pass
        finally:
            try:
                await self._shutdown()
            finally:
                self._running = False
                self._run_done.set()

    async def stop(self) -> None:
        """Stop :meth:`run` (flushing everything) or, when not running, just close."""
        self._stop.set()
        if self._running:
            await self._run_done.wait()
        else:
            await self._shutdown()

    async def close(self) -> None:
        await self.stop()

    async def flush(self) -> None:
        """Write every queued event and log line now."""
        self.log.flush()
        await self.events.flush(self._last or self.clock())

    async def open_position(self, symbol: str | None = None, exchange: str | None = None, *,
                            side: str | None = None,
                            unprotected_for: float | None = None) -> int | None:
        """Open one position now (outside a wave); ``unprotected_for`` keeps it without a stop
        loss for at least that many real seconds (the protection sync places it after that).
        Returns the position id (None if the pair is taken)."""
        await self.open()
        now = self._tick_time(self._last or self.clock())
        exchange = exchange or self.rng.choice(self.exchanges)
        symbol = symbol or self._free_symbol(exchange)
        if symbol is None or (symbol, exchange) in self._keys:
            return None
        pos = await self._create_position(now, symbol, exchange, side=side,
                                          correlation=f"manual_{now:%H%M%S}",
                                          unprotected_for=unprotected_for)
        return pos.id

    async def trigger(self, kind: str) -> None:
        """Force something now: ``wave``, ``sync`` (the periodic sync and protection check),
        ``aged_check``, or an incident (``sim_incidents.KINDS``)."""
        await self.open()
        now = self._tick_time(self._last or self.clock())
        if kind == "wave":
            await self._wave(now, self._bot_time(now))
        elif kind == "sync":
            await self._periodic_sync(now)
        elif kind == "aged_check":
            await self._aged_check(now)
        else:
            await sim_incidents.run(self, kind, now)
        self.log.flush()

    async def backfill(self, hours: float, *, rows: int | None = None,
                       rate_multiplier: float = 1.0, end: datetime | None = None) -> int:
        """Insert ``hours`` of the bot's past ending now: closed positions of that time and their
        events (COPY, ~70k rows/s), consistent with the rows already there; returns the number
        of events. Recorded in :attr:`ledger`."""
        return await _backfill(self.dsn, hours, rows=rows, rate_multiplier=rate_multiplier,
                               end=end or self.clock(), seed=self.rng.randrange(2**31),
                               exchanges=self.exchanges, bot_version=self.version,
                               ledger=self.ledger)

    @property
    def open_positions(self) -> list[Position]:
        return list(self._open.values())

    def bot_time(self, now: datetime | None = None) -> datetime:
        return self._bot_time(now or self._last or self.clock())

    # ============================================================================ events
    def emit(self, event_type: str, data: dict[str, Any] | None = None, *,
             pos: Position | None = None, symbol: str | None = None, exchange: str | None = None,
             correlation_id: str | None = None, order_id: str | None = None,
             error: str | None = None, stack: str | None = None, when: datetime | None = None,
             severity: str | None = None) -> None:
        """Stamp and queue one event, like the bot's event logger, and log its echo line."""
        self.version.check(event_type)
        when = when or self._now
        severity = severity or cat.severity(event_type)
        if pos is not None and data is not None and "symbol" not in data:
            data = {"symbol": pos.symbol, "position_id": pos.id, **data}
        record = (
            event_type,
            json.dumps(data, ensure_ascii=False) if data is not None else None,
            correlation_id or (pos.correlation_id if pos else None),
            pos.id if pos else None,
            order_id,
            symbol or (pos.symbol if pos else None),
            exchange or (pos.exchange if pos else None),
            severity,
            error,
            stack,
            when,
        )
        self.events.add(record)
        self.stats.events += 1
        self.stats.by_type[event_type] = self.stats.by_type.get(event_type, 0) + 1
        self.ledger.event(when, event_type)
        self.log.log(when, "core.event_logger", cat.echo_level(severity),
                     f"{event_type}: {data if data is not None else {}}")

    # ============================================================================ internals: time
    def _tick_time(self, now: datetime) -> datetime:
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        if self._anchor is None:
            self._anchor = now
        self._now = now
        return now

    def _bot_time(self, now: datetime) -> datetime:
        anchor = self._anchor or now
        return anchor + (now - anchor) * self.speed

    @staticmethod
    def _marks(prev: datetime, now: datetime, period: float, offset: float) -> list[datetime]:
        """Times ``offset + k*period`` (epoch seconds) in ``(prev, now]``."""
        a, b = (prev - EPOCH).total_seconds(), (now - EPOCH).total_seconds()
        k = math.floor((a - offset) / period) + 1
        out = []
        while (t := k * period + offset) <= b:
            out.append(EPOCH + timedelta(seconds=t))
            k += 1
        return out

    def _later(self, seconds: float, action: Callable[[], Awaitable[None]]) -> None:
        due = self._now + timedelta(seconds=seconds)
        heapq.heappush(self._schedule, (due, next(self._seq), action))

    async def _run_due(self, now: datetime) -> None:
        while self._schedule and self._schedule[0][0] <= now:
            due, _, action = heapq.heappop(self._schedule)
            self._now = min(due, now)
            await action()
        self._now = now

    # ============================================================================ internals: state
    async def _load_state(self) -> None:
        assert self._conn is not None
        ids = await self._conn.fetchrow(self.q["max_ids"])
        self._next_signal = max(self._next_signal, ids["signal_id"])
        self._open.clear()
        self._keys.clear()
        self._schedule.clear()
        for r in await self._conn.fetch(self.q["load_open_positions"]):
            side = "short" if r["side"] == "short" else "long"
            pos = Position(
                id=r["id"], signal_id=r["signal_id"] or 0, symbol=r["symbol"],
                exchange=r["exchange"], side=side, quantity=r["quantity"], entry=r["entry_price"],
                price=r["current_price"], sl_percent=r["signal_stop_loss_percent"] or 2.5,
                opened_at=r["opened_at"], status=r["status"], stop=r["stop_loss_price"],
                sl_on_exchange=r["stop_loss_price"] is not None, flag=r["has_stop_loss"],
                ts_activated=r["ts_activated"] or r["trailing_activated"],
                ts_updates=r["update_count"], order_id=r["exchange_order_id"] or "",
                correlation_id=f"pos_{r['symbol']}_{r['id']}")
            pos.peak = (r["highest_price"] if side == "long" else r["lowest_price"]) or pos.price
            if pos.sl_on_exchange:  # its stop order (the orders table has it; the id is moot)
                pos.sl_order_id = self._order_id(pos.exchange)
            if pos.id not in self.ledger.positions:  # opened before this simulator started
                self.ledger.opened_row(pos.id, pos.symbol, pos.exchange, pos.opened_at,
                                       pos.status)
            self._track(pos)
            self._prices.setdefault(pos.symbol, pos.price)
            if pos.status != "active":  # mid-way through opening when we (re)started
                self._now = self.clock()
                self._later(self.rng.uniform(*self.p.stage_delay),
                            lambda pos=pos: self._stage_filled(pos, None))

    def _track(self, pos: Position) -> None:
        self._open[pos.id] = pos
        self._keys[pos.key] = pos.id

    def _untrack(self, pos: Position) -> None:
        self._open.pop(pos.id, None)
        self._keys.pop(pos.key, None)
        if not any(p.symbol == pos.symbol for p in self._open.values()):
            self._prices.pop(pos.symbol, None)  # bounded: only symbols in use keep a price

    def _price_of(self, symbol: str) -> float:
        if symbol not in self._prices:
            self._prices[symbol] = _round_price(10 ** self.rng.uniform(-4.0, 1.5))
        return self._prices[symbol]

    def _exchange_price(self, symbol: str, exchange: str) -> float:
        spread = 1.0 + (0.0004 if exchange == self.exchanges[-1] else 0.0)
        return _round_price(self._price_of(symbol) * spread)

    def _free_symbol(self, exchange: str) -> str | None:
        for _ in range(50):
            sym = self.rng.choice(cat.SYMBOLS)
            if (sym, exchange) not in self._keys:
                return sym
        return None

    def _order_id(self, exchange: str) -> str:
        if exchange == "bybit":
            return "%08x-%04x-%04x-%04x-%012x" % tuple(  # noqa: UP031 - uuid-like, as bybit
                self.rng.getrandbits(b) for b in (32, 16, 16, 16, 48))
        return str(self.rng.randrange(10**9, 10**11))

    def _new_signal(self) -> int:
        self._next_signal += 1
        return self._next_signal

    @staticmethod
    def _stop_for(side: str, entry: float, pct: float) -> float:
        return _round_price(entry * (1 - pct / 100.0) if side == "long"
                            else entry * (1 + pct / 100.0))

    def _quantity(self, price: float) -> float:
        notional = self.rng.choice((50, 100, 150, 200, 250))
        return float(f"{notional / price:.6g}")

    # ============================================================================ internals: DB
    async def _insert(self, *, signal_id: int, symbol: str, exchange: str, side: str,
                      quantity: float, entry: float, price: float, stop: float | None,
                      unrealized: float, pnl: float | None, pnl_pct: float, status: str,
                      opened_at: datetime, has_stop_loss: bool, order_id: str | None,
                      sl_percent: float, fees: float, trailing_activated: bool = False,
                      closed_at: datetime | None = None, realized: float | None = None,
                      exit_reason: str | None = None) -> int:
        assert self._conn is not None
        pid = await self._conn.fetchval(
            self.q["insert_position"], signal_id, symbol, exchange, side, quantity, entry, price,
            stop, unrealized, pnl, round(pnl_pct, 4), status, opened_at, 10.0, has_stop_loss,
            order_id, self.p.trailing_activation, self.p.trailing_callback, sl_percent,
            round(self.rng.uniform(0.01, 0.3), 4), round(fees, 8), trailing_activated, closed_at,
            realized, exit_reason)
        self.ledger.opened_row(pid, symbol, exchange, opened_at, status)
        return pid

    async def _insert_orders(self, pos: Position, when: datetime, *, sl_status: str) -> None:
        assert self._conn is not None
        close_side = "sell" if pos.side == "long" else "buy"
        open_side = "buy" if pos.side == "long" else "sell"
        await self._conn.executemany(self.q["insert_order"], [
            (str(pos.id), pos.exchange, pos.symbol, pos.order_id, f"entry_{pos.id}", "market",
             open_side, pos.quantity, pos.entry, "closed", pos.quantity, 0.0,
             round(pos.entry * pos.quantity * ENTRY_FEE, 8), when),
            (str(pos.id), pos.exchange, pos.symbol, pos.sl_order_id, f"sl_{pos.id}",
             "stop_market", close_side, pos.quantity, pos.stop, sl_status, 0.0, pos.quantity,
             0.0, when),
        ])

    async def _insert_sl_order(self, pos: Position) -> None:
        assert self._conn is not None
        close_side = "sell" if pos.side == "long" else "buy"
        await self._conn.execute(
            self.q["insert_order"], str(pos.id), pos.exchange, pos.symbol, pos.sl_order_id,
            f"sl_{pos.id}", "stop_market", close_side, pos.quantity, pos.stop, "open", 0.0,
            pos.quantity, 0.0, self._now)

    async def _upsert_trailing(self, pos: Position, when: datetime) -> None:
        assert self._conn is not None
        act = pos.entry * (1 + pos.sign * self.p.trailing_activation / 100.0)
        await self._conn.execute(
            self.q["upsert_trailing"], pos.symbol, pos.exchange, pos.id,
            "active" if pos.ts_activated else "waiting", pos.ts_activated,
            pos.peak if pos.side == "long" else None, pos.peak if pos.side == "short" else None,
            pos.stop if pos.ts_activated else None, pos.sl_order_id, _round_price(act),
            self.p.trailing_activation, self.p.trailing_callback, pos.entry, pos.side,
            pos.quantity, pos.ts_updates, round(max(0.0, self._peak_pct(pos)), 4), when,
            when if pos.ts_activated else None,
            json.dumps({"signal_id": pos.signal_id, "source": "position_manager"}))

    # ============================================================================ internals: seed
    async def _seed_open(self, now: datetime, opened_at: datetime) -> Position | None:
        exchange = self.rng.choice(self.exchanges)
        symbol = self._free_symbol(exchange)
        if symbol is None:
            return None
        side = "long" if self.rng.random() < 0.55 else "short"
        entry = self._exchange_price(symbol, exchange)
        # the walk since opening: the current price drifted a bit
        drift = self.rng.gauss(0, self.p.volatility * 100 * 0.6)
        price = _round_price(entry * (1 + drift / 100.0))
        pct = round(self.rng.uniform(*self.p.stop_loss_percent), 2)
        pos = Position(id=0, signal_id=self._new_signal(), symbol=symbol, exchange=exchange,
                       side=side, quantity=self._quantity(entry), entry=entry, price=price,
                       sl_percent=pct, opened_at=opened_at, status="active",
                       stop=self._stop_for(side, entry, pct), sl_on_exchange=True, flag=True,
                       order_id=self._order_id(exchange), sl_order_id=self._order_id(exchange))
        if pos.pnl_percent() <= -pct:  # would have been stopped out: keep it just above
            pos.price = _round_price(entry * (1 - pos.sign * pct / 200.0))
        self._prices[symbol] = pos.price
        pos.peak = max(entry, pos.price) if side == "long" else min(entry, pos.price)
        if pos.pnl_percent() >= self.p.trailing_activation:  # activated before the restart
            pos.ts_activated = True
            pos.stop = self._trail_stop(pos)
            pos.ts_updates = self.rng.randint(1, 12)
        pos.id = await self._insert(
            signal_id=pos.signal_id, symbol=symbol, exchange=exchange, side=side,
            quantity=pos.quantity, entry=entry, price=pos.price, stop=pos.stop,
            unrealized=pos.pnl(), pnl=pos.pnl(), pnl_pct=pos.pnl_percent(), status="active",
            opened_at=opened_at, has_stop_loss=True, order_id=pos.order_id, sl_percent=pct,
            fees=entry * pos.quantity * ENTRY_FEE, trailing_activated=pos.ts_activated)
        pos.correlation_id = f"pos_{symbol}_{pos.id}"
        await self._insert_orders(pos, opened_at, sl_status="open")
        await self._upsert_trailing(pos, opened_at)
        self._track(pos)
        return pos

    async def _seed_closed(self, now: datetime) -> None:
        """A position of the last hours, closed by one of the bot's paths."""
        exchange = self.rng.choice(self.exchanges)
        symbol = self.rng.choice(cat.SYMBOLS)
        side = self.rng.choice(("long", "short"))
        entry = _round_price(10 ** self.rng.uniform(-4.0, 1.5))
        qty = self._quantity(entry)
        opened = now - timedelta(hours=self.rng.uniform(1.0, self.p.seed_hours + 2))
        closed = min(opened + timedelta(minutes=self.rng.uniform(10, 150)),
                     now - timedelta(minutes=1))
        path, move = self.rng.choice((("sync", -2.5), ("sync", 1.2), ("sync", 2.4),
                                      ("bot", 0.6)))
        exit_price = _round_price(entry * (1 + (1 if side == "long" else -1) * move / 100))
        pnl = (1 if side == "long" else -1) * (exit_price - entry) * qty
        status, reason = ((cat.STATUS_SYNC, cat.EXIT_SYNC) if path == "sync"
                          else ("closed", cat.aged_exit_reason(move)))
        pid = await self._insert(
            signal_id=self._new_signal(), symbol=symbol, exchange=exchange, side=side,
            quantity=qty, entry=entry, price=exit_price, stop=self._stop_for(side, entry, 2.5),
            unrealized=0.0, pnl=pnl, pnl_pct=move, status=status, opened_at=opened,
            has_stop_loss=True, order_id=self._order_id(exchange), sl_percent=2.5,
            fees=entry * qty * ENTRY_FEE + exit_price * qty * EXIT_FEE,
            trailing_activated=move > self.p.trailing_activation, closed_at=closed,
            realized=pnl, exit_reason=reason)
        self.ledger.closed_row(pid, status=status, path=path, close_time=closed,
                               closed_at=closed, exit_reason=reason)

    def _startup_lines(self, now: datetime) -> None:
        lg = self.log
        lg.info(now, "utils.single_instance",
                f"✅ Lock acquired for 'trading_bot' (PID: {self.rng.randint(2000, 99999)})")
        lg.info(now, "database.repository", "Database pool initialized: min=15, max=50")
        lg.info(now, "core.event_logger", "EventLogger initialized")
        for ex in self.exchanges:
            lg.info(now, "core.exchange_manager", f"Exchange {ex} initialized")
        lg.info(now, "protection.trailing_stop",
                "SmartTrailingStopManager initialized with config: TrailingStopConfig("
                f"activation_percent=Decimal('{self.p.trailing_activation}'), "
                f"callback_percent=Decimal('{self.p.trailing_callback}'), use_atr=False)")
        for ex in self.exchanges:
            name, url, _ = cat.WS_HOSTS.get(ex, (ex.title(), f"wss://{ex}", ex))
            lg.info(now, f"websocket.{ex}_stream", f"Connecting to {name}: {url}")
        lg.info(now, "websocket.unified_price_monitor", "UnifiedPriceMonitor started (minimal mode)")
        lg.info(now, "core.position_manager", "🔄 Synchronizing positions with exchanges...")

    async def _startup_sync(self, now: datetime, seeded: list[Position]) -> None:
        """PositionSynchronizer at start, then load_positions_from_db: events and lines."""
        lg = self.log
        self.emit("sync_started", {"exchanges": list(self.exchanges)})
        self.emit("synchronization_started", {"exchanges": list(self.exchanges),
                                              "exchange_count": len(self.exchanges)})
        for pos in seeded:
            self.emit("position_verified", {"symbol": pos.symbol, "exchange": pos.exchange,
                                            "db_quantity": pos.quantity,
                                            "exchange_quantity": pos.quantity},
                      symbol=pos.symbol, exchange=pos.exchange)
            lg.info(now, "core.position_synchronizer", f"  ✅ {pos.symbol}: Verified")
        self.emit("synchronization_completed", {
            "db_positions": len(seeded), "exchange_positions": len(seeded),
            "verified": len(seeded), "closed_phantom": 0, "added_missing": 0,
            "updated_quantity": 0, "errors": 0})
        self.emit("sync_completed", {"exchanges": list(self.exchanges), "phantom_closed": 0,
                                     "missing_added": 0})
        exposure = sum(x.quantity * x.price for x in seeded)
        self.emit("positions_loaded", {"count": len(seeded), "total_exposure": round(exposure, 2),
                                       "exchanges": sorted({x.exchange for x in seeded})})
        lg.info(now, "core.position_manager", f"📊 Loaded {len(seeded)} positions from database")
        lg.info(now, "core.position_manager", f"💰 Total exposure: ${exposure:.2f}")
        lg.info(now, "core.position_manager", "🔍 Checking actual stop loss status on exchanges...")
        for pos in seeded:
            lg.info(now, "core.stop_loss_manager",
                    f"✅ Position {pos.symbol} has Stop Loss order: "
                    f"{self._order_id('binance')} at {pos.stop:.6g}")
        lg.info(now, "core.position_manager", "✅ All loaded positions have stop losses")
        lg.info(now, "core.position_manager", "🎯 Initializing trailing stops for loaded "
                "positions...")
        for pos in seeded:
            lg.info(now, "protection.trailing_stop",
                    f"✅ {pos.symbol}: TS state RESTORED from DB - "
                    f"state={'active' if pos.ts_activated else 'inactive'}, "
                    f"activated={pos.ts_activated}, "
                    f"highest_price={f'{pos.peak:.8f}' if pos.side == 'long' else 'N/A'}, "
                    f"lowest_price={f'{pos.peak:.8f}' if pos.side == 'short' else 'N/A'}, "
                    f"current_stop={pos.stop:.8f}, update_count={pos.ts_updates}")
            lg.info(now, "core.position_manager", f"✅ {pos.symbol}: TS state restored from DB")

    # ========================================================================= internals: opening
    async def _create_position(self, now: datetime, symbol: str, exchange: str, *,
                               side: str | None, correlation: str,
                               unprotected_for: float | None = None) -> Position:
        side = side or ("long" if self.rng.random() < 0.55 else "short")
        entry = self._exchange_price(symbol, exchange)
        pct = round(self.rng.uniform(*self.p.stop_loss_percent), 2)
        pos = Position(id=0, signal_id=self._new_signal(), symbol=symbol, exchange=exchange,
                       side=side, quantity=self._quantity(entry), entry=entry, price=entry,
                       sl_percent=pct, opened_at=now, peak=entry)
        pos.id = await self._insert(
            signal_id=pos.signal_id, symbol=symbol, exchange=exchange, side=side,
            quantity=pos.quantity, entry=entry, price=entry, stop=None, unrealized=0.0, pnl=0.0,
            pnl_pct=0.0, status="pending_entry", opened_at=now, has_stop_loss=False,
            order_id=None, sl_percent=pct, fees=0.0)
        pos.correlation_id = f"pos_{symbol}_{pos.id}"
        self._track(pos)
        self.stats.opened += 1
        if self.version.open_writes_position_created:  # the 2025-10 wrapper
            self.emit("position_created", {"signal_id": pos.signal_id, "side": side,
                                           "entry_price": entry, "quantity": pos.quantity,
                                           "exchange": exchange}, pos=pos)
        order_side = "BUY" if side == "long" else "SELL"
        self.log.info(now, "core.position_manager",
                      f"Opening position ATOMICALLY: {symbol} {order_side} {pos.quantity:g} "
                      "(params from .env)")
        self.log.info(now, "core.position_manager",
                      f"Stop-loss will be set at: {self._stop_for(side, entry, pct)} ({pct}%)")
        delay = self.rng.uniform(*self.p.stage_delay)
        self._later(delay, lambda: self._stage_entry(pos, unprotected_for))
        return pos

    def _alive(self, pos: Position) -> bool:
        return self._open.get(pos.id) is pos

    async def _stage_entry(self, pos: Position, unprotected_for: float | None) -> None:
        if not self._alive(pos):
            return
        assert self._conn is not None
        pos.order_id = self._order_id(pos.exchange)
        pos.status = "entry_placed"
        await self._conn.execute(self.q["set_status"], pos.id, "entry_placed", pos.order_id)
        self._later(self.rng.uniform(*self.p.stage_delay),
                    lambda: self._stage_filled(pos, unprotected_for))

    async def _stage_filled(self, pos: Position, unprotected_for: float | None) -> None:
        if not self._alive(pos):
            return
        assert self._conn is not None
        pos.status = "pending_sl"
        await self._conn.execute(self.q["set_status"], pos.id, "pending_sl", pos.order_id or None)
        self.emit("order_filled", {"order_type": "market", "order_data": {
            "id": pos.order_id, "price": pos.entry, "filled": pos.quantity}}, pos=pos,
            order_id=pos.order_id or None)
        if unprotected_for is None and self.rng.random() < self.p.unprotected_probability:
            unprotected_for = self.rng.uniform(*self.p.unprotected_seconds)
        if unprotected_for:
            self._later(self.rng.uniform(*self.p.stage_delay),
                        lambda: self._stage_sl_failed(pos, unprotected_for))
        else:
            self._later(self.rng.uniform(*self.p.stage_delay), lambda: self._stage_sl(pos))

    async def _stage_sl(self, pos: Position) -> None:
        """The atomic open's stop: on the exchange and in stop_loss_price; the flag waits."""
        if not self._alive(pos) or pos.sl_on_exchange:
            return
        assert self._conn is not None
        pos.sl_order_id = self._order_id(pos.exchange)
        pos.stop = self._stop_for(pos.side, pos.entry, pos.sl_percent)
        pos.sl_on_exchange = True
        pos.status = "active"
        await self._conn.execute(self.q["set_stop_price"], pos.id, pos.stop, "active")
        await self._insert_sl_order(pos)
        await self._upsert_trailing(pos, self._now)
        self.emit("trailing_stop_created", {"entry_price": pos.entry, "initial_stop": pos.stop,
                                            "side": pos.side}, pos=pos)
        lg, now = self.log, self._now
        lg.info(now, "core.atomic_position_manager",
                f"🛡️ Placing stop-loss for {pos.symbol} at {pos.stop:.6g}")
        lg.info(now, "core.stop_loss_manager",
                f"✅ Position {pos.symbol} has Stop Loss order: {pos.sl_order_id} at {pos.stop:.6g}")
        lg.info(now, "core.atomic_position_manager",
                f"✅ Atomic operation completed: pos_{pos.symbol}_{now.timestamp():.6f}")
        lg.info(now, "core.position_manager", "✅ Position created ATOMICALLY with guaranteed SL")
        lg.info(now, "core.position_manager",
                f"✅ Position #{pos.id} for {pos.symbol} opened ATOMICALLY at ${pos.entry:.4f}")
        lg.info(now, "core.position_manager",
                f"✅ Added {pos.symbol} to tracked positions (total: {len(self._open)})")
        act = pos.entry * (1 + pos.sign * self.p.trailing_activation / 100.0)
        lg.info(now, "protection.trailing_stop",
                f"✅ {pos.symbol}: TS CREATED - side={pos.side}, entry={pos.entry:.8f}, "
                f"activation={act:.8f}")
        lg.info(now, "core.position_manager", f"✅ Trailing stop initialized for {pos.symbol}")

    async def _stage_sl_failed(self, pos: Position, unprotected_for: float) -> None:
        """The exchange rejected the stop: the position is open without one until the protection
        sync manages to place it (not before ``unprotected_for`` s)."""
        if not self._alive(pos):
            return
        assert self._conn is not None
        pos.status = "active"
        pos.unprotected_until = self._now + timedelta(seconds=unprotected_for)
        await self._conn.execute(self.q["set_unprotected"], pos.id)
        text = cat.exchange_error_text(self.rng, pos.exchange, int(self._now.timestamp() * 1000))
        self.emit("stop_loss_error", {"reason": "set_stop_loss_returned_false",
                                      "attempted_price": self._stop_for(
                                          pos.side, pos.entry, pos.sl_percent)},
                  pos=pos, error=text)
        self.log.error(self._now, "core.stop_loss_manager",
                       f"Failed to set Stop Loss for {pos.symbol}: {text}")
        self.log.warning(self._now, "core.position_manager",
                         f"⚠️ Failed to set stop loss for {pos.symbol}")

    async def _failed_open(self, now: datetime, symbol: str, exchange: str, corr: str) -> None:
        """Order sent, position not found after it: the row is rolled back (a status change)."""
        assert self._conn is not None
        entry = self._exchange_price(symbol, exchange)
        qty = self._quantity(entry)
        side = "long" if self.rng.random() < 0.55 else "short"
        pid = await self._insert(
            signal_id=self._new_signal(), symbol=symbol, exchange=exchange, side=side,
            quantity=qty, entry=entry, price=entry, stop=None, unrealized=0.0, pnl=0.0,
            pnl_pct=0.0, status="pending_entry", opened_at=now, has_stop_loss=False,
            order_id=None, sl_percent=2.5, fees=0.0)
        text = self.rng.choice((
            "Position not found after order - order may have failed. Order status: closed",
            cat.exchange_error_text(self.rng, exchange, int(now.timestamp() * 1000))))
        reason = f"Position creation rolled back: {text}"
        lg = self.log
        lg.warning(now, "core.atomic_position_manager", "🔄 Rolling back...")
        row = await self._conn.fetchrow(self.q["close_status_only"], pid, "rolled_back")
        self.ledger.closed_row(pid, status="rolled_back", path="rolled_back",
                               close_time=row["close_time"], closed_at=None, exit_reason=None)
        if self.version.writes_wave_events:
            self.emit("signal_execution_failed", {"symbol": symbol, "exchange": exchange,
                                                  "reason": "rolled_back"},
                      symbol=symbol, exchange=exchange, correlation_id=corr, error=text)
        self.emit("position_creation_failed", {"symbol": symbol, "exchange": exchange,
                                               "reason": "atomic_creation_returned_none",
                                               "creation_path": "atomic"},
                  symbol=symbol, exchange=exchange, error=reason)
        self.emit("position_error", {"status": "failed", "signal_id": self._next_signal,
                                     "symbol": symbol, "exchange": exchange,
                                     "reason": "Position creation returned None"},
                  symbol=symbol, exchange=exchange)
        lg.error(now, "core.atomic_position_manager",
                 f"❌ Atomic operation failed: pos_{symbol}_{now.timestamp():.6f} - {reason}")
        lg.error(now, "core.position_manager", f"Error opening position for {symbol}: {reason}")

    # ============================================================================ internals: ticks
    def _trail_stop(self, pos: Position) -> float:
        cb = self.p.trailing_callback / 100.0
        return _round_price(pos.peak * (1 - cb) if pos.side == "long" else pos.peak * (1 + cb))

    def _peak_pct(self, pos: Position) -> float:
        return pos.pnl_percent(pos.peak)

    async def _price_tick(self, prev: datetime, now: datetime, real_dt: float) -> None:
        if not self._open or real_dt <= 0:
            return
        assert self._conn is not None
        # random walk of every symbol in use, in bot time
        bot_hours = real_dt * self.speed / 3600.0
        sigma = self.p.volatility * math.sqrt(bot_hours)
        for sym in {p.symbol for p in self._open.values()}:
            self._prices[sym] = self._price_of(sym) * math.exp(
                sigma * self.rng.gauss(0, 1) - 0.5 * sigma * sigma)
        prob = min(1.0, real_dt / self.p.price_interval)
        span = (now - prev).total_seconds()
        price_rows, stop_rows, ts_rows = [], [], []
        for pos in list(self._open.values()):
            if not pos.trades or self.rng.random() >= prob:
                continue
            when = prev + timedelta(seconds=self.rng.uniform(0, span)) if span else now
            old = pos.price
            pos.price = self._exchange_price(pos.symbol, pos.exchange)
            pnl_pct = pos.pnl_percent()
            price_rows.append((pos.id, pos.price, pos.pnl(), round(pnl_pct, 4)))
            self._log_tick(pos, old, when)
            if self.version.writes_wave_events:  # 2025-10's shape (a real echo line)
                data: dict[str, Any] = {"old_price": old, "new_price": pos.price}
            else:
                data = {"old_price": old, "new_price": pos.price,
                        "unrealized_pnl": round(pos.pnl(), 6),
                        "unrealized_pnl_percent": round(pnl_pct, 4), "source": "websocket"}
            self.emit("position_updated", data, pos=pos, when=when)
            if pos.sl_on_exchange:
                self._trail(pos, when, stop_rows, ts_rows)
                if pos.stop is not None and pos.sign * (pos.price - pos.stop) <= 0:
                    self._stop_hit(pos, when)
            elif pnl_pct <= -self.p.emergency_percent:
                self._emergency_close(pos, when)
        if price_rows:
            await self._conn.executemany(self.q["update_price"], price_rows)
        if stop_rows:
            await self._conn.executemany(self.q["move_stop"], stop_rows)
        if ts_rows:
            await self._conn.executemany(self.q["update_trailing"], ts_rows)

    def _log_tick(self, pos: Position, old: float, when: datetime) -> None:
        if not self.p.log_price_lines:
            return
        lg = self.log
        raw = cat.exchange_symbol(pos.symbol, pos.exchange)
        lg.info(when, "core.position_manager",
                f"📊 Position update: {raw} → {pos.symbol}, mark_price={pos.price:.8g}")
        lg.info(when, "core.position_manager",
                f"  → Price updated {pos.symbol}: {old:.8g} → {pos.price:.8g}")

    def _trail(self, pos: Position, when: datetime, stop_rows: list, ts_rows: list) -> None:
        p = self.p
        better = pos.price > pos.peak if pos.side == "long" else pos.price < pos.peak
        if better:
            pos.peak = pos.price
        lg = self.log
        if not pos.ts_activated:
            if pos.pnl_percent() < p.trailing_activation:
                return
            pos.ts_activated = True
            new_stop = self._trail_stop(pos)
            old = pos.stop
            pos.stop = new_stop if pos.sign * (new_stop - (pos.stop or 0)) > 0 else pos.stop
            pos.ts_updates += 1
            self.stats.ts_activations += 1
            lg.info(when, "protection.trailing_stop",
                    f"🗑️  {pos.symbol}: Canceling Protection Manager SL (order_id="
                    f"{pos.sl_order_id}, stopPrice={_fmt(old)}) before TS activation")
            lg.info(when, "protection.trailing_stop",
                    f"✅ {pos.symbol}: Trailing stop ACTIVATED at {pos.price:.6g}, "
                    f"stop at {pos.stop:.6g}")
            lg.info(when, "core.position_manager", f"Trailing stop activated for {pos.symbol}")
            self.emit("trailing_stop_activated", {"current_price": pos.price,
                                                  "entry_price": pos.entry,
                                                  "stop_loss_price": pos.stop},
                      pos=pos, when=when)
            self.emit("trailing_stop_sl_updated", {"new_stop": pos.stop, "reason": "activation"},
                      pos=pos, when=when, order_id=pos.sl_order_id)
            self._log_sl_update(pos, when)
        elif better:
            new_stop = self._trail_stop(pos)
            assert pos.stop is not None
            step = pos.sign * (new_stop - pos.stop) / pos.stop * 100.0
            if step < p.trailing_min_step:
                return
            if self.rng.random() < p.sl_update_failure_probability:
                self._sl_update_failed(pos, new_stop, when)
                return  # state rolled back: the old stop stays
            old, pos.stop = pos.stop, new_stop
            pos.ts_updates += 1
            self.emit("trailing_stop_updated", {"old_stop_price": old, "new_stop_price": new_stop,
                                                "current_price": pos.price}, pos=pos, when=when)
            lg.info(when, "protection.trailing_stop",
                    f"📈 {pos.symbol}: SL moved - Trailing stop updated from {old:.6g} to "
                    f"{new_stop:.6g} (+{step:.2f}%)")
            self.emit("trailing_stop_sl_updated", {"new_stop": new_stop, "old_stop": old},
                      pos=pos, when=when, order_id=pos.sl_order_id)
            self._log_sl_update(pos, when)
        else:
            return
        stop_rows.append((pos.id, pos.stop, True))
        ts_rows.append((pos.id, "active", True, pos.peak if pos.side == "long" else None,
                        pos.peak if pos.side == "short" else None, pos.stop, pos.ts_updates,
                        round(self._peak_pct(pos), 4), when, when))

    def _sl_update_failed(self, pos: Position, new_stop: float, when: datetime) -> None:
        """The exchange refused to move the stop: two events and a module line, as in the bot's
        real log (the 2025-10-23 storm)."""
        assert pos.stop is not None
        ms = int(when.timestamp() * 1000)
        if pos.exchange == "bybit":
            text = ('bybit {"retCode":10001,"retMsg":"StopLoss:%d set for %s position should %s '
                    'than base_price:%d??LastPrice","result":{},"retExtInfo":{},"time":%d}'
                    % (round(new_stop * 1e8), "Buy" if pos.side == "long" else "Sell",
                       "lower" if pos.side == "long" else "higher", round(pos.price * 1e8), ms))
            method = "bybit_trading_stop_atomic"
        else:
            text = 'binance {"code":-2021,"msg":"Order would immediately trigger."}'
            method = "binance_cancel_create_optimized"
        self.emit("trailing_stop_sl_update_failed", {
            "error": "Exchange update failed, state rolled back", "proposed_new_stop": new_stop,
            "kept_old_stop": pos.stop, "update_count": pos.ts_updates}, pos=pos, when=when)
        self.emit("trailing_stop_sl_update_failed", {
            "error": text, "execution_time_ms": round(self.rng.uniform(150, 900), 3),
            "method_attempted": method}, pos=pos, when=when)
        self.log.error(when, "protection.trailing_stop",
                       f"❌ {pos.symbol}: SL update FAILED on exchange, state rolled back "
                       f"(keeping old stop {pos.stop:.4f})")

    def _log_sl_update(self, pos: Position, when: datetime) -> None:
        method = "trading_stop" if pos.exchange == "bybit" else "cancel_and_replace"
        ms = self.rng.lognormvariate(math.log(120), 0.6)
        self.log.info(when, "protection.trailing_stop",
                      f"✅ {pos.symbol}: SL updated via {method} in {ms:.2f}ms")

    # ================================================================= internals: exchange-side exits
    def _gone(self, pos: Position, why: str, exit_price: float) -> None:
        """The position no longer exists on the exchange; the table learns it at the next sync."""
        pos.gone = why
        pos.exit_price = _round_price(exit_price)

    def _stop_hit(self, pos: Position, when: datetime) -> None:
        assert pos.stop is not None
        if pos.ts_activated and self.rng.random() < self.p.instant_cross_probability:
            # the price jumped over the level the trailing stop was moving to: market close
            self.log.warning(when, "protection.trailing_stop",
                             f"⚡ {pos.symbol}: Price crossed SL level ({pos.stop:.8f}) instantly! "
                             f"Current: {pos.price:.8f}. Executing EMERGENCY MARKET CLOSE.")
            self.emit("warning_raised", {
                "warning_type": "ts_emergency_close_instant_cross", "symbol": pos.symbol,
                "close_price": pos.price, "sl_price": pos.stop,
                "message": "Emergency market close triggered due to instant price crossing SL "
                           "level"}, symbol=pos.symbol, exchange=pos.exchange, when=when)
            self._gone(pos, "emergency", pos.price)
            return
        slip = 1 - pos.sign * self.rng.uniform(0, 0.0008)
        self._gone(pos, "trailing_stop" if pos.ts_activated else "stop_loss", pos.stop * slip)
        if self.rng.random() < self.p.stop_loss_triggered_probability:
            self.log.warning(when, "core.position_manager",
                             f"⚠️ Stop loss triggered for {pos.symbol}")
            self.emit("stop_loss_triggered", {"entry_price": pos.entry,
                                              "current_price": pos.price,
                                              "stop_loss_price": pos.stop, "side": pos.side},
                      pos=pos, when=when)
        if pos.exchange == "bybit":
            self.log.info(when, "websocket.bybit_stream", f"Position closed: {pos.symbol}")

    def _emergency_close(self, pos: Position, when: datetime) -> None:
        """No stop on the exchange and -3 %: the bot closes it at market."""
        self.log.log(when, "core.atomic_position_manager", "CRITICAL",
                     "⚠️ CRITICAL: Position without SL detected, closing immediately!")
        self._gone(pos, "emergency", pos.price)

    # ============================================================================ internals: closes
    async def _close_row(self, pos: Position, *, status: str, path: str, when: datetime,
                         exit_reason: str | None, bare: bool = False) -> None:
        """Write the close and record it; the position leaves the bot's tracking."""
        assert self._conn is not None
        exit_price = pos.exit_price if pos.exit_price is not None else pos.price
        if bare:
            row = await self._conn.fetchrow(self.q["close_status_only"], pos.id, status)
            closed_at = None
        else:
            fees = round(exit_price * pos.quantity * EXIT_FEE, 8)
            row = await self._conn.fetchrow(
                self.q["close_position"], pos.id, status, when, exit_reason, pos.pnl(exit_price),
                exit_price, round(pos.pnl_percent(exit_price), 4), fees)
            closed_at = when
        self._untrack(pos)
        if row is None:  # somebody else closed it (cannot happen in the demo; be safe)
            return
        self.ledger.closed_row(pos.id, status=status, path=path, close_time=row["close_time"],
                               closed_at=closed_at, exit_reason=None if bare else exit_reason)
        self.stats.closed += 1
        if self.rng.random() < self.p.stale_ts_probability:
            self._stale_ts.append(pos.key)
        else:
            await self._conn.execute(self.q["delete_trailing"], pos.id)
        if pos.sl_order_id:
            hit = pos.gone in ("stop_loss", "trailing_stop")
            await self._conn.execute(self.q["update_order"], pos.sl_order_id,
                                     "closed" if hit else "canceled",
                                     pos.quantity if hit else 0.0, 0.0, when)

    def _cleanup(self, pos: Position, reason: str, realized: float | None, when: datetime) -> None:
        """_cleanup_position_monitoring: the events and lines of every close."""
        lg = self.log
        lg.info(when, "core.position_manager",
                f"🧹 Starting cleanup for {pos.symbol} (exchange={pos.exchange}, reason={reason})")
        lg.info(when, "core.position_manager", f"✅ {pos.symbol}: Removed from positions tracking")
        lg.info(when, "core.position_manager", f"✅ {pos.symbol}: Notified trailing_stop_manager")
        self.emit("trailing_stop_removed", {"reason": reason, "realized_pnl": realized},
                  pos=pos, when=when)
        self.emit("position_cleanup", {"symbol": pos.symbol, "exchange": pos.exchange,
                                       "reason": reason, "positions_removed": True,
                                       "trailing_stop_notified": True,
                                       "aged_adapter_removed": False, "errors": []},
                  symbol=pos.symbol, exchange=pos.exchange, when=when)
        lg.info(when, "core.position_manager",
                f"✅ Cleanup for {pos.symbol} completed successfully (positions=True, ts=True, "
                "aged=False)")

    async def _bot_close(self, pos: Position, reason: str, when: datetime) -> None:
        """PositionManager.close_position: the one path that writes position_closed."""
        pos.exit_price = pos.price
        pnl, pnl_pct = pos.pnl(pos.price), pos.pnl_percent(pos.price)
        self._cleanup(pos, reason, pnl, when)
        await self._close_row(pos, status="closed", path="bot", when=when, exit_reason=reason)
        self.log.info(when, "core.position_manager",
                      f"Position closed: {pos.symbol} {reason} PnL: ${pnl:.2f} ({pnl_pct:.2f}%)")
        self.emit("position_closed", {"symbol": pos.symbol, "reason": reason,
                                      "realized_pnl": round(pnl, 8),
                                      "realized_pnl_percent": round(pnl_pct, 4),
                                      "entry_price": pos.entry, "exit_price": pos.price,
                                      "quantity": pos.quantity, "side": pos.side,
                                      "exchange": pos.exchange}, pos=pos, when=when)
        if pos.sl_order_id:
            self.log.info(when, "core.position_manager",
                          f"🧹 Cleaning up SL order {pos.sl_order_id} for closed position "
                          f"{pos.symbol}")
            self.emit("orphaned_sl_cleaned", {"symbol": pos.symbol, "order_id": pos.sl_order_id,
                                              "order_type": "stop_market",
                                              "reason": "position_closed"},
                      symbol=pos.symbol, exchange=pos.exchange, order_id=pos.sl_order_id,
                      when=when)

    # ============================================================================ internals: rhythm
    async def _periodic_sync(self, now: datetime) -> None:
        """The bot's 120 s loop: sync with the exchanges (closes), protection check (the
        has_stop_loss flag), real zombies (phantoms)."""
        assert self._conn is not None
        self.stats.syncs += 1
        lg = self.log
        for ex in self.exchanges:
            on_exchange = [x for x in self._open.values() if x.exchange == ex and x.gone is None]
            gone = [x for x in self._open.values() if x.exchange == ex and x.gone is not None
                    and x.gone != "manual"]
            lg.info(now, "core.position_manager", f"🔄 Syncing positions from {ex}...")
            lg.info(now, "core.position_manager", f"Found {len(on_exchange)} positions on {ex}")
            if gone:
                lg.warning(now, "core.position_manager",
                           f"⚠️ Found {len(gone)} positions in DB but not on {ex}")
            for pos in gone:
                lg.info(now, "core.position_manager", f"Closing orphaned position: {pos.symbol}")
                await self._close_row(pos, status=cat.STATUS_SYNC, path="sync", when=now,
                                      exit_reason=cat.EXIT_SYNC)
                self._cleanup(pos, cat.EXIT_SYNC, None, now)
                lg.info(now, "core.position_manager",
                        f"✅ Closed orphaned position: {pos.symbol} (full cleanup)")
        await self._protection_check(now)
        await self._real_zombies(now)
        lg.info(now, "core.position_manager", "✅ Periodic sync completed")

    async def _protection_check(self, now: datetime) -> None:
        assert self._conn is not None
        lg = self.log
        flagged = []
        naked = []
        for pos in self._open.values():
            if not pos.trades:
                continue
            lg.info(now, "core.position_manager",
                    f"Checking position {pos.symbol}: has_sl={pos.sl_on_exchange}, "
                    f"price={_fmt(pos.stop if pos.sl_on_exchange else None)}")
            if pos.sl_on_exchange:
                if not pos.flag:
                    flagged.append((pos.id, pos.stop))
                    pos.flag = True
                lg.info(now, "core.position_manager",
                        f"✅ Synced {pos.symbol} SL state to DB: has_sl=True, price={_fmt(pos.stop)}")
            else:
                naked.append(pos)
        if flagged:
            await self._conn.executemany(self.q["mark_protected"], flagged)
        if not naked:
            return
        fresh = [x for x in naked if x.naked_since is None]
        for pos in naked:
            if pos.naked_since is None:
                pos.naked_since = now
                lg.warning(now, "core.position_manager",
                           f"⚠️ Position {pos.symbol} has no stop loss on exchange!")
            else:
                lg.log(now, "core.position_manager", "CRITICAL",
                       f"🚨 CRITICAL ALERT: Position {pos.symbol} WITHOUT STOP LOSS for "
                       f"{(now - pos.naked_since).total_seconds():.0f} seconds! "
                       "Position at risk!")
        lg.warning(now, "core.position_manager",
                   f"🔴 Found {len(naked)} positions without stop loss protection!")
        if fresh:  # an event when the check first finds them; the log repeats every check
            self.emit("positions_without_sl_detected", {
                "count": len(naked), "symbols": [x.symbol for x in naked],
                "action": "setting_sl"})
        fixed = 0
        for pos in naked:
            if pos.unprotected_until is not None and now < pos.unprotected_until:
                lg.error(now, "core.position_manager", f"❌ Failed to set stop loss for {pos.symbol}")
                continue
            await self._place_missing_sl(pos, now)
            fixed += 1
        lg.info(now, "core.position_manager",
                f"Stop loss protection check complete: {fixed}/{len(naked)} positions protected")
        still = [x.symbol for x in naked if not x.sl_on_exchange]
        if still:
            lg.error(now, "core.position_manager",
                     f"🔴 CRITICAL: {len(still)} positions still without stop loss! "
                     f"Symbols: {', '.join(still)}")

    async def _place_missing_sl(self, pos: Position, now: datetime) -> None:
        """The protection check places the stop (update_position_stop_loss: price and flag)."""
        assert self._conn is not None
        pos.sl_order_id = self._order_id(pos.exchange)
        pos.stop = self._stop_for(pos.side, pos.entry, pos.sl_percent)
        if pos.sign * (pos.price - pos.stop) <= 0:  # the price is already past it
            pos.stop = _round_price(pos.price * (1 - pos.sign * 0.005))
        pos.sl_on_exchange = pos.flag = True
        pos.unprotected_until = pos.naked_since = None
        await self._conn.execute(self.q["mark_protected"], pos.id, pos.stop)
        await self._insert_sl_order(pos)
        await self._upsert_trailing(pos, now)
        lg = self.log
        lg.info(now, "core.position_manager",
                f"✅ Stop loss set for {pos.symbol} at {pos.stop:.8f}, order_id={pos.sl_order_id} "
                "added to whitelist")
        lg.info(now, "database.repository",
                f"🔍 DB: updated position {pos.id} with SL price {pos.stop:g}, "
                "has_stop_loss=TRUE, result=UPDATE 1")

    async def _real_zombies(self, now: datetime) -> None:
        """handle_real_zombies: positions closed outside the bot are phantoms."""
        lg = self.log
        lg.info(now, "core.position_manager", "🔍 Checking for real zombie positions...")
        for ex in self.exchanges:
            phantoms = [x for x in self._open.values() if x.exchange == ex and x.gone == "manual"]
            if not phantoms:
                continue
            lg.warning(now, "core.position_manager",
                       f"👻 Found {len(phantoms)} PHANTOM positions on {ex}")
            self.emit("phantom_position_detected", {"exchange": ex, "count": len(phantoms),
                                                    "symbols": [x.symbol for x in phantoms]},
                      exchange=ex)
            for pos in phantoms:
                lg.warning(now, "core.position_manager",
                           f"Phantom position detected: {pos.symbol} (in DB but not on {ex})")
                self._cleanup(pos, cat.CLEANUP_PHANTOM, None, now)
                bare = self.rng.random() < self.p.phantom_bare_probability
                await self._close_row(pos, status="closed", path="phantom", when=now,
                                      exit_reason=cat.EXIT_PHANTOM, bare=bare)
                lg.info(now, "core.position_manager", f"✅ Cleaned phantom position: {pos.symbol}")
                self.emit("phantom_position_closed", {"symbol": pos.symbol, "position_id": pos.id,
                                                      "reason": "not_on_exchange",
                                                      "cleanup_action": "marked_closed"},
                          pos=pos, when=now)

    async def _aged_check(self, now: datetime) -> None:
        """The aged-position manager (every 5 minutes): profitable aged positions are closed at
        market; stale trailing-stop rows are deleted."""
        assert self._conn is not None
        p, lg = self.p, self.log
        aged = [x for x in self._open.values() if x.trades and not x.ts_activated
                and (now - x.opened_at).total_seconds() > p.aged_hours * 3600]
        liquidated = 0
        for pos in aged:
            age_h = (now - pos.opened_at).total_seconds() / 3600
            lg.info(now, "core.protection_adapters",
                    f"Aged position {pos.symbol} registered (age={age_h:.1f}h)")
            lg.info(now, "core.aged_position_manager", f"📈 Processing aged position {pos.symbol}:")
            if self.version.writes_aged_detected:
                self.emit("aged_position_detected", {
                    "age_hours": round(age_h, 2), "max_age_hours": p.aged_hours,
                    "entry_price": pos.entry, "current_price": pos.price, "side": pos.side},
                    pos=pos)
            pct = pos.pnl_percent()
            if pct > 0 and self.rng.random() < p.aged_close_probability:
                liquidated += 1
                lg.info(now, "core.aged_position_manager",
                        f"💰 {pos.symbol} in profit {pct:.2f}% (age {age_h - p.aged_hours:.1f}h) "
                        "- MARKET close")
                reason = cat.aged_exit_reason(pct)
                await self._bot_close(pos, reason, now)
                lg.info(now, "core.aged_position_manager",
                        f"✅ MARKET close: {pos.symbol} in phase {reason}")
        if aged:
            lg.info(now, "__main__", f"📊 Aged positions processed: {len(aged)}, breakeven: 0, "
                    f"liquidated: {liquidated}")
        for symbol, exchange in self._stale_ts[:5]:
            if (symbol, exchange) in self._keys:
                continue  # re-opened meanwhile: the upsert already replaced the row
            await self._conn.execute(self.q["delete_trailing_key"], symbol, exchange)
            self.emit("trailing_stop_removed", {"symbol": symbol, "reason": "stale_state"},
                      symbol=symbol, exchange=exchange)
            lg.warning(now, "protection.trailing_stop",
                       f"⚠️ {symbol}: TS state exists in DB but no position on exchange - "
                       "deleting stale TS state")
        del self._stale_ts[:5]

    async def _wave(self, now: datetime, mark: datetime) -> None:
        p, rng, lg = self.p, self.rng, self.log
        waves = self.version.writes_wave_events
        self.stats.waves += 1
        wave_ts = (mark - timedelta(minutes=20)).replace(second=0, microsecond=0)
        wave_ts = wave_ts - timedelta(minutes=wave_ts.minute % 15)
        ts = wave_ts.isoformat()
        corr = f"wave_{ts}"
        n = max(10, int(rng.gauss(p.signals_per_wave, 15)))
        lg.info(now, "SignalWSClient", f"Received {n} signals")
        lg.info(now, "core.signal_processor_websocket",
                f"📡 Received {n} RAW signals from WebSocket (added to buffer)")
        lg.info(now, "core.signal_processor_websocket",
                f"🔍 Looking for wave with timestamp: {ts}")
        lg.info(now, "core.signal_processor_websocket",
                f"🌊 Wave detected! Processing {n} signals for {ts}")
        if waves:
            self.emit("wave_detected", {"wave_timestamp": ts, "signal_count": n},
                      correlation_id=corr)
        target = rng.randint(*p.opens_per_wave)
        opened = failed = validation = duplicates = filtered = 0
        for _ in range(n):
            if opened >= target:
                break
            exchange = rng.choice(self.exchanges)
            symbol = rng.choice(cat.SYMBOLS)
            roll = rng.random()
            if roll < 0.45:
                filtered += 1
                if waves and rng.random() < 0.35:  # the bot logs only some of the filtered ones
                    self.emit("signal_filtered", {"symbol": symbol,
                                                  "reason": rng.choice(cat.FILTER_REASONS)},
                              symbol=symbol, exchange=exchange, correlation_id=corr)
                continue
            if roll < 0.50:
                validation += 1
                if waves:
                    self.emit("signal_validation_failed", {"symbol": symbol,
                                                           "reason": "invalid_stop_loss"},
                              symbol=symbol, exchange=exchange, correlation_id=corr)
                continue
            if (symbol, exchange) in self._keys:
                duplicates += 1
                lg.warning(now, "core.position_manager",
                           f"Position already exists for {symbol} on {exchange}")
                self.emit("position_duplicate_prevented", {"symbol": symbol, "exchange": exchange,
                                                           "signal_id": self._next_signal + 1},
                          symbol=symbol, exchange=exchange)
                continue
            if len(self._open) >= p.max_open:
                lg.warning(now, "core.position_manager", f"Risk limits exceeded for {symbol}")
                self.emit("risk_limits_exceeded", {"symbol": symbol,
                                                   "position_count": len(self._open),
                                                   "max_positions": p.max_open},
                          symbol=symbol, exchange=exchange)
                break
            if rng.random() < 0.05:
                failed += 1
                await self._failed_open(now, symbol, exchange, corr)
                continue
            pos = await self._create_position(now, symbol, exchange, side=None, correlation=corr)
            if waves:
                self.emit("signal_executed", {"symbol": symbol, "exchange": exchange,
                                              "signal_id": pos.signal_id, "position_id": pos.id},
                          symbol=symbol, exchange=exchange, correlation_id=corr)
            opened += 1
        ms = int(rng.uniform(800, 6000))
        if waves:
            self.emit("wave_completed", {"wave_timestamp": ts, "opened": opened,
                                         "failed": failed, "validation_errors": validation,
                                         "duplicates": duplicates, "duration_ms": ms},
                      correlation_id=corr)
        lg.info(now, "core.signal_processor_websocket",
                f"🎯 Wave {ts} complete: {opened} positions opened, {failed} failed, "
                f"{validation} validation errors, {duplicates} duplicates")
        tried = opened + failed
        rate = 100.0 * opened / tried if tried else 0.0
        lg.info(now, "core.wave_signal_processor",
                f"🌊 Wave processing complete in {ms}ms: ✅ {opened} successful, ❌ {failed} "
                f"failed, ⏭️ {filtered + duplicates + validation} skipped, 📊 Success rate: "
                f"{rate:.1f}%")

    # ============================================================================ shutdown / errors
    def _on_db_error(self, exc: BaseException) -> None:
        self.stats.db_errors += 1
        self._db_failures += 1
        now = self.clock()
        self._db_retry_at = now + timedelta(seconds=min(10.0, 0.5 * 2.0 ** self._db_failures))
        self.log.error(now, "database.repository", f"Database error: {exc!r}")
        self.log.flush()
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None  # reconnect and reload the open positions on the next step

    def _on_bug(self, exc: BaseException) -> None:
        """A failed step in run(): in the bot's log with its traceback, then the next tick."""
        import traceback

        self.stats.errors += 1
        text = "".join(traceback.format_exception(exc)).rstrip()
        self.log.error(self.clock(), "__main__", f"Simulator step failed: {exc!r}",
                       traceback=text)
        self.log.flush()

    async def _flush_loop(self) -> None:
        """The event logger's background writer: a full batch, or every flush_interval s."""
        ready = self.events.ready
        while not self._stop.is_set():
            wait = self.events.seconds_until_due(self.clock())
            if wait > 0:
                stop_wait = asyncio.ensure_future(self._stop.wait())
                ready_wait = asyncio.ensure_future(ready.wait())
                try:
                    await asyncio.wait({stop_wait, ready_wait}, timeout=wait,
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for fut in (stop_wait, ready_wait):
                        fut.cancel()
                    await asyncio.gather(stop_wait, ready_wait, return_exceptions=True)
                continue
            try:
                await self.events.flush(self.clock(), hold=self.p.commit_hold)
            except ConnectionErrors:
                self.stats.db_errors += 1
                await asyncio.sleep(min(5.0, self.p.flush_interval))

    async def _shutdown(self) -> None:
        """Stop the flusher, write what is queued, close everything (safe to call twice)."""
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            self._stop.set()
            try:
                await asyncio.wait_for(asyncio.shield(flusher), 10)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                flusher.cancel()
                await asyncio.gather(flusher, return_exceptions=True)
            except Exception:  # noqa: BLE001 - a dead flusher must not prevent the final flush
                pass
        try:
            self.log.close()
            if self.events.pending:
                await asyncio.wait_for(self.events.flush(self._last or self.clock()), 10)
        except (*ConnectionErrors, asyncio.TimeoutError):
            pass  # the database is gone: what is still queued is lost, like the bot's
        finally:
            await self.events.close()
            conn, self._conn = self._conn, None
            if conn is not None and not conn.is_closed():
                try:
                    await asyncio.wait_for(conn.close(), 5)
                except (*ConnectionErrors, asyncio.TimeoutError):
                    conn.terminate()
