"""Resume after a crash: same start, the same totals as a run that never stopped."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg

from tui.config import load_config
from tui.monitor import Monitor
from tui.outputs.rundir import RunDir
from tui.store.buckets import MINUTE, minute_of

INSERT = ("INSERT INTO monitoring.events (event_type, exchange, severity, position_id) "
          "SELECT $1, $2, 'INFO', g FROM generate_series(1, $3) AS g")


OPEN = ("INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price, status) "
        "SELECT $1 || g, 'binance', 'long', 1, 1, 'active' FROM generate_series(1, $2) AS g")
CLOSE = ("UPDATE monitoring.positions SET status = 'closed', closed_at = now() "
         "WHERE id IN (SELECT id FROM monitoring.positions WHERE status = 'active' "
         "ORDER BY id LIMIT $1)")


async def batch(conn, n: int, tag: str) -> None:
    for event_type, exchange in (("position_created", "binance"), ("position_updated", "bybit"),
                                 ("order_error", "bybit"), ("trailing_stop_activated", "bybit")):
        await conn.execute(INSERT, event_type, exchange, n)
    await conn.execute(OPEN, tag, n)
    await conn.execute(CLOSE, 2)  # older positions close by the sync (no event)


async def test_resume_after_a_crash_gives_the_totals_of_an_uninterrupted_run(bot_db, tmp_path):
    config = load_config(environ={"BOTMON_RUN_FINAL_WAIT_S": "0"},
                         overrides={"database.dsn": bot_db})
    writer = await asyncpg.connect(bot_db)
    crashing = Monitor(config, RunDir.create(config, out=str(tmp_path / "a")), duration_s=3600)
    await crashing.open()
    steady = Monitor(config, RunDir.create(config, out=str(tmp_path / "b")), duration_s=3600)
    await steady.open()
    start = crashing.store.run_start
    await batch(writer, 5, 'A')
    for monitor in (crashing, steady):
        await monitor.poll_once()
    await crashing.tick(now=minute_of(start) + MINUTE + timedelta(seconds=11))
    written_before = crashing.store.snapshots_written
    await crashing.poller.close()  # the crash: no final report, no goodbye

    await batch(writer, 7, 'B')  # the bot goes on while botmon is down
    await steady.poll_once()

    resumed = Monitor(config, crashing.run_dir, duration_s=None)
    view = await resumed.resume()
    assert view.run_start == start  # same start, not the restart time
    assert resumed.store.snapshots_written == written_before
    assert resumed.store.sealed_through == crashing.store.sealed_through

    await batch(writer, 3, 'C')
    for monitor in (resumed, steady):
        await monitor.poll_once()
    for name in ("positions_opened", "positions_closed", "positions_opened_events",
                 "price_updates", "errors", "ts_activations", "events",
                 "positions_opened.binance", "errors.bybit"):
        assert resumed.view.value(name, "all_time") == steady.view.value(name, "all_time"), name
    assert resumed.view.value("positions_opened", "all_time") == 15
    assert resumed.view.value("positions_closed", "all_time") == 6

    report = json.loads((await resumed.finish("test")).read_text())
    steady_report = json.loads((await steady.finish("test")).read_text())
    assert report["monitoring_start"] == start.isoformat()
    for key in ("total_positions_opened", "total_positions_closed", "total_errors"):
        assert report["metrics_summary"][key] == steady_report["metrics_summary"][key], key
    assert report["metrics_summary"]["counting"]["streamed_events"] == \
        report["metrics_summary"]["counting"]["recounted_events"] == 60
    meta = json.loads((crashing.run_dir.path / "run.json").read_text())
    assert len(meta["resumed"]) == 1
    await writer.close()
    for monitor in (resumed, steady):
        await monitor.close()


async def test_missed_minutes_become_gaps_saying_the_monitor_was_down(bot_db, tmp_path):
    config = load_config(environ={}, overrides={"database.dsn": bot_db})
    first = Monitor(config, RunDir.create(config, out=str(tmp_path)), duration_s=None)
    await first.open()
    await first.poller.close()
    resumed = Monitor(config, first.run_dir, duration_s=None)
    await resumed.resume()
    # Pretend the restart happened three minutes later: the minutes between are gaps.
    resumed.store.resumed_at = resumed.store.run_start + 3 * MINUTE
    await resumed.tick(now=minute_of(resumed.store.run_start) + 3 * MINUTE)
    lines = [json.loads(line) for path in first.run_dir.path.glob("monitoring_snapshots_*")
             for line in path.read_text().splitlines()]
    gaps = [line for line in lines if line["kind"] == "gap"]
    assert gaps and all("monitor was not running" in g["reason"] for g in gaps)
    await resumed.close()
