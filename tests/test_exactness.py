"""Exactly once under bursts and late arrivals, in every minute line, not only in the total
(issue 9, item 8), against an independent writer on a real PostgreSQL server: batched inserts
from two connections, created_at stamped before commit, transactions committing out of order.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import timedelta

import asyncpg

from tui.config import load_config
from tui.monitor import Monitor
from tui.outputs.rundir import RunDir
from tui.sources.db import DbPoller
from tui.store.buckets import MINUTE, minute_of

BATCH = ("INSERT INTO monitoring.events (event_type, exchange, severity, position_id, created_at)"
         " SELECT 'position_updated', CASE WHEN g % 2 = 0 THEN 'binance' ELSE 'bybit' END,"
         " 'INFO', g % 50, now() - make_interval(secs => $2 + random() * 4)"
         " FROM generate_series(1, $1) AS g")


BATCH_NOW = ("INSERT INTO monitoring.events (event_type, exchange, severity, created_at) "
             "SELECT 'position_updated', 'binance', 'INFO', clock_timestamp() "
             "FROM generate_series(1, $1) AS g")


def make_monitor(dsn: str, tmp_path, **overrides) -> Monitor:
    config = load_config(environ={}, overrides={"database.dsn": dsn, **overrides})
    return Monitor(config, RunDir.create(config, out=str(tmp_path)), duration_s=None)


def read_lines(monitor: Monitor) -> list[dict]:
    return [json.loads(line) for path in sorted(monitor.run_dir.path.glob("monitoring_snap*"))
            for line in path.read_text().splitlines()]


async def table_minutes(conn) -> Counter:
    rows = await conn.fetch("SELECT date_trunc('minute', created_at) AS m, count(*) AS n "
                            "FROM monitoring.events GROUP BY 1")
    return Counter({r["m"]: r["n"] for r in rows})


async def test_a_burst_with_capped_polls_counts_every_row_once_in_its_minute(bot_db, tmp_path):
    """Two writers flush large batches that commit out of order while polls are capped far
    below the burst: the streamed minutes equal the table's, row for row."""
    monitor = make_monitor(bot_db, tmp_path)
    monitor.poller.row_cap = 700  # a burst many times the cap of one poll
    await monitor.open()
    start = monitor.store.run_start
    writers = [await asyncpg.connect(bot_db) for _ in range(2)]
    rng = random.Random(3)
    open_tx: dict[int, object] = {}
    try:
        for step in range(120):
            k = rng.randrange(2)
            conn = writers[k]
            if k not in open_tx:
                open_tx[k] = conn.transaction()
                await open_tx[k].start()
            await conn.execute(BATCH, rng.randint(50, 600), 0.0)
            if rng.random() < 0.5:
                await open_tx.pop(k).commit()
            if step % 3 == 0:
                await monitor.poll_once()
        for tx in open_tx.values():
            await tx.commit()
        assert await monitor.poll_once()
        assert await monitor.poll_once()
        truth = await table_minutes(writers[0])
        total = await writers[0].fetchval(
            "SELECT count(*) FROM monitoring.events WHERE created_at >= $1", start)
        rows = await writers[0].fetchval("SELECT count(*) FROM monitoring.events")
    finally:
        for conn in writers:
            await conn.close()
        await monitor.close()
    store = monitor.store
    assert rows > 30_000
    assert store.view().value("events", "all_time") == total  # stamped in the run
    assert sum(truth.values()) == rows
    for minute, n in truth.items():
        assert store.buckets[minute].counters["events"] == n, minute
    assert monitor.poller.cursor.given_up == 0 and monitor.poller.cursor.dropped == 0


async def test_rows_late_for_a_written_minute_append_a_correction(bot_db, tmp_path):
    """A minute line is written; rows stamped in it arrive later (after an outage): the file
    gets a correction record with the minute's full corrected content."""
    monitor = make_monitor(bot_db, tmp_path)
    await monitor.open()
    writer = await asyncpg.connect(bot_db)
    try:
        start = monitor.store.run_start
        first = minute_of(start)
        await writer.execute(BATCH, 10, 0.0)
        await monitor.poll_once()
        now = first + MINUTE + timedelta(seconds=11)
        await monitor.tick(now=now)  # the first minute's line is out
        written = [line for line in read_lines(monitor) if line["kind"] == "minute"]
        assert written and written[0]["minute"] == first.isoformat()
        stamped = (await writer.fetchval("SELECT now()") - first).total_seconds()
        # The bot's queued rows for that minute, flushed late: stamped inside it.
        await writer.execute(BATCH, 25, stamped - 30)
        truth = await writer.fetchval(
            "SELECT count(*) FROM monitoring.events WHERE created_at >= $1 AND created_at < $2",
            first, first + MINUTE)
        await monitor.poll_once()
        await monitor.tick(now=now + timedelta(seconds=31))
    finally:
        await writer.close()
        await monitor.close()
    corrections = [line for line in read_lines(monitor) if line["kind"] == "correction"]
    assert corrections, "no correction record for the late rows"
    last = corrections[-1]
    assert last["minute"] == first.isoformat()
    assert last["values"]["events"] == truth
    assert last["late_events"] >= 1
    assert last["values"]["ws_reconnects"] is None  # no source: still null, never 0


async def test_the_final_recount_waits_for_the_bots_last_batch(bot_db, tmp_path):
    """At a stop, rows stamped before the end that the bot commits in its next batch are in the
    final totals: the recount waits run.final_wait_s (driven here, not slept)."""
    monitor = make_monitor(bot_db, tmp_path)
    await monitor.open()
    writer = await asyncpg.connect(bot_db)
    queued = writer.transaction()
    try:
        await writer.execute(BATCH_NOW, 5)
        await monitor.poll_once()  # the bot is active: its last batch may be in flight
        await queued.start()
        await writer.execute(BATCH_NOW, 7)  # stamped now, committed during the wait

        waited: list[float] = []

        async def the_batch_commits(seconds: float) -> None:
            waited.append(seconds)
            await queued.commit()

        monitor.sleep = the_batch_commits
        path = await monitor.finish("SIGTERM")
    finally:
        await writer.close()
        await monitor.close()
    assert waited and 0 < waited[0] <= monitor.config.run.final_wait_s
    summary = json.loads(path.read_text())["metrics_summary"]
    assert summary["total_events"] == 12
    assert summary["counting"]["streamed_events"] == 12


async def test_bad_rows_are_counted_once_and_never_stop_the_run(bot_db, tmp_path):
    """created_at = 'infinity', '-infinity' or NULL: counted under bad_rows with an example;
    the run, the recount and the final report go on."""
    writer = await asyncpg.connect(bot_db)
    monitor = make_monitor(bot_db, tmp_path, **{"run.final_wait_s": 0.0})
    await monitor.open()
    try:
        await writer.execute(
            "INSERT INTO monitoring.events (event_type, exchange, created_at) VALUES "
            "('order_error', 'binance', 'infinity'), ('order_error', 'binance', '-infinity'), "
            "('order_error', 'binance', NULL), ('order_error', 'binance', now())")
        assert await monitor.poll_once()
        view = await monitor.tick()
        path = await monitor.finish("test")
    finally:
        await writer.close()
        await monitor.close()
    assert view.value("bad_rows") == 3
    assert view.value("errors", "all_time") == 1
    assert view.value("bot_silent_s") is not None and view.value("bot_silent_s") < 60
    report = json.loads(path.read_text())
    quality = report["data_quality"]
    assert quality["bad_rows"] == 3 and "created_at" in quality["bad_row_examples"][0]
    assert report["metrics_summary"]["total_errors"] == 1


async def test_many_exchange_names_are_folded_into_other_the_same_way_everywhere(bot_db,
                                                                                 tmp_path):
    writer = await asyncpg.connect(bot_db)
    monitor = make_monitor(bot_db, tmp_path, **{"run.final_wait_s": 0.0})
    await monitor.open()
    try:
        await writer.execute(
            "INSERT INTO monitoring.events (event_type, exchange, severity) "
            "SELECT 'order_error', 'ex' || g, 'ERROR' FROM generate_series(1, 40) AS g")
        await monitor.poll_once()
        view = await monitor.tick()
        path = await monitor.finish("test")
    finally:
        await writer.close()
        await monitor.close()
    assert len(view.exchanges) == 33 and view.exchanges[-1] == "other"
    assert view.value("errors.other", "all_time") == 8
    report = json.loads(path.read_text())
    assert report["metrics_summary"]["by_exchange"]["other"]["errors"] == 8
    assert "8 exchange(s) beyond the first 32" in report["data_quality"]["exchanges_folded"]


async def test_the_start_reads_which_event_types_the_database_holds(bot_db):
    writer = await asyncpg.connect(bot_db)
    await writer.execute(
        "INSERT INTO monitoring.events (event_type, created_at) VALUES "
        "('position_updated', now()), ('aged_position_detected', now() - interval '30 days')")
    await writer.close()
    config = load_config(environ={}, overrides={"database.dsn": bot_db})
    poller = DbPoller(config)
    await poller.connect()
    try:
        types = await poller.event_types()
    finally:
        await poller.close()
    assert types == {"aged_position_detected": False, "position_updated": True}


async def test_a_failure_during_catch_up_keeps_the_rows_of_the_polls_before_it(bot_db,
                                                                                tmp_path):
    """After an outage the monitor polls back to back while polls are capped; if one of them
    fails, the rows of the polls before it are already past the cursor and must be counted
    (they once were merged and dropped with the failure)."""
    from tui.sources.db import PollError

    monitor = make_monitor(bot_db, tmp_path)
    monitor.poller.row_cap = 100
    await monitor.open()
    writer = await asyncpg.connect(bot_db)
    await writer.execute(BATCH_NOW, 450)
    await writer.close()
    real_poll, calls = monitor.poller.poll, []

    async def third_fails():
        calls.append(1)
        if len(calls) == 3:
            raise PollError("database unreachable: reset by peer", connection_lost=True)
        return await real_poll()

    monitor.poller.poll = third_fails
    try:
        assert not await monitor.poll_once()
        assert monitor.store.view().value("events", "all_time") == 200
        monitor.poller.poll = real_poll
        assert await monitor.poll_once()
        assert monitor.store.view().value("events", "all_time") == 450
    finally:
        await monitor.close()


async def test_a_stop_before_the_planned_end_still_waits_for_the_last_batch(bot_db, tmp_path):
    """q (or a signal) long before the planned end: the run ends now, and the final wait for the
    bot's queued batch applies as it does for an open-ended run."""
    config = load_config(environ={}, overrides={"database.dsn": bot_db})
    monitor = Monitor(config, RunDir.create(config, out=str(tmp_path)), duration_s=3600)
    await monitor.open()
    writer = await asyncpg.connect(bot_db)
    queued = writer.transaction()
    try:
        await writer.execute(BATCH_NOW, 3)
        await monitor.poll_once()
        await queued.start()
        await writer.execute(BATCH_NOW, 4)
        waited: list[float] = []

        async def the_batch_commits(seconds: float) -> None:
            waited.append(seconds)
            await queued.commit()

        monitor.sleep = the_batch_commits
        path = await monitor.finish("quit")
    finally:
        await writer.close()
        await monitor.close()
    report = json.loads(path.read_text())
    assert waited and report["metrics_summary"]["total_events"] == 7
    assert report["monitoring_duration_minutes"] < 1  # ended now, not at the planned end
