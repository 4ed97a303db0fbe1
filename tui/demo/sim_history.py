"""The bot's past for the demo and the benches: positions of N hours and their events.

:class:`History` plans the positions the bot opened and closed in ``[end - hours, end)`` -- at the
signal waves (minutes 5/20/35/50), each closed by one of its paths (the periodic sync after a
stop-loss or trailing-stop hit, a phantom close, the aged-position manager's market close) -- on
top of the positions already in the table, and yields the events of that time in time order:
background traffic dominated by ``position_updated`` (one per price tick) for positions open at
that instant only, the lifecycle events of each open and close, and the rare warning/error types
at about the bot's rates (~270 ``health_check_failed`` a day). Only the event types the chosen
bot version writes appear (``sim_versions``).

Every event that names a position names a real row, open at the event's ``created_at``: a
"positions with a price update" count never exceeds the open positions.

:func:`backfill` inserts the planned positions (ids from the table's own sequence) and COPYs the
events over a few connections while the next chunk is being generated.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import asyncpg

from tui.demo.sim_catalog import (
    CLEANUP_PHANTOM,
    EXIT_PHANTOM,
    EXIT_SYNC,
    FILTER_REASONS,
    STATUS_SYNC,
    SYMBOLS,
    aged_exit_reason,
    severity,
)
from tui.demo.sim_events import COLUMNS, SCHEMA, TABLE, Record
from tui.demo.sim_ledger import Ledger
from tui.demo.sim_versions import BotVersion
from tui.demo.sim_versions import version as _version

UTC = timezone.utc
EVENTS_PER_SECOND = 300_000 / 86_400  # the bot's normal rate (BOT_FACTS.md)
CHUNK_SECONDS = 300.0
AGED_HOURS = 3.0

# Background mix (per event): types that change no position's state, so they can fall anywhere
# in a position's life. Waves, opens, closes and aged checks come on top, on their own schedule.
_BACKGROUND: tuple[tuple[str, float], ...] = (
    ("position_updated", 0.9650),
    ("trailing_stop_updated", 0.0150),
    ("trailing_stop_sl_updated", 0.0150),
    ("trailing_stop_sl_update_failed", 0.0006),
    ("health_check_failed", 0.0009),
    ("exchange_error", 0.0008),
    ("zombie_orders_detected", 0.0001),
    ("zombie_order_cancelled", 0.0003),
)
_NO_POSITION = frozenset({"health_check_failed", "zombie_orders_detected",
                          "zombie_order_cancelled"})
_POSITION_COLUMNS = (
    "id", "signal_id", "symbol", "exchange", "side", "quantity", "entry_price", "current_price",
    "stop_loss_price", "stop_loss", "unrealized_pnl", "realized_pnl", "pnl", "pnl_percentage",
    "fees", "status", "exit_reason", "opened_at", "closed_at", "updated_at", "created_at",
    "leverage", "has_trailing_stop", "has_stop_loss", "trailing_activated",
    "trailing_activation_percent", "trailing_callback_percent", "signal_stop_loss_percent")


@dataclass
class Span:
    """A position's life as the history knows it (a row already in the table, or planned)."""

    id: int | None
    symbol: str
    exchange: str
    side: str
    entry: float
    quantity: float
    opened_at: datetime
    close_time: datetime | None      # None: still open at the end
    status: str
    exit_reason: str | None = None
    path: str | None = None          # sim_ledger's close paths
    exit_price: float | None = None
    kind: str = ""                   # how it ended: stop_loss, trailing_stop, emergency, ...
    bare: bool = False               # closed by a status change only (no closed_at)
    new: bool = False                # planned here, not yet in the table

    @property
    def sign(self) -> int:
        return 1 if self.side == "long" else -1

    def alive(self, a: float, b: float) -> tuple[float, float] | None:
        """The part of [a, b) (epoch s) when the position was open, if any."""
        lo = max(a, self.opened_at.timestamp())
        hi = min(b, self.close_time.timestamp() if self.close_time else b)
        return (lo, hi) if hi > lo else None


def _marks(start: datetime, end: datetime, period: float, offset: float) -> list[datetime]:
    t0 = start.timestamp()
    k = math.ceil((t0 - offset) / period)
    out = []
    t = k * period + offset
    while t < end.timestamp():
        out.append(datetime.fromtimestamp(t, UTC))
        t += period
    return out


def _json(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)


def _round(p: float) -> float:
    return round(float(f"{p:.5g}"), 8)  # what numeric(20,8) keeps


class History:
    """The plan of ``hours`` of the bot's past ending at ``end``, over ``existing`` positions."""

    def __init__(self, hours: float, *, rows: int | None = None, rate_multiplier: float = 1.0,
                 end: datetime | None = None, seed: int | None = None,
                 exchanges: Sequence[str] = ("binance", "bybit"),
                 bot_version: str | BotVersion | None = None, existing: Iterable[Span] = (),
                 target_open: int = 30, max_open: int = 70) -> None:
        self.rng = random.Random(seed)
        self.version = _version(bot_version)
        self.exchanges = list(exchanges)
        self.end = end or datetime.now(UTC)
        self.start = self.end - timedelta(hours=hours)
        span_s = (self.end - self.start).total_seconds()
        self.rows = rows if rows is not None else int(span_s * EVENTS_PER_SECOND
                                                      * rate_multiplier)
        self.existing = list(existing)
        self.new = self._plan(target_open, max_open)
        self.spans = self.existing + self.new

    # -- planning ----------------------------------------------------------------------------------
    def _plan(self, target_open: int, max_open: int) -> list[Span]:
        rng, start, end = self.rng, self.start, self.end
        if end <= start:
            return []
        last = end - timedelta(seconds=60)
        alive = sum(1 for s in self.existing if s.alive(start.timestamp(), start.timestamp() + 1))
        planned: list[Span] = []
        # positions already open when the history starts (opened at earlier waves)
        before = _marks(start - timedelta(hours=4), start, 900.0, 300.0)
        # Positions still open at the end are the table's (the simulator seeded them): one of
        # the history's own that would outlive it is left out, not cut short.
        for _ in range(max(0, target_open - alive) if before else 0):
            opened = rng.choice(before) + timedelta(seconds=rng.uniform(1, 20))
            close = start + timedelta(minutes=rng.expovariate(1 / 60))
            if close < last:
                planned.append(self._position(opened, close))
        closes = [s.close_time.timestamp() for s in planned if s.close_time]
        heapq.heapify(closes)
        for wave in _marks(start, end, 900.0, 300.0):
            t = wave.timestamp()
            while closes and closes[0] <= t:
                heapq.heappop(closes)
            busy = len(closes) + sum(1 for s in self.existing if s.alive(t, t + 1))
            for _ in range(rng.randint(3, 9)):
                opened = wave + timedelta(seconds=rng.uniform(1, 20))
                if opened >= last or busy >= max_open:
                    break
                busy += 1
                close = opened + timedelta(minutes=rng.lognormvariate(math.log(70), 0.8))
                if close >= last:
                    continue
                planned.append(self._position(opened, close))
                heapq.heappush(closes, close.timestamp())
        return planned

    def _position(self, opened: datetime, close: datetime) -> Span:
        rng = self.rng
        side = "long" if rng.random() < 0.55 else "short"
        entry = _round(10 ** rng.uniform(-4.0, 1.5))
        qty = float(f"{rng.choice((50, 100, 150, 200, 250)) / entry:.6g}")
        life_h = (close - opened).total_seconds() / 3600
        span = Span(None, rng.choice(SYMBOLS), rng.choice(self.exchanges), side, entry, qty,
                    opened, close, "closed", new=True)
        roll = rng.random()
        if life_h >= AGED_HOURS and roll < 0.5:
            move = rng.uniform(0.05, 1.5)
            span.kind, span.path, span.exit_reason = "aged", "bot", aged_exit_reason(move)
        elif roll < 0.06:
            move = rng.gauss(0, 1.5)
            span.kind, span.path = "manual", "phantom"
            span.bare = rng.random() < 0.5
            span.exit_reason = None if span.bare else EXIT_PHANTOM
        else:
            kind = rng.random()
            if kind < 0.55:
                span.kind, move = "stop_loss", -rng.uniform(2.0, 3.6)
            elif kind < 0.95:
                span.kind, move = "trailing_stop", rng.uniform(0.8, 4.0)
            else:
                span.kind, move = "emergency", -rng.uniform(3.0, 4.0)
            span.path, span.status, span.exit_reason = "sync", STATUS_SYNC, EXIT_SYNC
        span.exit_price = _round(entry * (1 + span.sign * move / 100))
        return span

    # -- rows --------------------------------------------------------------------------------------
    def assign_ids(self, ids: Sequence[int]) -> None:
        for span, pid in zip(self.new, ids, strict=True):
            span.id = pid

    def position_rows(self) -> list[tuple]:
        """The planned positions in ``_POSITION_COLUMNS`` order (all closed)."""
        rows = []
        for i, s in enumerate(self.new):
            assert s.id is not None and s.close_time is not None and s.exit_price is not None
            pct = round(s.sign * (s.exit_price / s.entry - 1) * 100, 4)
            pnl = round(s.sign * (s.exit_price - s.entry) * s.quantity, 8)
            fees = round(s.entry * s.quantity * 0.0005 + s.exit_price * s.quantity * 0.00055, 8)
            stop = _round(s.entry * (1 - s.sign * 0.025))
            if s.bare:  # the synchronizer wrote the status only
                values = (s.entry, None, None, None, None, 0.0, "closed", None, None)
            else:
                values = (s.exit_price, 0.0, pnl, pnl, pct, fees, s.status, s.exit_reason,
                          s.close_time)
            current, unrealized, realized, pnl_col, pct_col, fee, status, reason, closed = values
            rows.append((s.id, 10_000_000 + i, s.symbol, s.exchange, s.side, s.quantity, s.entry,
                         current, stop, stop, unrealized, realized, pnl_col, pct_col, fee, status,
                         reason, s.opened_at, closed, s.close_time, s.opened_at, 10.0, True,
                         True, s.kind == "trailing_stop", 1.5, 0.5, 2.5))
        return rows

    def record(self, ledger: Ledger) -> None:
        for s in self.new:
            assert s.id is not None and s.close_time is not None and s.path is not None
            ledger.opened_row(s.id, s.symbol, s.exchange, s.opened_at, "active")
            ledger.closed_row(s.id, status=s.status, path=s.path, close_time=s.close_time,
                              closed_at=None if s.bare else s.close_time,
                              exit_reason=s.exit_reason)

    # -- events ------------------------------------------------------------------------------------
    def chunks(self) -> Iterator[list[Record]]:
        """Time-ordered chunks (one per 5 minutes) of exactly ``rows`` events."""
        rng, start, end = self.rng, self.start, self.end
        span_s = (end - start).total_seconds()
        if self.rows <= 0 or span_s <= 0:
            return
        # a wave just before the end completes after it: the history stops at ``end``
        structured = sorted((r for r in self._structured() if start <= r[10] < end),
                            key=lambda r: r[10])
        if len(structured) > self.rows:
            structured = sorted(rng.sample(structured, self.rows), key=lambda r: r[10])
        background = self.rows - len(structured)
        waves = {int(w.timestamp() // CHUNK_SECONDS) for w in _marks(start, end, 900.0, 300.0)}
        bounds = [start]
        while bounds[-1] < end:
            bounds.append(min(end, bounds[-1] + timedelta(seconds=CHUNK_SECONDS)))
        # busier in the 5 minutes after a wave
        weights = [(b - a).total_seconds()
                   * (1.6 if int(a.timestamp() // CHUNK_SECONDS) in waves else 1.0)
                   for a, b in zip(bounds, bounds[1:])]
        total_w = sum(weights)
        si = acc = done = 0
        by_open = sorted(self.spans, key=lambda s: s.opened_at)
        oi = 0
        current: list[Span] = []  # opened before the chunk's end, not known closed before it
        for (a, b), w in zip(zip(bounds, bounds[1:]), weights):
            acc += w
            target = round(background * acc / total_w)
            n, done = target - done, target
            chunk: list[Record] = []
            while si < len(structured) and structured[si][10] < b:
                chunk.append(structured[si])
                si += 1
            while oi < len(by_open) and by_open[oi].opened_at < b:
                current.append(by_open[oi])
                oi += 1
            current = [s for s in current if s.close_time is None or s.close_time > a]
            alive = [(s, *window) for s in current
                     if (window := s.alive(a.timestamp(), b.timestamp()))]
            chunk.extend(self._background(a, b, n, alive))
            chunk.sort(key=lambda r: r[10])
            yield chunk
        if si < len(structured):  # rounding at the very end
            yield structured[si:]

    def _rec(self, event_type: str, data: str | None, when: datetime, *,
             corr: str | None = None, span: Span | None = None, symbol: str | None = None,
             exchange: str | None = None, error: str | None = None) -> Record:
        self.version.check(event_type)
        return (event_type, data, corr, span.id if span else None, None,
                span.symbol if span else symbol, span.exchange if span else exchange,
                severity(event_type), error, None, when)

    def _structured(self) -> list[Record]:
        rng, start, end = self.rng, self.start, self.end
        out: list[Record] = []
        s1 = timedelta(seconds=1)
        waves_written = self.version.writes_wave_events
        for wave in _marks(start, end, 900.0, 300.0):
            ts = (wave - timedelta(minutes=20)).replace(second=0, microsecond=0).isoformat()
            corr = f"wave_{ts}"
            opened = [s for s in self.spans if wave <= s.opened_at < wave + 30 * s1]
            if waves_written:
                n_signals = max(10, int(rng.gauss(85, 15)))
                out.append(self._rec("wave_detected", f'{{"wave_timestamp": "{ts}", '
                                     f'"signal_count": {n_signals}}}', wave, corr=corr))
                for _ in range(rng.randint(3, 8)):
                    sym = rng.choice(SYMBOLS)
                    out.append(self._rec(
                        "signal_filtered", f'{{"symbol": "{sym}", "reason": '
                        f'"{rng.choice(FILTER_REASONS)}"}}', wave + rng.uniform(0.2, 3) * s1,
                        corr=corr, symbol=sym, exchange=rng.choice(self.exchanges)))
                for s in opened:
                    out.append(self._rec("signal_executed", f'{{"symbol": "{s.symbol}", '
                                         f'"position_id": {s.id}}}', s.opened_at, corr=corr,
                                         symbol=s.symbol, exchange=s.exchange))
                out.append(self._rec("wave_completed", f'{{"wave_timestamp": "{ts}", "opened": '
                                     f'{len(opened)}, "failed": 0}}', wave + 25 * s1, corr=corr))
            for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
                sym, ex = rng.choice(SYMBOLS), rng.choice(self.exchanges)
                out.append(self._rec("position_duplicate_prevented",
                                     f'{{"symbol": "{sym}", "exchange": "{ex}"}}',
                                     wave + rng.uniform(1, 20) * s1, symbol=sym, exchange=ex))
        for s in self.spans:
            if start <= s.opened_at < end:
                out.extend(self._open_events(s))
            if s.kind == "trailing_stop" and s.close_time is not None:
                # it ended at its trailing stop: activated on the way up
                when = s.opened_at + (s.close_time - s.opened_at) * rng.uniform(0.3, 0.8)
                if start <= when < end:
                    out.append(self._rec("trailing_stop_activated", _json({
                        "symbol": s.symbol, "position_id": s.id, "entry_price": s.entry}),
                        when, span=s))
            if s.close_time is not None and start <= s.close_time < end:
                out.extend(self._close_events(s))
        if self.version.writes_aged_detected:
            for check in _marks(start, end, 300.0, 0.0):
                t = check.timestamp()
                for s in self.spans:
                    if (s.alive(t, t + 1) and
                            (check - s.opened_at).total_seconds() > AGED_HOURS * 3600):
                        age = (check - s.opened_at).total_seconds() / 3600
                        out.append(self._rec("aged_position_detected",
                                             f'{{"symbol": "{s.symbol}", "age_hours": {age:.2f}}}',
                                             check + 0.5 * s1, span=s))
        return out

    def _open_events(self, s: Span) -> list[Record]:
        corr = f"pos_{s.symbol}_{s.id}"
        t = s.opened_at
        data = (f'{{"symbol": "{s.symbol}", "position_id": {s.id}, "side": "{s.side}", '
                f'"entry_price": {s.entry:.6g}}}')
        out = []
        if self.version.open_writes_position_created:
            out.append(self._rec("position_created", data, t, corr=corr, span=s))
        out.append(self._rec("order_filled", data, t + timedelta(seconds=0.6), corr=corr, span=s))
        out.append(self._rec("trailing_stop_created", data, t + timedelta(seconds=1.2), corr=corr,
                             span=s))
        return out

    def _close_events(self, s: Span) -> list[Record]:
        assert s.close_time is not None
        t, rng = s.close_time, self.rng
        base = {"symbol": s.symbol, "position_id": s.id}
        out = []
        if s.path == "sync":
            hit = max(s.opened_at, t - timedelta(seconds=rng.uniform(1, 120)))
            if s.kind in ("stop_loss", "trailing_stop") and rng.random() < 0.5:
                out.append(self._rec("stop_loss_triggered", _json({**base, "side": s.side}),
                                     hit, span=s))
            elif s.kind == "emergency" and rng.random() < 0.5:
                out.append(self._rec("warning_raised", _json({
                    "warning_type": "ts_emergency_close_instant_cross", "symbol": s.symbol,
                    "close_price": s.exit_price}), hit, symbol=s.symbol, exchange=s.exchange))
            reason = EXIT_SYNC
        elif s.path == "phantom":
            out.append(self._rec("phantom_position_detected", _json({
                "exchange": s.exchange, "count": 1, "symbols": [s.symbol]}), t,
                exchange=s.exchange))
            reason = CLEANUP_PHANTOM
        elif s.path == "bot":
            reason = s.exit_reason or "manual"
        else:
            return out  # a roll-back: its events were written when it happened
        out.append(self._rec("trailing_stop_removed", _json({**base, "reason": reason}), t,
                             span=s))
        out.append(self._rec("position_cleanup", _json({
            "symbol": s.symbol, "exchange": s.exchange, "reason": reason}), t,
            symbol=s.symbol, exchange=s.exchange))
        if s.path == "phantom":
            out.append(self._rec("phantom_position_closed",
                                 _json({**base, "reason": "not_on_exchange"}), t, span=s))
        elif s.path == "bot":
            out.append(self._rec("position_closed", _json({
                **base, "reason": reason, "exit_price": s.exit_price}), t, span=s))
        return out

    def _background(self, a: datetime, b: datetime, n: int,
                    alive: list[tuple[Span, float, float]]) -> list[Record]:
        if n <= 0:
            return []
        rng = self.rng
        types = rng.choices([t for t, _ in _BACKGROUND], weights=[w for _, w in _BACKGROUND], k=n)
        rand, gauss = rng.random, rng.gauss
        fromts = datetime.fromtimestamp
        a_ts, b_ts = a.timestamp(), b.timestamp()
        exchanges = self.exchanges
        n_alive = len(alive)
        out: list[Record] = []
        append = out.append
        for et in types:
            if et in _NO_POSITION or not n_alive:
                if et not in _NO_POSITION:
                    et = "health_check_failed"  # nothing open at all: the bot only checks itself
                ex = exchanges[int(rand() * len(exchanges))]
                append((et, None, None, None, None, None, ex, severity(et), None, None,
                        fromts(a_ts + rand() * (b_ts - a_ts), UTC)))
                continue
            span, lo, hi = alive[int(rand() * n_alive)]
            when = fromts(lo + rand() * (hi - lo), UTC)
            if et == "position_updated":
                price = span.entry * (1 + 0.01 * gauss(0.0, 1.0))
                append((et, f'{{"symbol": "{span.symbol}", "position_id": {span.id}, '
                        f'"new_price": {price:.6g}}}', None, span.id, None, span.symbol,
                        span.exchange, "INFO", None, None, when))
                continue
            error = f"{span.exchange} request failed" if et == "exchange_error" else None
            append((et, f'{{"symbol": "{span.symbol}", "position_id": {span.id}}}', None,
                    span.id, None, span.symbol, span.exchange, severity(et), error, None, when))
        return out


def make_history(hours: float, *, rows: int | None = None, rate_multiplier: float = 1.0,
                 end: datetime | None = None, seed: int | None = None,
                 exchanges: Sequence[str] = ("binance", "bybit"),
                 bot_version: str | BotVersion | None = None,
                 first_position_id: int = 100_000) -> Iterator[list[Record]]:
    """The events of :class:`History` without a database (positions numbered from
    ``first_position_id``); ``rows`` gives the exact total, else the bot's rate x multiplier."""
    history = History(hours, rows=rows, rate_multiplier=rate_multiplier, end=end, seed=seed,
                      exchanges=exchanges, bot_version=bot_version)
    history.assign_ids(range(first_position_id, first_position_id + len(history.new)))
    return history.chunks()


def _queries() -> dict[str, str]:
    from tui.demo.simulator import load_queries

    return load_queries()


async def _existing(conn: asyncpg.Connection, sql: str) -> list[Span]:
    spans = []
    for r in await conn.fetch(sql):
        path = None
        if r["close_time"] is not None:
            path = ("rolled_back" if r["status"] == "rolled_back" else
                    "sync" if r["exit_reason"] == EXIT_SYNC else
                    "phantom" if r["exit_reason"] in (None, EXIT_PHANTOM) else "bot")
        spans.append(Span(r["id"], r["symbol"], r["exchange"], r["side"], r["entry_price"],
                          r["quantity"], r["opened_at"], r["close_time"], r["status"],
                          r["exit_reason"], path))
    return spans


async def backfill(dsn: str, hours: float, *, rows: int | None = None,
                   rate_multiplier: float = 1.0, end: datetime | None = None,
                   seed: int | None = None, exchanges: Sequence[str] = ("binance", "bybit"),
                   bot_version: str | BotVersion | None = None, ledger: Ledger | None = None,
                   connections: int = 3, batch_rows: int = 25_000) -> int:
    """Insert the planned positions and COPY ``History`` events into ``monitoring.events``;
    return the number of events inserted. ``ledger`` records both."""
    q = _queries()
    conns = [await asyncpg.connect(dsn, server_settings={"application_name": "botsim-backfill"})
             for _ in range(max(1, connections))]
    idle: asyncio.Queue[asyncpg.Connection] = asyncio.Queue()
    for conn in conns:
        idle.put_nowait(conn)
    tasks: set[asyncio.Task[None]] = set()
    inserted = 0

    async def copy(conn: asyncpg.Connection, batch: list[Record]) -> None:
        try:
            await conn.copy_records_to_table(TABLE, schema_name=SCHEMA, columns=COLUMNS,
                                             records=batch)
        finally:
            idle.put_nowait(conn)

    try:
        first = conns[0]
        history = History(hours, rows=rows, rate_multiplier=rate_multiplier, end=end, seed=seed,
                          exchanges=exchanges, bot_version=bot_version,
                          existing=await _existing(first, q["history_positions"]))
        ids = [r["id"] for r in await first.fetch(q["reserve_position_ids"], len(history.new))]
        history.assign_ids(ids)
        await first.copy_records_to_table("positions", schema_name=SCHEMA,
                                          columns=_POSITION_COLUMNS,
                                          records=history.position_rows())
        if ledger is not None:
            history.record(ledger)
        buf: list[Record] = []
        for chunk in history.chunks():
            if ledger is not None:
                for record in chunk:
                    ledger.event(record[10], record[0])
            buf.extend(chunk)
            if len(buf) < batch_rows:
                continue
            conn = await idle.get()
            _raise_failed(tasks)
            task = asyncio.create_task(copy(conn, buf), name="botsim-backfill-copy")
            tasks.add(task)
            inserted += len(buf)
            buf = []
            await asyncio.sleep(0)  # let the COPY start streaming while we generate more
        if buf:
            conn = await idle.get()
            tasks.add(asyncio.create_task(copy(conn, buf), name="botsim-backfill-copy"))
            inserted += len(buf)
        await asyncio.gather(*tasks)
        return inserted
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for conn in conns:
            await conn.close()


def _raise_failed(tasks: set[asyncio.Task[None]]) -> None:
    for task in [t for t in tasks if t.done()]:
        tasks.discard(task)
        task.result()  # re-raises a failed COPY
