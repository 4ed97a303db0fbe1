"""A simulated trading bot for ``botmon demo`` and the tests.

:class:`BotSimulator` writes to a real PostgreSQL database (schema ``monitoring``) what the bot
writes -- positions through ``pending_entry`` / ``entry_placed`` / ``pending_sl`` to ``active`` and
``closed``, their trailing-stop rows and orders, and the event stream through an event logger that
batches (``sim_events.EventWriter``) -- and appends the bot's log file (``sim_log.BotLog``).

Time. ``created_at``, ``opened_at`` ... are always the *real* time from ``clock`` (UTC): the
monitor windows on the database clock, which the demo shares. ``speed`` compresses only the bot's
rhythm: "bot time" runs ``speed`` times faster from the first step, and waves (minutes 5/20/35/50),
protection checks (every 5 minutes), incident rates and price volatility follow bot time. At speed
15 there is a wave every real minute. Per-position price ticks stay at the bot's real rate (one
``position_updated`` per open position every ``price_interval`` seconds), so the event rate looks
like the bot's whatever the speed; "aged" (> 3 h) is measured in real time, like the monitor does.

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
from tui.demo.sim_events import ConnectionErrors, EventWriter
from tui.demo.sim_history import backfill as _backfill
from tui.demo.sim_log import BotLog
from tui.resources import read_sql

__all__ = ["BotSimulator", "ManualClock", "SimParams", "load_queries"]

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
    emergency_percent: float = 3.0            # emergency close of a position without SL
    aged_hours: float = 3.0                   # real hours
    aged_liquidation_mean: float = 3600.0     # real s an aged position survives on average
    stage_delay: tuple[float, float] = (0.2, 1.2)   # real s between opening stages
    unprotected_probability: float = 0.03     # an opened position misses its SL for a while
    unprotected_seconds: tuple[float, float] = (60.0, 180.0)  # real s
    stale_ts_probability: float = 0.05        # a closed position leaves its TS row behind
    # incidents per bot hour
    ws_reconnects_per_hour: float = 0.6
    zombies_per_hour: float = 0.4
    health_check_failed_per_hour: float = 11.0  # ~270 a day
    order_errors_per_hour: float = 1.5
    rate_limit_errors_per_hour: float = 2.0
    traceback_errors_per_hour: float = 1.5
    asyncio_noise_per_hour: float = 1.0
    subscription_stale_per_hour: float = 1.0
    garbled_lines_per_hour: float = 0.2       # a log line with invalid UTF-8 bytes
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
    stop: float | None = None
    has_sl: bool = False
    ts_activated: bool = False
    peak: float = 0.0
    ts_updates: int = 0
    breakeven: bool = False
    order_id: str = ""
    sl_order_id: str = ""
    correlation_id: str = ""
    unprotected_until: datetime | None = None

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


@dataclass
class SimStats:
    ticks: int = 0
    events: int = 0
    waves: int = 0
    opened: int = 0
    closed: int = 0
    ts_activations: int = 0
    db_errors: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


def _round_price(p: float) -> float:
    return float(f"{p:.5g}")


class BotSimulator:
    """An asyncio "bot" writing positions, trailing stops, orders, events and its log file."""

    def __init__(self, dsn: str, log_path: Path | str | None = None, *, speed: float = 1.0,
                 seed: int | None = None, exchanges: Sequence[str] = ("binance", "bybit"),
                 clock: Callable[[], datetime] | None = None, params: SimParams | None = None,
                 tick: float = 1.0, max_bytes: int | None = None, backup_count: int = 10) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.dsn = dsn
        self.speed = float(speed)
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
        """A believable start: bot_started, positions_loaded, open positions of the last hours."""
        await self.open()
        now = self._tick_time(self.clock())
        p = self.p
        n_open = n_open if n_open is not None else self.rng.randint(*p.seed_open)
        n_closed = n_closed if n_closed is not None else self.rng.randint(*p.seed_closed)
        n_open = min(n_open, p.max_open - len(self._open))
        self._startup_lines(now)
        self.emit("bot_started", {"version": "2.4.1", "exchanges": list(self.exchanges),
                                  "mode": "production"})
        # a few closed positions first (older ids), then the open ones, oldest first
        for _ in range(n_closed):
            await self._seed_closed(now)
        ages = sorted((self.rng.uniform(0.02, p.seed_hours) for _ in range(n_open)), reverse=True)
        if n_open >= 3:  # make sure some are aged (> 3 h) and some are fresh
            ages[0] = max(ages[0], p.aged_hours + self.rng.uniform(0.1, 0.8))
            ages[1] = max(ages[1], p.aged_hours + self.rng.uniform(0.05, 0.5))
        seeded = []
        for age in ages:
            pos = await self._seed_open(now, now - timedelta(hours=age))
            if pos is not None:
                seeded.append(pos)
        self.emit("positions_loaded", {"count": len(seeded), "by_exchange": {
            ex: sum(1 for x in seeded if x.exchange == ex) for ex in self.exchanges}})
        lg = self.log
        lg.info(now, "core.position_manager", f"📊 Loaded {len(seeded)} positions from database")
        for pos in seeded:
            lg.info(now, "core.position_manager",
                    f"✅ Position {pos.symbol} has Stop Loss order: {pos.sl_order_id} at "
                    f"{pos.stop:.6g}")
        lg.info(now, "core.position_manager", "✅ All loaded positions have stop losses")
        lg.info(now, "protection.trailing_stop", "🎯 Initializing trailing stops for loaded "
                "positions...")
        lg.info(now, "protection.trailing_stop", f"✅ Initialized {len(seeded)} trailing stops")
        await self.flush()

    async def step(self, now: datetime | None = None) -> None:
        """One tick: due actions, price ticks, waves/checks crossed in bot time, incidents."""
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
        for mark in self._marks(bot_prev, bot_now, 300.0, 0.0)[-2:]:
            await self._protection_check(now, mark)
        await self._incidents(now, real_dt * self.speed / 3600.0)

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
        loss for that many real seconds. Returns the position id (None if the pair is taken)."""
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
        """Force an incident now: ws_reconnect, zombies, health_check_failed, order_error,
        rate_limit, traceback, asyncio_noise, subscription_stale, garbled_line, emergency_close,
        wave, protection_check."""
        await self.open()
        now = self._tick_time(self._last or self.clock())
        if kind == "wave":
            await self._wave(now, self._bot_time(now))
        elif kind == "protection_check":
            await self._protection_check(now, self._bot_time(now))
        else:
            handler = getattr(self, f"_inc_{kind}", None)
            if handler is None:
                raise ValueError(f"unknown incident {kind!r}")
            await handler(now)
        self.log.flush()

    async def backfill(self, hours: float, *, rows: int | None = None,
                       rate_multiplier: float = 1.0, end: datetime | None = None) -> int:
        """Insert ``hours`` of past events ending now (COPY, ~70k rows/s); returns the count."""
        return await _backfill(self.dsn, hours, rows=rows, rate_multiplier=rate_multiplier,
                               end=end or self.clock(), seed=self.rng.randrange(2**31),
                               exchanges=self.exchanges)

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
        """Stamp and queue one event, like the bot's event logger."""
        record = (
            event_type,
            json.dumps(data, ensure_ascii=False) if data is not None else None,
            correlation_id or (pos.correlation_id if pos else None),
            pos.id if pos else None,
            order_id,
            symbol or (pos.symbol if pos else None),
            exchange or (pos.exchange if pos else None),
            severity or cat.severity(event_type),
            error,
            stack,
            when or self._now,
        )
        self.events.add(record)
        self.stats.events += 1
        self.stats.by_type[event_type] = self.stats.by_type.get(event_type, 0) + 1

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
                has_sl=r["has_stop_loss"], ts_activated=r["ts_activated"] or
                r["trailing_activated"], ts_updates=r["update_count"],
                order_id=r["exchange_order_id"] or "",
                correlation_id=f"pos_{r['symbol']}_{r['id']}")
            pos.peak = (r["highest_price"] if side == "long" else r["lowest_price"]) or pos.price
            self._track(pos)
            self._prices.setdefault(pos.symbol, pos.price)
            if not pos.has_sl:  # mid-way through opening, or unprotected, when we (re)started
                pos.sl_percent = pos.sl_percent or 2.5
                self._now = self.clock()
                self._later(self.rng.uniform(*self.p.stage_delay),
                            lambda pos=pos: self._stage_sl(pos, retry=True))

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

    def _stop_for(self, side: str, entry: float, pct: float) -> float:
        return _round_price(entry * (1 - pct / 100.0) if side == "long"
                            else entry * (1 + pct / 100.0))

    def _quantity(self, price: float) -> float:
        notional = self.rng.choice((50, 100, 150, 200, 250))
        return float(f"{notional / price:.6g}")

    # ============================================================================ internals: seed
    async def _seed_open(self, now: datetime, opened_at: datetime) -> Position | None:
        assert self._conn is not None
        exchange = self.rng.choice(self.exchanges)
        symbol = self._free_symbol(exchange)
        if symbol is None:
            return None
        side = "long" if self.rng.random() < 0.55 else "short"
        entry = self._exchange_price(symbol, exchange)
        # the walk since opening: the current price drifted a bit
        drift = self.rng.gauss(0, self.p.volatility * 100 * 0.6)
        price = _round_price(entry * (1 + drift / 100.0))
        self._prices[symbol] = price
        pct = round(self.rng.uniform(*self.p.stop_loss_percent), 2)
        pos = Position(id=0, signal_id=self._new_signal(), symbol=symbol, exchange=exchange,
                       side=side, quantity=self._quantity(entry), entry=entry, price=price,
                       sl_percent=pct, opened_at=opened_at, status="active",
                       stop=self._stop_for(side, entry, pct), has_sl=True,
                       order_id=self._order_id(exchange), sl_order_id=self._order_id(exchange))
        pos.peak = max(entry, price) if side == "long" else min(entry, price)
        pnl_pct = pos.pnl_percent()
        if pnl_pct >= self.p.trailing_activation:  # already activated before the restart
            pos.ts_activated = True
            pos.stop = self._trail_stop(pos)
            pos.ts_updates = self.rng.randint(1, 12)
        if pos.pnl_percent() <= -pct:  # would have been stopped out: keep it just above
            pos.price = price = _round_price(entry * (1 - pos.sign * pct / 200.0))
            self._prices[symbol] = price
        pos.id = await self._conn.fetchval(
            self.q["insert_position"], pos.signal_id, symbol, exchange, side, pos.quantity, entry,
            pos.price, pos.stop, pos.pnl(), round(pos.pnl_percent(), 4), "active", opened_at,
            now, 10.0, True, pos.order_id, self.p.trailing_activation, self.p.trailing_callback,
            pct, round(self.rng.uniform(0.01, 0.3), 4), round(entry * pos.quantity * 0.0005, 8),
            pos.ts_activated, None, None, None)
        pos.correlation_id = f"pos_{symbol}_{pos.id}"
        await self._insert_orders(pos, opened_at, sl_status="open")
        await self._upsert_trailing(pos, opened_at)
        self._track(pos)
        return pos

    async def _seed_closed(self, now: datetime) -> None:
        assert self._conn is not None
        exchange = self.rng.choice(self.exchanges)
        symbol = self.rng.choice(cat.SYMBOLS)
        side = self.rng.choice(("long", "short"))
        entry = _round_price(10 ** self.rng.uniform(-4.0, 1.5))
        qty = self._quantity(entry)
        opened = now - timedelta(hours=self.rng.uniform(1.0, self.p.seed_hours + 2))
        closed = opened + timedelta(minutes=self.rng.uniform(10, 150))
        closed = min(closed, now - timedelta(minutes=1))
        reason, move = self.rng.choice((("stop_loss", -2.5), ("trailing_stop", 1.2),
                                        ("trailing_stop", 2.4), ("aged_position", 0.1)))
        exit_price = _round_price(entry * (1 + (1 if side == "long" else -1) * move / 100))
        pnl = (1 if side == "long" else -1) * (exit_price - entry) * qty
        await self._conn.fetchval(
            self.q["insert_position"], self._new_signal(), symbol, exchange, side, qty, entry,
            exit_price, self._stop_for(side, entry, 2.5), 0.0, round(move, 4), "closed", opened,
            closed, 10.0, True, self._order_id(exchange), self.p.trailing_activation,
            self.p.trailing_callback, 2.5, 0.05, round(entry * qty * 0.001, 8),
            reason == "trailing_stop", closed, pnl, reason)

    def _startup_lines(self, now: datetime) -> None:
        lg = self.log
        lg.info(now, "__main__", "=" * 60)
        lg.info(now, "__main__", "🚀 Starting trading bot (mode: production)")
        lg.info(now, "__main__", "=" * 60)
        lg.info(now, "database.repository", "Database pool created (min=5, max=20)")
        lg.info(now, "core.event_logger", "EventLogger started (batch_size=100, interval=5s)")
        for ex in self.exchanges:
            name, url, _ = cat.WS_HOSTS.get(ex, (ex.title(), f"wss://{ex}", ex))
            lg.info(now, "core.exchange_manager", f"✅ {name} exchange initialized (futures)")
            lg.info(now, f"websocket.{ex}_stream", f"Connecting to {name}: {url}")
        lg.info(now, "websocket.unified_price_monitor", "Price monitor started")

    # ============================================================================ internals: DB
    async def _insert_orders(self, pos: Position, when: datetime, *, sl_status: str) -> None:
        assert self._conn is not None
        close_side = "sell" if pos.side == "long" else "buy"
        open_side = "buy" if pos.side == "long" else "sell"
        await self._conn.executemany(self.q["insert_order"], [
            (str(pos.id), pos.exchange, pos.symbol, pos.order_id, f"entry_{pos.id}", "market",
             open_side, pos.quantity, pos.entry, "closed", pos.quantity, 0.0,
             round(pos.entry * pos.quantity * 0.0005, 8), when),
            (str(pos.id), pos.exchange, pos.symbol, pos.sl_order_id, f"sl_{pos.id}", "stop_market",
             close_side, pos.quantity, pos.stop, sl_status, 0.0, pos.quantity, 0.0, when),
        ])

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

    # ========================================================================= internals: opening
    async def _create_position(self, now: datetime, symbol: str, exchange: str, *,
                               side: str | None, correlation: str,
                               unprotected_for: float | None = None) -> Position:
        assert self._conn is not None
        side = side or ("long" if self.rng.random() < 0.55 else "short")
        entry = self._exchange_price(symbol, exchange)
        pct = round(self.rng.uniform(*self.p.stop_loss_percent), 2)
        pos = Position(id=0, signal_id=self._new_signal(), symbol=symbol, exchange=exchange,
                       side=side, quantity=self._quantity(entry), entry=entry, price=entry,
                       sl_percent=pct, opened_at=now, peak=entry)
        pos.id = await self._conn.fetchval(
            self.q["insert_position"], pos.signal_id, symbol, exchange, side, pos.quantity, entry,
            entry, None, 0.0, 0.0, "pending_entry", now, now, 10.0, False, None,
            self.p.trailing_activation, self.p.trailing_callback, pct,
            round(self.rng.uniform(0.01, 0.3), 4), 0.0, False, None, None, None)
        pos.correlation_id = f"pos_{symbol}_{pos.id}"
        self._track(pos)
        self.stats.opened += 1
        self.emit("position_created", {"signal_id": pos.signal_id, "side": side,
                                       "entry_price": entry, "quantity": pos.quantity,
                                       "source": correlation}, pos=pos)
        self.log.info(now, "core.position_manager",
                      f"Opening position ATOMICALLY: {symbol} {side.upper()} {pos.quantity:g} "
                      f"on {exchange}")
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
        await self._conn.execute(self.q["set_status"], pos.id, "entry_placed", pos.order_id,
                                 self._now)
        self.emit("order_placed", {"type": "market", "side": "buy" if pos.side == "long" else
                                   "sell", "size": pos.quantity}, pos=pos, order_id=pos.order_id)
        self._later(self.rng.uniform(*self.p.stage_delay),
                    lambda: self._stage_filled(pos, unprotected_for))

    async def _stage_filled(self, pos: Position, unprotected_for: float | None) -> None:
        if not self._alive(pos):
            return
        assert self._conn is not None
        pos.status = "pending_sl"
        await self._conn.execute(self.q["set_status"], pos.id, "pending_sl", None, self._now)
        self.emit("order_filled", {"price": pos.entry, "filled": pos.quantity}, pos=pos,
                  order_id=pos.order_id)
        if unprotected_for is None and self.rng.random() < self.p.unprotected_probability:
            unprotected_for = self.rng.uniform(*self.p.unprotected_seconds)
        if unprotected_for:
            self._later(self.rng.uniform(*self.p.stage_delay),
                        lambda: self._stage_sl_failed(pos, unprotected_for))
        else:
            self._later(self.rng.uniform(*self.p.stage_delay), lambda: self._stage_sl(pos))

    async def _stage_sl_failed(self, pos: Position, unprotected_for: float) -> None:
        if not self._alive(pos):
            return
        assert self._conn is not None
        pos.status = "active"  # filled, but the exchange rejected the stop: unprotected
        pos.unprotected_until = self._now + timedelta(seconds=unprotected_for)
        await self._conn.execute(self.q["set_stop_loss"], pos.id, None, False, "active", self._now)
        text = cat.exchange_error_text(self.rng, pos.exchange, int(self._now.timestamp() * 1000))
        self.emit("stop_loss_error", {"attempt": 1, "retry_in_s": round(unprotected_for)},
                  pos=pos, error=text)
        self.log.error(self._now, "core.stop_loss_manager",
                       f"❌ Failed to set Stop Loss for {pos.symbol}: {text}")
        self.log.warning(self._now, "core.position_manager",
                         f"⚠️ Position {pos.symbol} is open WITHOUT stop loss, will retry")
        self._later(unprotected_for, lambda: self._stage_sl(pos, retry=True))

    async def _stage_sl(self, pos: Position, retry: bool = False) -> None:
        if not self._alive(pos) or pos.has_sl:
            return
        assert self._conn is not None
        pos.sl_order_id = self._order_id(pos.exchange)
        pos.stop = self._stop_for(pos.side, pos.entry, pos.sl_percent)
        pos.has_sl = True
        pos.status = "active"
        pos.unprotected_until = None
        await self._conn.execute(self.q["set_stop_loss"], pos.id, pos.stop, True, "active",
                                 self._now)
        await self._insert_orders_sl_only(pos)
        await self._upsert_trailing(pos, self._now)
        self.emit("stop_loss_placed", {"stop_price": pos.stop, "percent": pos.sl_percent,
                                       "retry": retry}, pos=pos, order_id=pos.sl_order_id)
        self.emit("trailing_stop_created", {"activation_percent": self.p.trailing_activation,
                                            "callback_percent": self.p.trailing_callback},
                  pos=pos)
        lg, now = self.log, self._now
        if retry:
            lg.info(now, "core.stop_loss_manager",
                    f"✅ Stop Loss set successfully at {pos.stop:.6g}")
        else:
            lg.info(now, "core.position_manager",
                    f"✅ Position #{pos.id} for {pos.symbol} opened ATOMICALLY at ${pos.entry:.6g}")
            lg.info(now, "core.position_manager",
                    "✅ Position created ATOMICALLY with guaranteed SL")
        act = pos.entry * (1 + pos.sign * self.p.trailing_activation / 100.0)
        lg.info(now, "protection.trailing_stop",
                f"Created trailing stop for {pos.symbol} {pos.side}: activation at {act:.6g}, "
                f"callback {self.p.trailing_callback}%")

    async def _insert_orders_sl_only(self, pos: Position) -> None:
        assert self._conn is not None
        close_side = "sell" if pos.side == "long" else "buy"
        await self._conn.execute(
            self.q["insert_order"], str(pos.id), pos.exchange, pos.symbol, pos.sl_order_id,
            f"sl_{pos.id}", "stop_market", close_side, pos.quantity, pos.stop, "open", 0.0,
            pos.quantity, 0.0, self._now)

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
        closes: list[tuple[Position, str, float]] = []
        for pos in list(self._open.values()):
            if pos.status != "active" or self.rng.random() >= prob:
                continue
            when = prev + timedelta(seconds=self.rng.uniform(0, span)) if span else now
            pos.price = self._exchange_price(pos.symbol, pos.exchange)
            pnl_pct = pos.pnl_percent()
            price_rows.append((pos.id, pos.price, pos.pnl(), round(pnl_pct, 4), when))
            self.emit("position_updated", {"price": pos.price, "pnl": round(pos.pnl(), 6),
                                           "pnl_percent": round(pnl_pct, 4)}, pos=pos, when=when)
            if self.p.log_price_lines:
                self.log.info(when, "core.position_manager",
                              f"📊 {pos.symbol} ({pos.exchange}): price={pos.price:.6g}, "
                              f"PnL={pnl_pct:+.2f}%")
            # trailing stop
            if pos.has_sl:
                self._trail(pos, when, stop_rows, ts_rows)
            # exits
            if pos.has_sl and pos.stop is not None and pos.sign * (pos.price - pos.stop) <= 0:
                closes.append((pos, "trailing_stop" if pos.ts_activated else "stop_loss", when))
            elif not pos.has_sl and pnl_pct <= -self.p.emergency_percent:
                closes.append((pos, "emergency_stop", when))
        if price_rows:
            await self._conn.executemany(self.q["update_price"], price_rows)
        if stop_rows:
            await self._conn.executemany(self.q["move_stop"], stop_rows)
        if ts_rows:
            await self._conn.executemany(self.q["update_trailing"], ts_rows)
        for pos, reason, when in closes:
            await self._close(pos, reason, when)

    def _trail(self, pos: Position, when: datetime, stop_rows: list, ts_rows: list) -> None:
        p = self.p
        better = pos.price > pos.peak if pos.side == "long" else pos.price < pos.peak
        if better:
            pos.peak = pos.price
        if not pos.ts_activated:
            if pos.pnl_percent() < p.trailing_activation:
                return
            pos.ts_activated = True
            new_stop = self._trail_stop(pos)
            pos.stop = new_stop if pos.sign * (new_stop - (pos.stop or 0)) > 0 else pos.stop
            pos.ts_updates += 1
            self.stats.ts_activations += 1
            self.emit("trailing_stop_activated", {"activation_price": pos.price,
                                                  "stop_price": pos.stop,
                                                  "profit_percent": round(pos.pnl_percent(), 4)},
                      pos=pos, when=when)
            self.emit("trailing_stop_sl_updated", {"new_stop": pos.stop, "reason": "activation"},
                      pos=pos, when=when, order_id=pos.sl_order_id)
            self.log.info(when, "protection.trailing_stop",
                          f"✅ {pos.symbol}: Trailing stop ACTIVATED at {pos.price:.6g}, "
                          f"stop at {pos.stop:.6g}")
            self._log_sl_update(pos, when)
        elif better:
            new_stop = self._trail_stop(pos)
            assert pos.stop is not None
            step = pos.sign * (new_stop - pos.stop) / pos.stop * 100.0
            if step < p.trailing_min_step:
                return
            old, pos.stop = pos.stop, new_stop
            pos.ts_updates += 1
            self.emit("trailing_stop_updated", {"old_stop": old, "new_stop": new_stop,
                                                "peak": pos.peak}, pos=pos, when=when)
            self.log.info(when, "protection.trailing_stop",
                          f"📈 {pos.symbol}: SL moved - Trailing stop updated from {old:.6g} to "
                          f"{new_stop:.6g} (+{step:.2f}%)")
            if self.rng.random() < 0.03:  # the exchange refused to move the stop this time
                self.emit("trailing_stop_sl_update_failed", {"new_stop": new_stop}, pos=pos,
                          when=when, error="Order does not exist")
                self.log.error(when, "protection.trailing_stop",
                               f"❌ {pos.symbol}: SL update failed - Order does not exist")
            else:
                self.emit("trailing_stop_sl_updated", {"new_stop": new_stop, "old_stop": old},
                          pos=pos, when=when, order_id=pos.sl_order_id)
                self._log_sl_update(pos, when)
        else:
            return
        stop_rows.append((pos.id, pos.stop, True, when))
        ts_rows.append((pos.id, "active", True, pos.peak if pos.side == "long" else None,
                        pos.peak if pos.side == "short" else None, pos.stop, pos.ts_updates,
                        round(self._peak_pct(pos), 4), when, when))

    def _log_sl_update(self, pos: Position, when: datetime) -> None:
        method = "trading_stop" if pos.exchange == "bybit" else "cancel_and_replace"
        ms = self.rng.lognormvariate(math.log(120), 0.6)
        self.log.info(when, "protection.trailing_stop",
                      f"✅ {pos.symbol}: SL updated via {method} in {ms:.2f}ms")

    async def _close(self, pos: Position, reason: str, when: datetime) -> None:
        if not self._alive(pos):
            return
        assert self._conn is not None
        slip = 1 - pos.sign * self.rng.uniform(0, 0.0008)
        exit_price = _round_price((pos.stop if reason in ("stop_loss", "trailing_stop") and
                                   pos.stop else pos.price) * slip)
        pnl = pos.pnl(exit_price)
        fees = round(exit_price * pos.quantity * 0.00055, 8)
        pnl_pct = round(pos.pnl_percent(exit_price), 4)
        await self._conn.execute(self.q["close_position"], pos.id, "closed", when, reason, pnl,
                                 exit_price, pnl_pct, fees)
        if self.rng.random() < self.p.stale_ts_probability:
            self._stale_ts.append(pos.key)
        else:
            await self._conn.execute(self.q["delete_trailing"], pos.id)
        if pos.sl_order_id:
            await self._conn.execute(self.q["update_order"], pos.sl_order_id,
                                     "closed" if reason in ("stop_loss", "trailing_stop")
                                     else "canceled", pos.quantity if reason in
                                     ("stop_loss", "trailing_stop") else 0.0, 0.0, when)
        self._untrack(pos)
        self.stats.closed += 1
        data = {"exit_price": exit_price, "realized_pnl": round(pnl, 6), "pnl_percent": pnl_pct,
                "exit_reason": reason,
                "duration_s": int((when - pos.opened_at).total_seconds())}
        if reason in ("stop_loss", "trailing_stop"):
            self.emit("stop_loss_triggered", {"stop_price": pos.stop, "price": pos.price,
                                              "trailing": reason == "trailing_stop"},
                      pos=pos, when=when, order_id=pos.sl_order_id)
            self.emit("order_filled", {"price": exit_price, "filled": pos.quantity,
                                       "type": "stop_market"}, pos=pos, when=when,
                      order_id=pos.sl_order_id)
        self.emit("position_closed", data, pos=pos, when=when)
        if reason in ("stop_loss", "trailing_stop"):
            self.log.info(when, "core.stop_loss_manager",
                          f"🛑 Stop loss triggered for {pos.symbol} at {pos.price:.6g}")
        self.log.info(when, f"websocket.{pos.exchange}_stream", f"Position closed: {pos.symbol}")
        self.log.info(when, "core.position_manager",
                      f"💰 {pos.symbol} exit ({reason}): PnL {pnl:+.4f} USDT ({pnl_pct:+.2f}%)")

    # ============================================================================ internals: rhythm
    async def _wave(self, now: datetime, mark: datetime) -> None:
        p, rng, lg = self.p, self.rng, self.log
        self.stats.waves += 1
        wave_ts = (mark - timedelta(minutes=20)).replace(second=0, microsecond=0)
        wave_ts = wave_ts - timedelta(minutes=wave_ts.minute % 15)
        ts = wave_ts.isoformat()
        corr = f"wave_{ts}"
        n = max(10, int(rng.gauss(p.signals_per_wave, 15)))
        lg.info(now, "core.signal_processor_websocket",
                f"🌊 Wave detected! Processing {n} signals for {ts}")
        self.emit("wave_detected", {"wave_timestamp": ts, "signal_count": n}, correlation_id=corr)
        self.emit("signals_received", {"count": n, "wave_timestamp": ts}, correlation_id=corr)
        self.emit("wave_processing_started", {"wave_timestamp": ts}, correlation_id=corr)
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
                if rng.random() < 0.35:  # the bot logs only some of the filtered ones
                    self.emit("signal_filtered", {"reason": rng.choice(cat.FILTER_REASONS)},
                              symbol=symbol, exchange=exchange, correlation_id=corr)
                continue
            if roll < 0.50:
                validation += 1
                self.emit("signal_validation_failed", {"reason": "invalid_stop_loss"},
                          symbol=symbol, exchange=exchange, correlation_id=corr)
                continue
            if (symbol, exchange) in self._keys:
                duplicates += 1
                self.emit("position_duplicate_prevented", {"existing_position_id":
                                                           self._keys[(symbol, exchange)]},
                          symbol=symbol, exchange=exchange, correlation_id=corr,
                          pos=self._open.get(self._keys[(symbol, exchange)]))
                continue
            if len(self._open) >= p.max_open:
                self.emit("risk_limits_exceeded", {"open_positions": len(self._open),
                                                   "max": p.max_open}, symbol=symbol,
                          exchange=exchange, correlation_id=corr)
                break
            if rng.random() < 0.05:
                failed += 1
                await self._failed_open(now, symbol, exchange, corr)
                continue
            await self._create_position(now, symbol, exchange, side=None, correlation=corr)
            opened += 1
        event = "wave_target_reached" if opened >= target else "wave_buffer_exhausted"
        self.emit(event, {"target": target, "opened": opened}, correlation_id=corr)
        ms = int(rng.uniform(800, 6000))
        self.emit("wave_completed", {"wave_timestamp": ts, "opened": opened, "failed": failed,
                                     "validation_errors": validation, "duplicates": duplicates,
                                     "filtered": filtered, "duration_ms": ms},
                  correlation_id=corr)
        lg.info(now, "core.wave_signal_processor",
                f"🎯 Wave {ts} complete: {opened} positions opened, {failed} failed, "
                f"{validation} validation errors, {duplicates} duplicates")
        tried = opened + failed
        rate = 100.0 * opened / tried if tried else 0.0
        lg.info(now, "core.signal_processor_websocket",
                f"🌊 Wave processing complete in {ms}ms: ✅ {opened} successful, ❌ {failed} "
                f"failed, ⏭️ {filtered + duplicates + validation} skipped, 📊 Success rate: "
                f"{rate:.1f}%")

    async def _failed_open(self, now: datetime, symbol: str, exchange: str, corr: str) -> None:
        """Entry placed, then rolled back: a 'rolled_back' row, error events and log lines."""
        assert self._conn is not None
        entry = self._exchange_price(symbol, exchange)
        qty = self._quantity(entry)
        pid = await self._conn.fetchval(
            self.q["insert_position"], self._new_signal(), symbol, exchange, "long", qty, entry,
            entry, None, 0.0, 0.0, "rolled_back", now, now, 10.0, False, None,
            self.p.trailing_activation, self.p.trailing_callback, 2.5, 0.1, 0.0, False, now,
            0.0, "creation_failed")
        text = cat.exchange_error_text(self.rng, exchange, int(now.timestamp() * 1000))
        reason = f"Position creation rolled back: {text}"
        self.emit("signal_execution_failed", {"reason": "rolled_back"}, symbol=symbol,
                  exchange=exchange, correlation_id=corr, error=text)
        self.emit("position_creation_failed", {"stage": "stop_loss"}, symbol=symbol,
                  exchange=exchange, correlation_id=f"pos_{symbol}_{pid}", error=reason)
        self.log.error(now, "core.position_manager",
                       f"❌ Atomic operation failed: pos_{symbol}_{pid} - {text}")
        self.log.error(now, "core.position_manager",
                       f"Error opening position for {symbol}: {reason}")

    async def _protection_check(self, now: datetime, mark: datetime) -> None:
        assert self._conn is not None
        p, lg = self.p, self.log
        self.emit("periodic_sync_started", {"exchanges": list(self.exchanges)})
        aged = [x for x in self._open.values() if x.status == "active"
                and (now - x.opened_at).total_seconds() > p.aged_hours * 3600]
        breakeven = liquidated = 0
        check_real_s = 300.0 / self.speed
        p_liq = 1 - math.exp(-check_real_s / p.aged_liquidation_mean)
        for pos in aged:
            age_h = (now - pos.opened_at).total_seconds() / 3600
            lg.info(now, "core.aged_position_manager", f"📈 Processing aged position {pos.symbol}:")
            lg.info(now, "core.aged_position_manager",
                    f"   age={age_h:.1f}h, pnl={pos.pnl_percent():+.2f}%, side={pos.side}")
            self.emit("aged_position_detected", {"age_hours": round(age_h, 2),
                                                 "pnl_percent": round(pos.pnl_percent(), 4)},
                      pos=pos)
            if (not pos.breakeven and not pos.ts_activated and pos.has_sl
                    and pos.pnl_percent() > 0.2):
                pos.breakeven = True
                pos.stop = _round_price(pos.entry)
                breakeven += 1
                await self._conn.execute(self.q["move_stop"], pos.id, pos.stop, False, now)
                self.emit("stop_moved_to_breakeven", {"stop_price": pos.stop}, pos=pos)
            elif self.rng.random() < p_liq:
                liquidated += 1
                await self._close(pos, "aged_position", now)
        if aged:
            lg.info(now, "core.aged_position_manager",
                    f"📊 Aged positions processed: {len(aged)}, breakeven: {breakeven}, "
                    f"liquidated: {liquidated}")
        naked = [x for x in self._open.values() if x.status == "active" and not x.has_sl]
        if naked:
            self.emit("positions_without_sl_detected", {
                "count": len(naked), "symbols": [x.symbol for x in naked],
                "position_ids": [x.id for x in naked]})
            lg.warning(now, "core.position_manager",
                       f"⚠️ Found {len(naked)} positions without stop loss: "
                       + ", ".join(x.symbol for x in naked))
        for symbol, exchange in self._stale_ts[:5]:
            if (symbol, exchange) in self._keys:
                continue  # re-opened meanwhile: the upsert already replaced the row
            await self._conn.execute(self.q["delete_trailing_key"], symbol, exchange)
            self.emit("trailing_stop_removed", {"reason": "stale_state"}, symbol=symbol,
                      exchange=exchange)
            lg.warning(now, "protection.trailing_stop",
                       f"⚠️ {symbol}: TS state exists in DB but no position on exchange - "
                       "deleting stale TS state")
        del self._stale_ts[:5]
        self.emit("sync_completed", {"positions": len(self._open), "mismatches": 0})

    # ============================================================================ incidents
    async def _incidents(self, now: datetime, bot_hours: float) -> None:
        if bot_hours <= 0:
            return
        p = self.p
        rates = (("ws_reconnect", p.ws_reconnects_per_hour), ("zombies", p.zombies_per_hour),
                 ("health_check_failed", p.health_check_failed_per_hour),
                 ("order_error", p.order_errors_per_hour),
                 ("rate_limit", p.rate_limit_errors_per_hour),
                 ("traceback", p.traceback_errors_per_hour),
                 ("asyncio_noise", p.asyncio_noise_per_hour),
                 ("subscription_stale", p.subscription_stale_per_hour),
                 ("garbled_line", p.garbled_lines_per_hour),
                 ("emergency_close", p.emergency_close_per_hour))
        for kind, rate in rates:
            if rate > 0 and self.rng.random() < 1 - math.exp(-rate * bot_hours):
                await getattr(self, f"_inc_{kind}")(now)

    async def _inc_ws_reconnect(self, now: datetime) -> None:
        ex = self.rng.choice(self.exchanges)
        name, url, host = cat.WS_HOSTS.get(ex, (ex.title(), f"wss://{ex}", ex))
        reason = self.rng.choice(cat.WS_FAILURES).format(host=host)
        logger = self.rng.choice(("websocket.improved_stream", f"websocket.{ex}_stream"))
        self.emit("websocket_disconnected", {"stream": f"{ex}_private", "reason": reason},
                  exchange=ex)
        self.log.error(now, logger, f"Connection failed: {reason}")
        self.log.info(now, logger, "Waiting 5s before reconnect attempt 1")
        if ex == "binance" and self.rng.random() < 0.2:
            self.log.error(now, logger, "Failed to create listen key: 503")

        async def reconnect() -> None:
            self.log.info(self._now, logger, f"Connecting to {name}: {url}")
            self.log.info(self._now, logger, f"{name} WebSocket connected")
            self.emit("websocket_connected", {"stream": f"{ex}_private", "attempt": 1},
                      exchange=ex)

        self._later(5.0, reconnect)

    async def _inc_zombies(self, now: datetime) -> None:
        ex = "binance" if "binance" in self.exchanges else self.exchanges[0]
        n = self.rng.randint(1, 4)
        lg = self.log
        self.emit("zombie_orders_detected", {"count": n}, exchange=ex)
        lg.warning(now, "core.binance_zombie_manager", f"🧟 Found {n} zombie orders total:")
        orders = [(self.rng.choice(cat.SYMBOLS), self._order_id(ex)) for _ in range(n)]
        for sym, oid in orders:
            lg.warning(now, "core.binance_zombie_manager", f"  - {sym}: order {oid} (no position)")
        lg.info(now, "core.binance_zombie_manager", f"🧹 Starting cleanup of {n} zombie orders...")
        for sym, oid in orders:
            self.emit("zombie_order_cancelled", {"reason": "no_position"}, symbol=sym,
                      exchange=ex, order_id=oid)
        self.emit("zombie_cleanup_completed", {"cancelled": n, "failed": 0}, exchange=ex)

    async def _inc_health_check_failed(self, now: datetime) -> None:
        component, msg = self.rng.choice(cat.HEALTH_FAILURES)
        ex = self.rng.choice(self.exchanges)
        text = msg.format(n=self.rng.randint(30, 3000), exchange=ex)
        self.emit("health_check_failed", {"component": component, "details": text},
                  error=text, exchange=ex if component == "exchange" else None)
        self.log.warning(now, "core.health_monitor", f"⚠️ Health check failed: {component}: {text}")

    async def _inc_order_error(self, now: datetime) -> None:
        ex = self.rng.choice(self.exchanges)
        pos = self.rng.choice(list(self._open.values())) if self._open else None
        text = cat.exchange_error_text(self.rng, ex if pos is None else pos.exchange,
                                       int(now.timestamp() * 1000))
        ex = pos.exchange if pos else ex
        tb = cat.traceback_exchange_error(ex, text, self.rng)
        self.emit("order_error", {"operation": "create_order"}, pos=pos, exchange=ex, error=text,
                  stack=tb)
        self.log.error(now, "core.exchange_manager", f"ExchangeError: {text}", traceback=tb)

    async def _inc_rate_limit(self, now: datetime) -> None:
        # utils.rate_limiter wraps every exchange call: most of what it logs is not a rate limit
        # ("leverage not modified"); some are (Bybit 10006, Binance -1003).
        roll = self.rng.random()
        ex = self.rng.choice(self.exchanges)
        if roll < 0.5 and "bybit" in self.exchanges:
            text = 'bybit {"retCode":110043,"retMsg":"leverage not modified"}'
        elif ex == "bybit":
            text = ('bybit {"retCode":10006,"retMsg":"Too many visits. Exceeded the API Rate '
                    'Limit."}')
        else:
            text = (f'{ex} {{"code":-1003,"msg":"Too much request weight used; current limit is '
                    '2400 request weight per 1 MINUTE. Please use WebSocket Streams for live '
                    'updates to avoid polling the API."}')
        self.log.error(now, "utils.rate_limiter",
                       f"Unexpected error in rate limited function: {text}")
        if "110043" not in text:
            self.emit("exchange_error", {"kind": "rate_limit"}, exchange=text.split(" ", 1)[0],
                      error=text)

    async def _inc_traceback(self, now: datetime) -> None:
        kind = self.rng.randrange(3)
        lg = self.log
        if kind == 0:
            lg.error(now, "core.signal_processor_websocket",
                     'Error fetching signals: column "exchange_id" does not exist',
                     traceback=cat.traceback_undefined_column())
            self.emit("database_error", {"query": "get_signals_for_wave"},
                      error='column "exchange_id" does not exist')
        elif kind == 1:
            lg.error(now, "core.event_logger", "Failed to write event batch: Object of type "
                     "Decimal is not JSON serializable", traceback=cat.traceback_decimal_json())
            self.emit("error_occurred", {"component": "event_logger"},
                      error="TypeError: Object of type Decimal is not JSON serializable")
        else:
            ex = self.rng.choice(self.exchanges)
            sym = self.rng.choice(cat.SYMBOLS)
            market = cat.market_of(sym)
            msg = f"{ex} price of {market} must be greater than minimum price precision of 0.00001"
            lg.error(now, "core.stop_loss_manager", f"Failed to set Stop Loss for {sym}: {msg}",
                     traceback=cat.traceback_price_precision(ex, market))
            self.emit("stop_loss_set_failed", {"reason": "price_precision"}, symbol=sym,
                      exchange=ex, error=msg)

    async def _inc_asyncio_noise(self, now: datetime) -> None:
        self.log.error(now, "asyncio", "Unclosed client session",
                       traceback="client_session: <aiohttp.client.ClientSession object at "
                       f"0x7f{self.rng.getrandbits(40):010x}>")

    async def _inc_subscription_stale(self, now: datetime) -> None:
        ex = self.rng.choice(self.exchanges)
        sym = self.rng.choice([x.symbol for x in self._open.values()] or list(cat.SYMBOLS))
        self.emit("subscription_stale_detected", {"silence_s": self.rng.randint(60, 300)},
                  symbol=sym, exchange=ex)
        self.log.warning(now, "websocket.unified_price_monitor",
                         f"⚠️ {sym}: no price update for 120s, resubscribing")

        async def resubscribed() -> None:
            self.emit("subscription_resubscribed", {"attempt": 1}, symbol=sym, exchange=ex)
            self.log.info(self._now, "websocket.unified_price_monitor",
                          f"✅ {sym}: resubscribed")

        self._later(2.0, resubscribed)

    async def _inc_garbled_line(self, now: datetime) -> None:
        # a message cut in the middle of a multi-byte character: invalid UTF-8 in the file
        self.log.warning(now, "websocket.event_router", "Unparsed message from stream: {\"m\":\"",
                         raw=b"\xf0\x9f\x8c" + b'"}')

    async def _inc_emergency_close(self, now: datetime) -> None:
        positions = list(self._open.values())
        self.emit("emergency_close_all_triggered", {"reason": "daily_loss_limit",
                                                    "positions": len(positions)},
                  error="Emergency close all: daily loss limit reached")
        self.log.log(now, "core.position_manager", "CRITICAL",
                     f"🚨 EMERGENCY CLOSE ALL triggered: daily loss limit reached, closing "
                     f"{len(positions)} positions")
        for pos in positions:
            if pos.status == "active":
                await self._close(pos, "emergency_close", now)

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
