"""How long does ``botmon analyze`` take on a database with millions of events?

Starts an embedded PostgreSQL server (or uses --dsn), fills the bot's schema with a realistic mix
(position_updated ticks dominate, ~300k events a day; positions, trailing-stop states, orders)
through COPY, runs VACUUM ANALYZE as autovacuum would on a long-lived table, then runs every
analysis section for each window and prints per-section and total seconds.

    /tmp/venv/bin/python bench/analyze_bench.py                   # 2M events over 7 days
    /tmp/venv/bin/python bench/analyze_bench.py --events 500000 --windows 8h all --explain
    /tmp/venv/bin/python bench/analyze_bench.py --dsn postgresql://.../bot --windows all
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tui.analysis.analyze_cli import parse_since  # noqa: E402
from tui.analysis.db import analyze, bind, load_sections, parameter_values  # noqa: E402
from tui.config import load_config  # noqa: E402
from tui.sources.connect import render_sql  # noqa: E402

EXCHANGES = ("binance", "bybit")
# (event type, weight per 10k events, severity); pairs (order, SL) are added after their first.
MIX = [
    ("position_updated", 7800, "INFO"), ("trailing_stop_updated", 600, "INFO"),
    ("position_verified", 300, "INFO"), ("signals_received", 120, "INFO"),
    ("signal_executed", 60, "INFO"), ("signal_filtered", 150, "INFO"),
    ("signal_validation_failed", 40, "WARNING"), ("wave_detected", 10, "INFO"),
    ("wave_completed", 10, "INFO"), ("wave_processing_started", 10, "INFO"),
    ("stop_loss_updated", 100, "INFO"), ("trailing_stop_sl_updated", 50, "INFO"),
    ("trailing_stop_activated", 5, "INFO"), ("trailing_stop_created", 20, "INFO"),
    ("quantity_updated", 50, "INFO"), ("periodic_sync_started", 20, "INFO"),
    ("sync_started", 20, "INFO"), ("sync_completed", 20, "INFO"),
    ("order_placed", 60, "INFO"), ("position_created", 20, "INFO"),
    ("position_closed", 20, "INFO"), ("aged_position_detected", 20, "INFO"),
    ("health_check_failed", 9, "WARNING"), ("order_error", 8, "ERROR"),
    ("stop_loss_error", 3, "ERROR"), ("exchange_error", 5, "ERROR"),
    ("database_error", 1, "CRITICAL"), ("position_error", 2, "ERROR"),
    ("websocket_disconnected", 3, "WARNING"), ("websocket_connected", 3, "INFO"),
    ("websocket_periodic_reconnection", 2, "INFO"), ("subscription_stale_detected", 2, "WARNING"),
    ("zombie_orders_detected", 2, "WARNING"), ("zombie_order_cancelled", 3, "INFO"),
    ("position_duplicate_prevented", 2, "INFO"), ("transaction_committed", 400, "INFO"),
]
FOLLOW = {"order_placed": ("order_filled", 50, 900), "position_created": ("stop_loss_placed", 80,
                                                                          2500)}
COLUMNS = ["event_type", "event_data", "correlation_id", "position_id", "order_id", "symbol",
           "exchange", "severity", "error_message", "created_at"]


def positions(count: int, start: datetime, end: datetime, rng: random.Random) -> list[tuple]:
    rows = []
    span = (end - start).total_seconds()
    open_left = min(70, count)
    for pid in range(1, count + 1):
        opened = start + timedelta(seconds=span * (pid - 1) / count)
        is_open = pid > count - open_left
        exchange = EXCHANGES[pid % 2]
        if is_open:
            status, closed, pnl = "active", None, None
            symbol = f"OPEN{pid}USDT"
        else:
            status = rng.choice(["closed"] * 8 + ["closed_by_sync", "rolled_back"])
            closed = opened + timedelta(minutes=rng.uniform(5, 400))
            pnl = Decimal(f"{rng.gauss(0.5, 5):.8f}") if status != "rolled_back" else None
            symbol = f"S{pid % 400}USDT"
        rows.append((pid, symbol, exchange, rng.choice(["long", "short"]), Decimal(1),
                     Decimal(100), status, opened, opened, closed, closed or opened, pnl,
                     rng.random() < 0.97, rng.random() < 0.15))
    return rows


def events(total: int, start: datetime, end: datetime, n_positions: int, rng: random.Random):
    """Yield event records in created_at order (as the bot inserts them)."""
    types = [t for t, _, _ in MIX]
    weights = [w for _, w, _ in MIX]
    severity = {t: s for t, _, s in MIX}
    step = (end - start).total_seconds() / total
    order_seq = 0
    made = 0
    t = start
    while made < total:
        batch = rng.choices(types, weights, k=min(10_000, total - made))
        for event_type in batch:
            t = t + timedelta(seconds=step * rng.uniform(0.2, 1.8))
            pid = rng.randint(max(1, n_positions - 400), n_positions)
            corr = f"c{rng.randrange(10**9)}" if rng.random() < 0.5 else None
            order = None
            data = None
            message = None
            if event_type == "position_updated":
                data = json.dumps({"price": round(rng.uniform(0.01, 100), 5),
                                   "unrealized_pnl": round(rng.gauss(0, 3), 4)})
            elif event_type == "order_placed":
                order_seq += 1
                order = f"o{order_seq}"
            sev = severity[event_type]
            if sev in ("ERROR", "CRITICAL") or event_type.endswith("_failed"):
                message = rng.choice(["price of X/USDT must be greater than minimum price "
                                      "precision of 0.00001", 'bybit {"retCode":170209}',
                                      "Object of type Decimal is not JSON serializable"])
            yield (event_type, data, corr, pid, order, f"S{pid % 400}USDT",
                   EXCHANGES[pid % 2], sev, message, t)
            made += 1
            if event_type in FOLLOW and made < total:
                follow, low, high = FOLLOW[event_type]
                yield (follow, None, corr, pid, order, f"S{pid % 400}USDT", EXCHANGES[pid % 2],
                       "INFO", None, t + timedelta(milliseconds=rng.uniform(low, high)))
                made += 1


async def fill(dsn: str, n_events: int, days: float, n_positions: int, seed: int) -> None:
    rng = random.Random(seed)
    end = datetime.now(timezone.utc)
    start = end - timedelta(days=days)
    conn = await asyncpg.connect(dsn)
    try:
        t0 = time.perf_counter()
        pos = positions(n_positions, start, end, rng)
        await conn.copy_records_to_table(
            "positions", schema_name="monitoring", records=pos,
            columns=["id", "symbol", "exchange", "side", "quantity", "entry_price", "status",
                     "opened_at", "created_at", "closed_at", "updated_at", "realized_pnl",
                     "has_stop_loss", "trailing_activated"])
        await conn.execute("SELECT setval('monitoring.positions_id_seq', $1)", n_positions)
        open_rows = [p for p in pos if p[6] == "active"]
        await conn.copy_records_to_table(
            "trailing_stop_state", schema_name="monitoring",
            records=[(p[1], p[2], p[0], rng.choice(["inactive", "waiting", "active"]),
                      rng.random() < 0.3, rng.randint(0, 60), p[7], end, p[5], p[3], p[4])
                     for p in open_rows],
            columns=["symbol", "exchange", "position_id", "state", "is_activated",
                     "update_count", "created_at", "last_update_time", "entry_price", "side",
                     "quantity"])
        await conn.copy_records_to_table(
            "orders", schema_name="monitoring",
            records=[(str(p[0]), p[2], p[1], f"o{p[0]}", "market", p[3], Decimal(1), "filled",
                      p[7]) for p in pos],
            columns=["position_id", "exchange", "symbol", "order_id", "type", "side", "size",
                     "status", "created_at"])
        chunk: list[tuple] = []
        written = 0
        for record in events(n_events, start, end, n_positions, rng):
            chunk.append(record)
            if len(chunk) >= 100_000:
                await conn.copy_records_to_table("events", schema_name="monitoring",
                                                 records=chunk, columns=COLUMNS)
                written += len(chunk)
                chunk = []
                print(f"\r  {written:,} events", end="", flush=True)
        if chunk:
            await conn.copy_records_to_table("events", schema_name="monitoring", records=chunk,
                                             columns=COLUMNS)
            written += len(chunk)
        print(f"\r  {written:,} events, {len(pos):,} positions in "
              f"{time.perf_counter() - t0:.1f} s; VACUUM ANALYZE ...", flush=True)
        t1 = time.perf_counter()
        await conn.execute("VACUUM ANALYZE")
        size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
        print(f"  VACUUM ANALYZE {time.perf_counter() - t1:.1f} s; database {size}")
    finally:
        await conn.close()


async def explain(config, since, until) -> None:
    conn = await asyncpg.connect(config.database.dsn)
    try:
        values = parameter_values(config, since, until)
        for section in load_sections(config):
            sql, args = bind(render_sql(config, section.text), values)
            plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS OFF) " + sql, *args)
            print(f"\n--- {section.name}")
            for row in plan:
                print("   ", row[0])
    finally:
        await conn.close()


async def measure(dsn: str, windows: list[str], timeout_s: float, do_explain: bool) -> None:
    config = load_config(None, environ={}, overrides={"database.dsn": dsn})
    for window in windows:
        result = await analyze(config, since=parse_since(window), timeout_s=timeout_s)
        print(f"\nwindow --since {window}: {result.since:%Y-%m-%d %H:%M} -> "
              f"{result.until:%Y-%m-%d %H:%M} UTC")
        for section in result.sections:
            status = (f"{len(section['rows'])} rows" if "rows" in section
                      else "ERROR " + section["error"])
            print(f"  {section['seconds']:7.3f} s  {section['section']:<26} {status}")
        slowest = max(result.sections, key=lambda s: s["seconds"])
        print(f"  total {result.seconds:.2f} s (incl. connect); slowest {slowest['section']} "
              f"{slowest['seconds']:.2f} s; failed {result.failed}")
        if do_explain:
            await explain(config, result.since, result.until)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--positions", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--windows", nargs="+", default=["24h", "all"],
                        help="--since values to measure (default: 24h all)")
    parser.add_argument("--timeout-s", type=float, default=20.0)
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE plans")
    parser.add_argument("--dsn", help="measure an existing database instead (nothing written)")
    parser.add_argument("--keep", metavar="DIR", help="keep the server's data directory here")
    args = parser.parse_args()

    if args.dsn:
        asyncio.run(measure(args.dsn, args.windows, args.timeout_s, args.explain))
        return 0

    from tui.demo.embedded import EmbeddedPostgres, create_bot_database

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="botmon-bench-",
                                                                   dir="/tmp"))
    server = EmbeddedPostgres(root / "data")
    server.start()  # main thread: the server dies with this process
    try:
        dsn = create_bot_database(server, f"bench_{int(time.time())}")
        print(f"server {server.dsn()}  data {root}")
        asyncio.run(fill(dsn, args.events, args.days, args.positions, args.seed))
        asyncio.run(measure(dsn, args.windows, args.timeout_s, args.explain))
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
