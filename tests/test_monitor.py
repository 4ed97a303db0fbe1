"""The monitor end to end on real PostgreSQL: snapshots, gaps, the report, outages."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from tui.config import load_config
from tests.conftest import embedded_server
from tui.demo.embedded import create_bot_database
from tui.monitor import Monitor
from tui.outputs.report import OLD_KIT_TOTALS
from tui.outputs.rundir import RunDir
from tui.store.buckets import MINUTE, minute_of

INSERT = ("INSERT INTO monitoring.events (event_type, exchange, severity, position_id, created_at)"
          " VALUES ($1, $2, $3, $4, now() - make_interval(secs => $5))")


def make_monitor(dsn: str, tmp_path: Path, duration_s: float | None = 3600, **env) -> Monitor:
    config = load_config(environ=env, overrides={"database.dsn": dsn})
    return Monitor(config, RunDir.create(config, out=str(tmp_path)), duration_s=duration_s)


def read_lines(run: Path) -> list[dict]:
    lines = []
    for path in sorted(run.glob("monitoring_snapshots_*.jsonl")):
        lines.extend(json.loads(line) for line in path.read_text().splitlines())
    return lines


POSITION = ("INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price, "
            "status, has_stop_loss, stop_loss_price, opened_at) VALUES ($1, $2, 'long', 1, 1, "
            "$3, $4, $5, now() - make_interval(secs => $6)) RETURNING id")


def make_quiet_monitor(dsn: str, tmp_path: Path, **kwargs) -> Monitor:
    """No final wait: these tests drive the end themselves."""
    return make_monitor(dsn, tmp_path, BOTMON_RUN_FINAL_WAIT_S="0", **kwargs)


async def test_snapshot_lines_follow_the_old_kit_layout_plus_exchanges(bot_db, tmp_path):
    writer = await asyncpg.connect(bot_db)
    # Opened ten minutes ago: BUSDT has neither the flag nor a stop-loss price, past the grace.
    await writer.execute(POSITION, "AUSDT", "binance", "active", True, 0.9, 600)
    await writer.execute(POSITION, "BUSDT", "bybit", "active", False, None, 600)
    await writer.execute(POSITION, "CUSDT", "okx", "active", True, 0.9, 600)
    monitor = make_quiet_monitor(bot_db, tmp_path)
    await monitor.open()
    # The current bot's atomic open: a row, no position_created event.
    await writer.execute(POSITION, "DUSDT", "okx", "active", False, 0.9, 0)
    await writer.execute(INSERT, "health_check_failed", None, "WARNING", None, 0)
    await monitor.poll_once()
    start = monitor.store.run_start
    await monitor.tick(now=minute_of(start) + 2 * MINUTE + timedelta(seconds=11))
    lines = read_lines(monitor.run_dir.path)
    await writer.close()
    await monitor.close()
    first = lines[0]
    assert first["kind"] == "minute" and first["partial"] is True
    positions = first["metrics"]["positions"]
    assert positions == {"total": 4, "binance": 1, "bybit": 1, "okx": 2, "unprotected": 1,
                         "aged": 0}
    assert set(first["metrics"]["activity"]) >= {"new_opened", "prices_updated", "ts_activated",
                                                 "sl_updates", "closed"}
    assert set(first["metrics"]["issues"]) == {"aged", "zombies", "emergency", "errors",
                                               "ws_reconnects"}
    assert first["metrics"]["activity"]["new_opened"] == 1
    assert first["metrics"]["issues"]["errors"] == 1
    assert first["by_exchange"]["okx"]["opened"] == 1
    # This database holds no websocket events at all: null with its reason, never 0.
    assert first["metrics"]["issues"]["ws_reconnects"] is None
    assert first["values"]["ws_reconnects"] is None
    assert first["values"]["positions_opened_events"] is None
    # The minute after had no poll at all: a gap with a reason, not zeros.
    assert lines[1]["kind"] == "gap" and lines[1]["reason"]
    assert "metrics" not in lines[1]


async def test_final_report_totals_equal_an_exact_count_of_the_interval(bot_db, tmp_path):
    writer = await asyncpg.connect(bot_db)
    await writer.execute(INSERT, "position_created", "bybit", "INFO", None, 30)  # before start
    await writer.execute(POSITION, "OLDUSDT", "bybit", "active", True, 0.9, 30)  # before start
    monitor = make_quiet_monitor(bot_db, tmp_path)
    await monitor.open()
    types = ["position_created", "position_closed", "trailing_stop_activated",
             "trailing_stop_sl_updated", "zombie_order_cancelled", "order_error",
             "emergency_close_all_triggered", "websocket_disconnected", "health_check_failed",
             "position_updated"]
    for i, event_type in enumerate(types * 3):
        await writer.execute(INSERT, event_type, "binance" if i % 2 else "bybit",
                             "ERROR" if event_type == "order_error" else "INFO", i, 0)
    ids = [await writer.fetchval(POSITION, f"P{i}USDT", ("binance", "bybit")[i % 2], "active",
                                 True, 0.9, 0) for i in range(3)]
    await monitor.poll_once()
    # Closes by any path: the sync (no event), and a position that opens and closes between
    # two polls.
    await writer.execute("UPDATE monitoring.positions SET status = 'closed_by_sync', "
                         "closed_at = now() WHERE id = $1", ids[0])
    await writer.execute(POSITION, "FASTUSDT", "bybit", "closed", True, 0.9, 0)
    await monitor.poll_once()
    # Committed after the last poll but stamped inside the run: the recount still has it.
    await writer.execute(INSERT, "position_closed", "bybit", "INFO", None, 0)
    await writer.execute("UPDATE monitoring.positions SET status = 'closed', closed_at = now() "
                         "WHERE symbol = 'OLDUSDT'")
    path = await monitor.finish("test")
    report = json.loads(path.read_text())
    await writer.close()
    await monitor.close()
    for key in ("monitoring_duration_minutes", "monitoring_start", "monitoring_end",
                "total_alerts", "critical_alerts", "warning_alerts", "metrics_summary", "alerts"):
        assert key in report
    assert "+00:00" in report["monitoring_start"]
    summary = report["metrics_summary"]
    assert set(OLD_KIT_TOTALS) <= set(summary)
    assert summary["total_positions_opened"] == 4  # the one before the start is excluded
    assert summary["total_positions_closed"] == 3  # sync, between polls, OLDUSDT at the end
    assert summary["total_position_created_events"] == 3
    assert summary["total_position_closed_events"] == 4
    assert summary["total_ts_activations"] == 3
    assert summary["total_sl_updates"] == 3
    assert summary["total_zombies"] == 3
    assert summary["total_emergency_closes"] == 3
    assert summary["total_ws_reconnects"] == 3
    assert summary["total_errors"] == 6  # order_error (ERROR) + health_check_failed (*_failed)
    assert summary["counting"]["source"] == "recount"
    assert summary["counting"]["streamed_events"] == 31  # the last poll at the end streams it
    assert summary["counting"]["recounted_events"] == 31
    assert summary["by_exchange"]["bybit"]["closed"] == 2  # FASTUSDT, OLDUSDT
    assert summary["by_exchange"]["binance"]["closed"] == 1  # P0USDT by the sync
    assert summary["by_exchange"]["binance"]["opened"] == 2


@pytest.fixture(scope="module")
def own_server():
    """A private server this module may stop and start (the shared one must stay up)."""
    with embedded_server("botmon-outage-") as server:
        yield server, create_bot_database(server, "outage")


async def test_outage_writes_gaps_and_counts_outage_events_once_after_reconnect(own_server,
                                                                                tmp_path):
    server, dsn = own_server
    monitor = make_monitor(dsn, tmp_path)
    await monitor.open()
    writer = await asyncpg.connect(dsn)
    await writer.execute(POSITION, "AUSDT", "binance", "active", True, 0.9, 0)
    assert await monitor.poll_once()
    await writer.execute(POSITION, "BUSDT", "binance", "active", True, 0.9, 0)  # not polled
    await writer.close()
    server.stop()
    assert not await monitor.poll_once()
    view = monitor.view
    assert not view.db_up and "unreachable" in view.db_error
    assert monitor.poll_delay() >= monitor.config.poll.interval_s
    outage_minute = minute_of(monitor.now()) + MINUTE
    await monitor.tick(now=outage_minute + MINUTE + timedelta(seconds=11))
    gaps = [line for line in read_lines(monitor.run_dir.path) if line["kind"] == "gap"]
    assert gaps and "unreachable" in gaps[-1]["reason"]

    server.start()
    writer = await asyncpg.connect(dsn)
    # Events the bot queued during the outage, flushed when the database came back, and a
    # position closed meanwhile.
    for _ in range(3):
        await writer.execute(INSERT, "position_closed", "bybit", "INFO", None, 0)
    await writer.execute("UPDATE monitoring.positions SET status = 'closed', closed_at = now() "
                         "WHERE symbol = 'AUSDT'")
    await writer.close()
    assert await monitor.poll_once()
    assert await monitor.poll_once()
    view = monitor.view
    assert view.db_up
    assert view.value("positions_opened", "all_time") == 2
    assert view.value("positions_closed", "all_time") == 1
    assert view.value("positions_closed_events", "all_time") == 3
    await monitor.close()


async def test_poll_timeout_is_a_failure_not_a_crash(own_server, tmp_path):
    server, dsn = own_server
    if not server.running:
        server.start()
    monitor = make_monitor(dsn, tmp_path, BOTMON_DATABASE_STATEMENT_TIMEOUT_MS="1")
    # 1 ms is too short for even the first poll on most machines; either way no exception.
    try:
        await monitor.open()
    except Exception as exc:  # noqa: BLE001
        assert "timed out" in str(exc) or "statement timeout" in str(exc)
    else:
        assert await monitor.poll_once() in (True, False)
    await monitor.close()


async def test_log_records_feed_every_window_and_the_tail(bot_db, tmp_path):
    logs = tmp_path / "monitoring_logs"
    logs.mkdir()
    log = logs / "bot_20261123_090000.log"
    log.write_text("")
    config = load_config(environ={}, overrides={"database.dsn": bot_db,
                                                "logs.paths": [str(logs / "bot_*.log")]})
    monitor = Monitor(config, RunDir.create(config, out=str(tmp_path / "runs")),
                      duration_s=3600)
    view = await monitor.open()
    assert view.value("log_errors", "all_time") == 0  # a followed log starts at zero
    assert monitor.poll_log() == 0
    from datetime import datetime

    # A moment after the run started (log times have millisecond precision).
    stamp = (datetime.now() + timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S,123")
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"{stamp} - websocket.binance_stream - ERROR - Connection failed: boom\n"
                     "Traceback (most recent call last):\n"
                     '  File "x.py", line 1, in <module>\n'
                     "ConnectionError: boom\n"
                     f"{stamp} - websocket.improved_stream - INFO - Waiting 5s before reconnect "
                     "attempt 1\n"
                     f"{stamp} - core.position_manager - WARNING - ⚠️ Stop Loss already exists "
                     "at 1.5, skipping\n"
                     # the health report's status line is not a reconnect
                     f"{stamp} - __main__ - WARNING -   - Signal Processor: degraded - WebSocket "
                     "reconnecting (attempt 1)\n"
                     # one failed SL update logged twice in the same millisecond: one incident
                     f"{stamp} - core.event_logger - ERROR - trailing_stop_sl_update_failed: "
                     "{'symbol': 'SAROSUSDT', 'error': 'Exchange update failed'}\n"
                     f"{stamp} - protection.trailing_stop - ERROR - ❌ SAROSUSDT: SL update "
                     "FAILED on exchange, state rolled back (keeping old stop 0.04)\n")
    monitor.poll_log()
    # The last record is finished by the next one or by a flush (a quiet log, shutdown).
    monitor.take_log(monitor.log_feed.entries(monitor.log_feed.tailer.flush(), monitor.now()),
                     False)
    view = await monitor.tick()
    # All-time, not the current minute: the records may fall in the next minute (near :59).
    current = view.windows["all_time"]
    assert current["log_errors"] == 2 and current["log_warnings"] == 2
    assert current["log_tracebacks"] == 1
    assert current["log_ws_reconnects"] == 1 and current["log_ws_disconnects"] == 1
    assert current["log_sl_failures"] == 1 and current["log_folded"] == 1
    assert view.value("log_records", "all_time") == 6
    # the tailer's own health: every physical line read (tracebacks included)
    assert current["log_lines"] == 9 and current.get("log_rotations", 0) == 0
    assert view.value("log_silent_s", "current") is not None
    assert [e.level for e in view.log_tail] == ["ERROR", "INFO", "WARNING", "WARNING", "ERROR",
                                                "ERROR"]
    assert view.log_tail[0].traceback[-1] == "ConnectionError: boom"
    await monitor.close()


async def test_a_frozen_database_is_down_after_the_statement_timeout(own_server, tmp_path):
    """A server that stops answering (SIGSTOP) cannot enforce its own statement_timeout: the
    client gives up just after it, and the monitor shows the database as down."""
    import signal
    import time

    from tests.test_ui_outage import server_pids, signal_server

    server, dsn = own_server
    if not server.running:
        server.start()
    monitor = make_monitor(dsn, tmp_path)
    await monitor.open()
    pids = server_pids(server)
    try:
        signal_server(pids, signal.SIGSTOP)
        started = time.monotonic()
        assert not await monitor.poll_once()
        elapsed = time.monotonic() - started
        view = monitor.view
        assert not view.db_up and "did not answer within 2.5 s" in view.db_error
        assert elapsed < 5.0, f"a frozen database took {elapsed:.1f} s to be seen as down"
        signal_server(pids, signal.SIGCONT)
        assert await monitor.poll_once()  # it answers again: a new connection, the same cursor
    finally:
        signal_server(pids, signal.SIGCONT)
        await monitor.close()
