"""Poll round-trip latency on the reference schema (the real dump's indexes and triggers), with
1M and 10M rows in `events`, ~3,000 positions, and a live batched writer.

For each size: the events table is filled server-side with the bot's type mix (position_updated
dominating, ~300k rows a day spread back in time), ANALYZEd, then botmon's steady-state poll
(`DbPoller.poll`: one prepared statement, generic plan, one round trip) runs while an
independent writer inserts the bot's 10x rate in batches from two connections (created_at
stamped up to 4 s before commit, ids committing out of order), in its own process like the
bot. Also printed: a plain
one-statement baseline (`SELECT now()` plus the open positions) on the same connection kind,
the poll's EXPLAIN ANALYZE (planning / execution), and whether every written row was streamed
exactly once.

Target (issue 9): p50 <= 2 ms at 1M and at 10M events, one round trip, exact.

    python bench/poll_latency.py [--polls 600] [--sizes 1000000,10000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import asyncpg

from tui.config import load_config
from tui.demo.embedded import EmbeddedPostgres, create_bot_database
from tui.sources.connect import connect
from tui.sources.db import DbPoller

# The bot's mix (BOT_FACTS: position_updated dominates ~300k rows a day).
FILL = """
INSERT INTO monitoring.events (event_type, event_data, position_id, symbol, exchange, severity,
                               created_at)
SELECT CASE WHEN r < 0.86 THEN 'position_updated'
            WHEN r < 0.90 THEN 'trailing_stop_updated'
            WHEN r < 0.93 THEN 'position_verified'
            WHEN r < 0.95 THEN 'quantity_updated'
            WHEN r < 0.96 THEN 'sync_started'
            WHEN r < 0.97 THEN 'sync_completed'
            WHEN r < 0.975 THEN 'trailing_stop_sl_updated'
            WHEN r < 0.98 THEN 'health_check_failed'
            WHEN r < 0.985 THEN 'order_filled'
            WHEN r < 0.99 THEN 'zombie_orders_detected'
            WHEN r < 0.995 THEN 'trailing_stop_created'
            ELSE 'exchange_error' END,
       -- The open positions (ids 1..100) are the ones the bot writes about.
       '{"price": 1.2345}'::jsonb, (g % 100) + 1, 'S' || ((g % 100) + 1) || 'USDT',
       CASE WHEN g % 2 = 0 THEN 'binance' ELSE 'bybit' END,
       CASE WHEN r > 0.995 THEN 'ERROR' ELSE 'INFO' END,
       now() - make_interval(secs => ($2 - g) * 86400.0 / 300000)
FROM (SELECT g, random() AS r FROM generate_series($1::bigint, $2::bigint - 1) AS g) AS s
"""
POSITIONS = """
INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price, current_price,
                                  stop_loss_price, has_stop_loss, status, opened_at, closed_at)
SELECT 'S' || g || 'USDT', CASE WHEN g % 2 = 0 THEN 'binance' ELSE 'bybit' END, 'long', 1, 1,
       1.01, 0.97, true, CASE WHEN g <= 100 THEN 'active' ELSE 'closed' END,
       now() - make_interval(mins => g), CASE WHEN g > 100 THEN now() END
FROM generate_series(1, 3000) AS g
"""
TRAILING = """
INSERT INTO monitoring.trailing_stop_state (symbol, exchange, position_id, state, is_activated,
    current_stop_price, entry_price, side, quantity, created_at)
SELECT symbol, exchange, id, 'waiting', false, 0.97, 1, 'long', 1, now()
FROM monitoring.positions WHERE id <= 250
"""
# Price ticks move the open positions too (the bot writes current price and PnL per tick).
TICK = """
UPDATE monitoring.positions
SET current_price = current_price * (1 + (random() - 0.5) / 100),
    unrealized_pnl = coalesce(unrealized_pnl, 0) + random() - 0.5
WHERE id IN (SELECT (random() * 99)::int + 1 FROM generate_series(1, $1))
"""
WRITE = """
INSERT INTO monitoring.events (event_type, position_id, symbol, exchange, severity, created_at)
SELECT 'position_updated', (g % 100) + 1, 'S' || ((g % 100) + 1) || 'USDT',
       CASE WHEN g % 2 = 0 THEN 'binance' ELSE 'bybit' END, 'INFO',
       now() - random() * interval '4 seconds'
FROM generate_series(1, $1) AS g
RETURNING id
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def fill(dsn: str, have: int, want: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        step = 1_000_000
        for low in range(have, want, step):
            await conn.execute(FILL, low, min(want, low + step))
        await conn.execute("VACUUM ANALYZE monitoring.events")
    finally:
        await conn.close()


def writer_process(dsn: str, stop, written) -> multiprocessing.Process:
    """The writer in a process of its own, like the bot: its Python work (and the GIL) must not
    show up in the poll's measured round trip."""
    process = multiprocessing.get_context("spawn").Process(
        target=run_writer, args=(dsn, stop, written), name="bot-writer", daemon=True)
    process.start()
    return process


def run_writer(dsn: str, stop, written) -> None:
    ids: list[int] = []
    asyncio.run(writer(dsn, stop, ids))
    written.extend(ids)


async def writer(dsn: str, stop, written: list[int]) -> None:
    """The bot's event logger at 10x: batches of up to 100 every ~0.25 s from two connections,
    one of which holds its transaction open a little (ids commit out of order), and price ticks
    on ~10 open positions a batch (about 40 position updates a second)."""
    conns = [await asyncpg.connect(dsn) for _ in range(2)]
    try:
        turn = 0
        while not stop.is_set():
            conn = conns[turn % 2]
            async with conn.transaction():
                rows = await conn.fetch(WRITE, 20 + turn % 80)
                await conn.execute(TICK, 10)
                if turn % 2:
                    await asyncio.sleep(0.05)
            written.extend(r["id"] for r in rows)
            turn += 1
            await asyncio.sleep(0.25)
    finally:
        for conn in conns:
            await conn.close()


async def plain_baseline(config, polls: int) -> float:
    conn = await connect(config, plan_cache_mode="force_generic_plan")
    sql = ("SELECT now(), array_agg(id) FROM monitoring.positions "
           "WHERE status = ANY($1::text[])")
    statuses = list(config.positions.open_statuses)
    times = []
    try:
        for _ in range(polls):
            started = time.perf_counter()
            await conn.fetchrow(sql, statuses)
            times.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.01)
    finally:
        await conn.close()
    return statistics.median(times)


async def explain(poller: DbPoller) -> tuple[float, float]:
    """Planning and execution time of one steady-state poll (generic plan)."""
    conn = poller.conn
    max_id, holes = poller.cursor.params()
    text = "EXPLAIN (ANALYZE, FORMAT JSON) " + poller._poll_sql
    plan = await conn.fetchval(text, max_id, holes, poller.row_cap,
                               list(poller.config.positions.open_statuses),
                               *poller.positions.params(), False)
    doc = json.loads(plan)[0]
    return doc["Planning Time"], doc["Execution Time"]


async def measure(dsn: str, polls: int) -> dict[str, float]:
    config = load_config(environ={}, overrides={"database.dsn": dsn})
    poller = DbPoller(config)
    db_now = await poller.connect()
    await poller.start(db_now - timedelta(minutes=10))
    manager = multiprocessing.get_context("spawn").Manager()
    stop, shared = manager.Event(), manager.list()
    process = writer_process(dsn, stop, shared)
    latencies, streamed = [], []
    try:
        for _ in range(polls):
            sample = await poller.poll()
            latencies.append(sample.latency_ms)
            streamed.extend(e.id for e in sample.events)
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.to_thread(process.join)
        written = list(shared)
        for _ in range(3):  # the writer's last batch, committed after the last timed poll
            sample = await poller.poll()
            streamed.extend(e.id for e in sample.events)
        planning, execution = await explain(poller)
    finally:
        stop.set()
        process.join(timeout=10)
        manager.shutdown()
        await poller.close()
    exact = sorted(streamed) == sorted(set(streamed)) and set(written) <= set(streamed)
    return {"p50": statistics.median(latencies), "p95": pct(latencies, 0.95),
            "max": max(latencies), "written": len(written), "exact": exact,
            "planning": planning, "execution": execution,
            "plain": await plain_baseline(config, 200)}


async def main(polls: int, sizes: list[int]) -> None:
    root = Path(tempfile.mkdtemp(prefix="botmon-bench-", dir="/tmp"))
    server = EmbeddedPostgres(root / "data")
    server.start()
    print(f"load: {os.getloadavg()[0]:.2f} (1 min)")
    try:
        dsn = create_bot_database(server, "bench")
        conn = await asyncpg.connect(dsn)
        await conn.execute(POSITIONS)
        await conn.execute(TRAILING)
        await conn.execute("ANALYZE monitoring.positions, monitoring.trailing_stop_state")
        await conn.close()
        have = 0
        for size in sizes:
            started = time.perf_counter()
            await fill(dsn, have, size)
            have = size
            r = await measure(dsn, polls)
            print(f"events={size:>11,} (fill {time.perf_counter() - started:5.0f} s)  poll p50 "
                  f"{r['p50']:.2f} ms  p95 {r['p95']:.2f} ms  max {r['max']:.2f} ms  | "
                  f"EXPLAIN planning {r['planning']:.2f} ms execution {r['execution']:.2f} ms | "
                  f"plain one-statement p50 {r['plain']:.2f} ms | "
                  f"{r['written']:,} rows written live, exactly once: {r['exact']}", flush=True)
        print("target: p50 <= 2 ms at 1M and 10M events, one round trip, exact")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=600)
    parser.add_argument("--sizes", default="1000000,10000000",
                        help="comma-separated event counts, ascending")
    args = parser.parse_args()
    asyncio.run(main(args.polls, [int(s) for s in args.sizes.split(",")]))
