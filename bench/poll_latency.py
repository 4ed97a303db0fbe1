"""Poll round-trip latency with 100k and 1M rows in `events` (reference schema and indexes).

Starts an embedded PostgreSQL server, fills `events` with the bot's realistic type mix via the
simulator's COPY backfill, opens ~70 positions, then runs polls while a writer adds the bot's
10x event rate between polls (70 rows per 2-second poll). Prints p50 / p95 / max per size.
Targets (issue 2): p50 < 5 ms at 1M rows, and < 2x growth from 100k to 1M.

    python bench/poll_latency.py [--polls 300]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import asyncpg

from tui.config import load_config
from tui.demo.embedded import EmbeddedPostgres, create_bot_database
from tui.demo.sim_history import backfill
from tui.demo.simulator import BotSimulator
from tui.sources.db import DbPoller

INSERT = ("INSERT INTO monitoring.events (event_type, exchange, symbol, severity, position_id, "
          "created_at) SELECT 'position_updated', 'binance', 'XUSDT', 'INFO', (g % 70) + 1, "
          "now() - random() * interval '4 seconds' FROM generate_series(1, $1) AS g")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(dsn: str, polls: int) -> dict[str, float]:
    config = load_config(environ={}, overrides={"database.dsn": dsn})
    poller = DbPoller(config)
    db_now = await poller.connect()
    poller.start_cursor(db_now - timedelta(minutes=10))
    writer = await asyncpg.connect(dsn)
    latencies, rows = [], 0
    try:
        await poller.poll()  # the history read at start is not a steady-state poll
        for _ in range(polls):
            await writer.execute(INSERT, 70)
            sample = await poller.poll()
            latencies.append(sample.latency_ms)
            rows += len(sample.events)
    finally:
        await writer.close()
        await poller.close()
    return {"p50": statistics.median(latencies), "p95": pct(latencies, 0.95),
            "max": max(latencies), "rows_per_poll": rows / polls}


async def main(polls: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="botmon-bench-", dir="/tmp"))
    server = EmbeddedPostgres(root / "data")
    server.start()
    try:
        dsn = create_bot_database(server, "bench")
        sim = BotSimulator(dsn, None, seed=1)
        await sim.seed(n_open=70, n_closed=200)
        await sim.stop()
        results = {}
        total = 0
        for target in (100_000, 1_000_000):
            started = time.perf_counter()
            # ~300k rows a day, like the bot: the table spans the matching number of days.
            hours = target / 300_000 * 24
            total += await backfill(dsn, hours, rows=target - total)
            conn = await asyncpg.connect(dsn)
            count = await conn.fetchval("SELECT count(*) FROM monitoring.events")
            await conn.execute("VACUUM ANALYZE monitoring.events")
            await conn.close()
            fill_s = time.perf_counter() - started
            results[target] = await measure(dsn, polls)
            r = results[target]
            print(f"events={count:>9,}  fill {fill_s:5.1f}s  poll p50 {r['p50']:.2f} ms  "
                  f"p95 {r['p95']:.2f} ms  max {r['max']:.2f} ms  "
                  f"({r['rows_per_poll']:.0f} new rows/poll, {polls} polls)", flush=True)
        growth = results[1_000_000]["p50"] / results[100_000]["p50"]
        print(f"p50 growth 100k -> 1M: {growth:.2f}x (target < 2x); "
              f"p50 at 1M: {results[1_000_000]['p50']:.2f} ms (target < 5 ms)")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=300)
    asyncio.run(main(parser.parse_args().polls))
