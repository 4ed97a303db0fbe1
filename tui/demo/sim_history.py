"""Bulk history for benches: N hours of past ``events`` with the bot's type mix and rhythm.

:func:`make_history` yields time-ordered chunks of event records (``sim_events.COLUMNS`` order):
background traffic dominated by ``position_updated`` (one per price tick), heavier just after the
signal waves at minutes 5/20/35/50, each wave with its burst of ``wave_detected`` ...
``position_created``/``order_*``/``stop_loss_placed``/``trailing_stop_created`` ...
``wave_completed``, the protection checks every 5 minutes (aged positions, sync), and the rare
error/warning/critical types at about the rates the bot shows (~270 ``health_check_failed`` a day).
:func:`backfill` COPYs them over a few connections while the next chunk is being generated.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone

import asyncpg

from tui.demo.sim_catalog import FILTER_REASONS, SYMBOLS, severity
from tui.demo.sim_events import COLUMNS, SCHEMA, TABLE, Record

EVENTS_PER_SECOND = 300_000 / 86_400  # the bot's normal rate (BOT_FACTS.md)
CHUNK_SECONDS = 300.0

# Background mix (per event). Waves and protection checks come on top, on their own schedule.
_BACKGROUND: tuple[tuple[str, float], ...] = (
    ("position_updated", 0.9420),
    ("trailing_stop_updated", 0.0150),
    ("trailing_stop_sl_updated", 0.0140),
    ("stop_loss_updated", 0.0040),
    ("order_filled", 0.0030),
    ("stop_loss_triggered", 0.0025),
    ("position_closed", 0.0030),
    ("trailing_stop_activated", 0.0012),
    ("health_check_failed", 0.0009),
    ("subscription_stale_detected", 0.0008),
    ("subscription_resubscribed", 0.0008),
    ("position_verified", 0.0040),
    ("order_error", 0.0006),
    ("exchange_error", 0.0003),
    ("stop_loss_error", 0.0001),
    ("trailing_stop_sl_update_failed", 0.0002),
    ("websocket_disconnected", 0.0003),
    ("websocket_connected", 0.0003),
    ("zombie_orders_detected", 0.0001),
    ("zombie_order_cancelled", 0.0003),
    ("warning_raised", 0.0004),
    ("stop_moved_to_breakeven", 0.0002),
    ("order_cancelled", 0.0010),
    ("emergency_close_all_triggered", 0.000002),
)
_BG_TYPES = [t for t, _ in _BACKGROUND]


def _cum(weights: Sequence[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out


_BG_CUM = _cum([w for _, w in _BACKGROUND])
_SEV = {t: severity(t) for t in _BG_TYPES}


class _Pool:
    """~70 open (position_id, symbol, exchange, price) that churn as waves open new ones."""

    def __init__(self, rng: random.Random, exchanges: Sequence[str], first_id: int) -> None:
        self.rng = rng
        self.exchanges = list(exchanges)
        self.next_id = first_id
        self.items: list[list] = [self._new() for _ in range(70)]

    def _new(self) -> list:
        self.next_id += 1
        price = 10 ** self.rng.uniform(-4, 1.5)
        return [self.next_id, self.rng.choice(SYMBOLS), self.rng.choice(self.exchanges), price]

    def open(self) -> list:
        item = self._new()
        self.items[self.rng.randrange(len(self.items))] = item
        return item

    def pick(self) -> list:
        return self.items[self.rng.randrange(len(self.items))]


def _marks(start: datetime, end: datetime, period: float, offset: float) -> list[datetime]:
    t0 = start.timestamp()
    k = math.ceil((t0 - offset) / period)
    out = []
    t = k * period + offset
    while t < end.timestamp():
        out.append(datetime.fromtimestamp(t, timezone.utc))
        t += period
    return out


def _rec(event_type: str, data: str | None, when: datetime, *, corr: str | None = None,
         pos: list | None = None, order_id: str | None = None,
         error: str | None = None) -> Record:
    return (event_type, data, corr, pos[0] if pos else None, order_id,
            pos[1] if pos else None, pos[2] if pos else None, severity(event_type), error, None,
            when)


def _structured(start: datetime, end: datetime, rng: random.Random, pool: _Pool) -> list[Record]:
    out: list[Record] = []
    s = timedelta(seconds=1)
    for wave in _marks(start, end, 900.0, 300.0):
        ts = (wave - timedelta(minutes=20)).replace(second=0, microsecond=0).isoformat()
        corr = f"wave_{ts}"
        n_signals = max(10, int(rng.gauss(85, 15)))
        out.append(_rec("wave_detected", f'{{"wave_timestamp": "{ts}", "signal_count": '
                        f'{n_signals}}}', wave, corr=corr))
        out.append(_rec("signals_received", f'{{"count": {n_signals}}}', wave + 0.05 * s,
                        corr=corr))
        out.append(_rec("wave_processing_started", f'{{"wave_timestamp": "{ts}"}}', wave + 0.1 * s,
                        corr=corr))
        t = 0.2
        for _ in range(rng.randint(8, 20)):
            t += rng.uniform(0.02, 0.2)
            out.append(_rec("signal_filtered", f'{{"symbol": "{rng.choice(SYMBOLS)}", "reason": '
                            f'"{rng.choice(FILTER_REASONS)}"}}', wave + t * s, corr=corr))
        opened = rng.randint(3, 9)
        for _ in range(opened):
            pos = pool.open()
            t += rng.uniform(0.2, 0.8)
            pcorr = f"pos_{pos[1]}_{pos[0]}"
            oid = str(rng.randrange(10**9, 10**10))
            data = f'{{"side": "long", "entry_price": {pos[3]:.6g}}}'
            for j, et in enumerate(("position_created", "order_placed", "order_filled",
                                    "stop_loss_placed", "trailing_stop_created")):
                out.append(_rec(et, data, wave + (t + 0.3 * j) * s, corr=pcorr, pos=pos,
                                order_id=oid if et.startswith("order") else None))
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            out.append(_rec("position_duplicate_prevented", '{"reason": "already_open"}',
                            wave + (t + rng.uniform(0, 2)) * s, corr=corr, pos=pool.pick()))
        failed = 1 if rng.random() < 0.3 else 0
        if failed:
            out.append(_rec("signal_execution_failed", '{"reason": "order_rejected"}',
                            wave + (t + rng.uniform(0, 2)) * s, corr=corr,
                            error="Position creation rolled back"))
        out.append(_rec("wave_completed", f'{{"opened": {opened}, "failed": {failed}, '
                        f'"duration_ms": {int((t + 2) * 1000)}}}', wave + (t + 2.5) * s, corr=corr))
    for check in _marks(start, end, 300.0, 0.0):
        out.append(_rec("periodic_sync_started", None, check))
        for _ in range(rng.randint(0, 6)):
            out.append(_rec("aged_position_detected", f'{{"age_hours": '
                            f'{rng.uniform(3, 6):.2f}}}', check + 0.5 * s, pos=pool.pick()))
        if rng.random() < 0.02:
            out.append(_rec("positions_without_sl_detected", '{"count": 1}', check + 0.6 * s))
        out.append(_rec("sync_completed", None, check + 1.5 * s))
    out.sort(key=lambda r: r[10])
    return out


def make_history(hours: float, *, rows: int | None = None, rate_multiplier: float = 1.0,
                 end: datetime | None = None, seed: int | None = None,
                 exchanges: Sequence[str] = ("binance", "bybit"),
                 first_position_id: int = 100_000) -> Iterator[list[Record]]:
    """Yield time-ordered chunks (one per 5 minutes) covering ``[end - hours, end)``.

    ``rows`` gives the exact total; otherwise the bot's rate (~300k/day) x ``rate_multiplier``.
    Position ids are synthetic (from ``first_position_id``): events reference positions softly.
    """
    rng = random.Random(seed)
    end = end or datetime.now(timezone.utc)
    start = end - timedelta(hours=hours)
    span = (end - start).total_seconds()
    if rows is None:
        rows = int(span * EVENTS_PER_SECOND * rate_multiplier)
    if rows <= 0 or span <= 0:
        return
    pool = _Pool(rng, exchanges, first_position_id)
    structured = _structured(start, end, rng, pool)
    if len(structured) > rows:
        structured = sorted(rng.sample(structured, rows), key=lambda r: r[10])
    background = rows - len(structured)
    waves = {int(w.timestamp() // CHUNK_SECONDS) for w in _marks(start, end, 900.0, 300.0)}

    # chunk boundaries and weights: busier in the 5 minutes after a wave
    bounds = [start]
    while bounds[-1] < end:
        bounds.append(min(end, bounds[-1] + timedelta(seconds=CHUNK_SECONDS)))
    weights = []
    for a, b in zip(bounds, bounds[1:]):
        w = (b - a).total_seconds()
        weights.append(w * (1.6 if int(a.timestamp() // CHUNK_SECONDS) in waves else 1.0))
    total_w = sum(weights)

    si = 0
    acc = 0.0
    done = 0
    for (a, b), w in zip(zip(bounds, bounds[1:]), weights):
        acc += w
        target = round(background * acc / total_w)
        n, done = target - done, target
        chunk: list[Record] = []
        while si < len(structured) and structured[si][10] < b:
            chunk.append(structured[si])
            si += 1
        chunk.extend(_background(a, (b - a).total_seconds(), n, rng, pool))
        chunk.sort(key=lambda r: r[10])
        yield chunk
    if si < len(structured):  # rounding at the very end
        yield structured[si:]


def _background(start: datetime, length: float, n: int, rng: random.Random,
                pool: _Pool) -> list[Record]:
    if n <= 0:
        return []
    types = rng.choices(_BG_TYPES, cum_weights=_BG_CUM, k=n)
    rand = rng.random
    gauss = rng.gauss
    items = pool.items
    n_items = len(items)
    base = start.timestamp()
    fromts = datetime.fromtimestamp
    utc = timezone.utc
    out: list[Record] = []
    append = out.append
    for et in types:
        pos = items[int(rand() * n_items)]
        when = fromts(base + rand() * length, utc)
        if et == "position_updated":
            pos[3] *= 1.0 + 0.002 * gauss(0.0, 1.0)
            append((et, f'{{"price": {pos[3]:.6g}, "pnl_percent": {gauss(0.0, 1.2):.2f}}}', None,
                    pos[0], None, pos[1], pos[2], "INFO", None, None, when))
            continue
        error = None
        if _SEV[et] in ("ERROR", "CRITICAL"):
            error = f"{et.replace('_', ' ')}: {pos[2]} request failed"
        append((et, f'{{"price": {pos[3]:.6g}}}', None, pos[0], None, pos[1], pos[2], _SEV[et],
                error, None, when))
    return out


async def backfill(dsn: str, hours: float, *, rows: int | None = None,
                   rate_multiplier: float = 1.0, end: datetime | None = None,
                   seed: int | None = None, exchanges: Sequence[str] = ("binance", "bybit"),
                   connections: int = 3, batch_rows: int = 25_000) -> int:
    """COPY ``make_history(...)`` into ``monitoring.events``; return the number of rows inserted."""
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
        first_id = 100_000 + await conns[0].fetchval(
            "SELECT coalesce(max(id), 0) FROM monitoring.positions")
        buf: list[Record] = []
        for chunk in make_history(hours, rows=rows, rate_multiplier=rate_multiplier, end=end,
                                  seed=seed, exchanges=exchanges, first_position_id=first_id):
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
