"""Exactly-once counting on a real PostgreSQL server, with out-of-order commits."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import asyncpg
import pytest

from tui.config import load_config
from tui.errors import SchemaError
from tui.sources.db import DbPoller
from tui.store.buckets import minute_of
from tui.store.store import MetricStore

INSERT = ("INSERT INTO monitoring.events (event_type, exchange, severity, position_id, created_at)"
          " VALUES ($1, $2, 'INFO', $3, now() - make_interval(secs => $4))")


async def start(dsn: str, history_s: float = 600, **kwargs):
    """Connect and read the start snapshot; the history is in ``poller.started.sample``."""
    config = load_config(environ={}, overrides={"database.dsn": dsn})
    poller = DbPoller(config, **kwargs)
    db_now = await poller.connect()
    poller.started = await poller.start(db_now - timedelta(seconds=history_s))
    return config, poller, poller.started.sample.db_now


async def test_smaller_id_committed_after_a_larger_one_is_counted_once(bot_db):
    config, poller, db_now = await start(bot_db)
    slow, fast = await asyncpg.connect(bot_db), await asyncpg.connect(bot_db)
    try:
        slow_tx = slow.transaction()
        await slow_tx.start()
        for _ in range(5):  # ids 1..5, not yet committed
            await slow.execute(INSERT, "position_created", "binance", None, 3.0)
        for _ in range(5):  # ids 6..10, committed at once
            await fast.execute(INSERT, "position_closed", "bybit", None, 0.0)
        first = await poller.poll()
        assert sorted(e.id for e in first.events) == [6, 7, 8, 9, 10]
        await slow_tx.commit()
        second = await poller.poll()
        assert sorted(e.id for e in second.events) == [1, 2, 3, 4, 5]
        assert (await poller.poll()).events == ()
    finally:
        await slow.close()
        await fast.close()
        await poller.close()


async def test_concurrent_writers_irregular_polls_every_row_exactly_once(bot_db):
    """Random interleaving of 4 writers (open transactions, batched inserts with created_at up
    to 8 s in the past, commits and rollbacks) and polls; every committed row is counted once,
    into the minute of its own created_at."""
    config, poller, db_now = await start(bot_db)
    store = MetricStore(config, run_start=db_now - timedelta(seconds=600))
    rng = random.Random(7)
    writers = [await asyncpg.connect(bot_db) for _ in range(4)]
    open_tx: dict[int, asyncpg.transaction.Transaction] = {}
    types = ["position_updated"] * 6 + ["position_created", "order_error", "position_closed"]
    polled_ids: list[int] = []
    try:
        for _ in range(400):
            action = rng.random()
            k = rng.randrange(len(writers))
            conn = writers[k]
            if action < 0.55:
                if k not in open_tx and rng.random() < 0.6:
                    open_tx[k] = conn.transaction()
                    await open_tx[k].start()
                for _ in range(rng.randint(1, 6)):
                    await conn.execute(INSERT, rng.choice(types), rng.choice(["binance", "bybit"]),
                                       rng.randint(1, 30), rng.uniform(0, 8))
            elif action < 0.8 and k in open_tx:
                tx = open_tx.pop(k)
                await (tx.rollback() if rng.random() < 0.1 else tx.commit())
            else:
                sample = await poller.poll()
                polled_ids.extend(e.id for e in sample.events)
                store.ingest(sample)
        for tx in open_tx.values():
            await tx.commit()
        for _ in range(2):
            sample = await poller.poll()
            polled_ids.extend(e.id for e in sample.events)
            store.ingest(sample)
        truth = await writers[0].fetch(
            "SELECT id, created_at, event_type FROM monitoring.events ORDER BY id")
    finally:
        for conn in writers:
            await conn.close()
        await poller.close()
    assert len(truth) > 500
    assert len(polled_ids) == len(set(polled_ids)), "a row was counted twice"
    assert set(polled_ids) == {r["id"] for r in truth}, "a committed row was missed"
    per_minute = Counter(minute_of(r["created_at"]) for r in truth)
    for minute, n in per_minute.items():
        assert store.buckets[minute].counters["events"] == n


async def test_rows_inserted_long_after_their_created_at_are_counted(bot_db):
    config, poller, _ = await start(bot_db)
    writer = await asyncpg.connect(bot_db)
    try:
        await poller.poll()
        # Under load the bot's queue flushes a batch whose rows were stamped 10 minutes ago:
        # a "last N seconds" window would never see them; their ids are new, so they count.
        await writer.execute(INSERT, "position_closed", "bybit", 1, 600.0)
        sample = await poller.poll()
        assert [e.event_type for e in sample.events] == ["position_closed"]
    finally:
        await writer.close()
        await poller.close()


async def test_rolled_back_ids_are_awaited_then_given_up(bot_db):
    config, poller, _ = await start(bot_db)
    writer = await asyncpg.connect(bot_db)
    try:
        await poller.poll()
        tx = writer.transaction()
        await tx.start()
        await writer.execute(INSERT, "position_created", "binance", None, 0.0)
        await tx.rollback()  # id 1 is burnt
        await writer.execute(INSERT, "position_closed", "binance", None, 0.0)  # id 2
        sample = await poller.poll()
        assert [e.id for e in sample.events] == [2]
        assert list(poller.cursor.holes) == [1]
        # Holes are awaited for poll.lookback_s of database time, then given up.
        poller.cursor.advance(sample.db_now + timedelta(seconds=config.poll.lookback_s + 1),
                              [], None, truncated=False)
        assert poller.cursor.holes == {} and poller.cursor.given_up == 1
    finally:
        await writer.close()
        await poller.close()


async def test_poll_returns_open_positions_with_trailing_state(bot_db):
    config, poller, _ = await start(bot_db)
    writer = await asyncpg.connect(bot_db)
    try:
        pid = await writer.fetchval(
            "INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price, "
            "status, has_stop_loss, stop_loss_price) VALUES ('ALLUSDT', 'bybit', 'long', 1, 2, "
            "'pending_sl', false, NULL) RETURNING id")
        await writer.execute(
            "INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price, "
            "status) VALUES ('OLDUSDT', 'bybit', 'long', 1, 2, 'closed')")
        await writer.execute(
            "INSERT INTO monitoring.trailing_stop_state (symbol, exchange, position_id, state, "
            "current_stop_price, entry_price, side, quantity) "
            "VALUES ('ALLUSDT', 'bybit', $1, 'waiting', 1.9, 2, 'long', 1)", pid)
        closed = await writer.fetchval(
            "SELECT id FROM monitoring.positions WHERE symbol = 'OLDUSDT'")
        await writer.execute(
            "INSERT INTO monitoring.trailing_stop_state (symbol, exchange, position_id, state, "
            "entry_price, side, quantity) VALUES ('OLDUSDT', 'bybit', $1, 'active', 2, 'long', 1), "
            "('GONEUSDT', 'binance', NULL, 'active', 2, 'long', 1)",
            closed)
        sample = await poller.poll()
        assert sample.ts_orphans == ("GONEUSDT/binance", "OLDUSDT/bybit")
        assert [p.symbol for p in sample.positions] == ["ALLUSDT"]
        position = sample.positions[0]
        assert position.ts_state == "waiting" and position.ts_stop_price == 1.9
        assert position.has_stop_loss is False
    finally:
        await writer.close()
        await poller.close()


async def test_sessions_are_read_only_and_named(bot_db):
    config, poller, _ = await start(bot_db)
    try:
        conn = poller.conn
        assert await conn.fetchval("SHOW default_transaction_read_only") == "on"
        assert await conn.fetchval("SHOW application_name") == "botmon"
        assert await conn.fetchval("SHOW statement_timeout") == "2s"
        assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("INSERT INTO monitoring.events (event_type) VALUES ('x')")
    finally:
        await poller.close()


async def test_missing_tables_and_columns_are_listed_with_their_config_keys(pg_server, bot_db):
    writer = await asyncpg.connect(bot_db)
    await writer.execute("ALTER TABLE monitoring.events DROP COLUMN severity")
    await writer.execute("DROP TABLE monitoring.trailing_stop_state")
    await writer.close()
    config = load_config(environ={}, overrides={"database.dsn": bot_db})
    with pytest.raises(SchemaError) as info:
        await DbPoller(config).connect()
    message = str(info.value)
    assert "columns severity of monitoring.events (database.events_table)" in message
    assert "table monitoring.trailing_stop_state (database.trailing_stop_table)" in message
    assert "\n" not in message


async def test_wrong_schema_name_lists_every_table(bot_db):
    config = load_config(environ={}, overrides={"database.dsn": bot_db})
    config = load_config(environ={"BOTMON_DATABASE_SCHEMA": "monitor"},
                         overrides={"database.dsn": bot_db})
    with pytest.raises(SchemaError) as info:
        await DbPoller(config).connect()
    for table in ("monitor.events", "monitor.positions", "monitor.trailing_stop_state"):
        assert table in str(info.value)


async def test_start_awaits_only_the_in_flight_top_of_the_id_range(bot_db):
    """Rows with small ids but recent created_at (and old rows above them) are history; only
    ids at the top of the range that are not visible are awaited."""
    writer = await asyncpg.connect(bot_db)
    for _ in range(5):
        await writer.execute(INSERT, "position_created", "binance", None, 0.0)
    await writer.execute(
        "INSERT INTO monitoring.events (event_type, created_at) "
        "SELECT 'position_updated', now() - interval '1 day' FROM generate_series(1, 3000)")
    await writer.close()
    config, poller, db_now = await start(bot_db)
    store = MetricStore(config, run_start=db_now)
    try:
        assert sorted(e.id for e in poller.started.sample.events) == [1, 2, 3, 4, 5]
        assert poller.cursor.holes == {} and poller.cursor.max_id == 3005
        store.ingest(poller.started.sample, history=True)
        assert (await poller.poll()).events == ()
        assert store.view(db_now).value("positions_opened_events", "all_time") == 0
    finally:
        await poller.close()


async def test_capped_polls_and_a_large_history_count_every_row_once(bot_db):
    """More rows than one poll may return, both in the history window and after it."""
    writer = await asyncpg.connect(bot_db)
    await writer.execute(
        "INSERT INTO monitoring.events (event_type, created_at) "
        "SELECT 'position_updated', now() - interval '1 minute' FROM generate_series(1, 120)")
    config, poller, db_now = await start(bot_db, row_cap=50)
    seen: list[int] = []
    try:
        first = poller.started.sample
        assert len(first.events) == 120  # history is never split
        seen.extend(e.id for e in first.events)
        await writer.execute(
            "INSERT INTO monitoring.events (event_type) "
            "SELECT 'position_closed' FROM generate_series(1, 130)")
        while True:
            sample = await poller.poll()
            seen.extend(e.id for e in sample.events)
            if not sample.truncated:
                break
        assert (await poller.poll()).events == ()
    finally:
        await writer.close()
        await poller.close()
    assert sorted(seen) == list(range(1, 251))


async def test_only_changed_positions_are_read_in_full_and_none_is_missed(bot_db):
    """Between two polls the poll reads a position in full only when its row (or its trailing
    stop's) has a new version; an update by a transaction that began before the previous poll
    and commits after it is still seen (row versions, not timestamps)."""
    config, poller, _ = await start(bot_db)
    writer = await asyncpg.connect(bot_db)
    slow = await asyncpg.connect(bot_db)
    try:
        await writer.execute(
            "INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price, "
            "current_price, status) SELECT 'S' || g || 'USDT', 'bybit', 'long', 1, 1, 1, "
            "'active' FROM generate_series(1, 20) AS g")
        first = await poller.poll()
        assert len(first.positions) == 20
        tx = slow.transaction()
        await tx.start()  # begins before the next poll, commits after it
        await slow.execute("UPDATE monitoring.positions SET current_price = 2 "
                           "WHERE symbol = 'S3USDT'")
        await writer.execute("UPDATE monitoring.positions SET current_price = 3 "
                             "WHERE symbol = 'S5USDT'")
        second = await poller.poll()
        assert len(second.positions) == 20  # the whole open set, from the tracker
        prices = {p.symbol: p.current_price for p in second.positions}
        assert prices["S5USDT"] == 3 and prices["S3USDT"] == 1
        await tx.commit()
        third = await poller.poll()
        assert {p.symbol: p.current_price for p in third.positions}["S3USDT"] == 2
        quiet = await poller.conn.fetchrow(
            poller._poll_sql, *poller.cursor.params(), poller.row_cap,
            list(config.positions.open_statuses), *poller.positions.params(), False)
        assert quiet["pos_id"] is None  # nothing changed: no row read in full
    finally:
        await writer.close()
        await slow.close()
        await poller.close()
