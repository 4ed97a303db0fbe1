"""``botmon analyze``: every SQL section on a seeded database with known answers."""

from __future__ import annotations

import io
import json
import shutil
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import asyncpg
import pytest

from tui.analysis import analyze_cli
from tui.analysis.analyze_output import format_cell, jsonable, render_text, to_document
from tui.analysis.db import (Analysis, analyze, bind, glob_to_like, load_sections,
                             run_sections)
from tui.config import load_config
from tui.resources import data_path
from tui.sources.connect import connect

UTC = timezone.utc
T0 = datetime(2025, 10, 15, 8, 0, tzinfo=UTC)
SINCE, UNTIL = T0, T0 + timedelta(hours=8)
H = timedelta(hours=1)
M = timedelta(minutes=1)
MS = timedelta(milliseconds=1)

NEW_TYPES = ("websocket_", "subscription_", "database_error", "exchange_error")


def config_for(dsn: str, **overrides):
    return load_config(None, environ={}, overrides={"database.dsn": dsn, **overrides})


# -- seed ---------------------------------------------------------------------------------------

#        id  symbol     exchange  status          opened      closed          realized  pnl  sl
POSITIONS = [
    (1, "AAAUSDT", "binance", "active", T0 + 1 * H, None, None, None, True),
    (2, "BBBUSDT", "binance", "active", T0 + 6 * H, None, None, None, True),
    (3, "CCCUSDT", "bybit", "pending_sl", T0 + 7.5 * H, None, None, None, False),
    (4, "DDDUSDT", "bybit", "entry_placed", T0 + 4 * H, None, None, None, True),
    (5, "EEEUSDT", "binance", "closed", T0 + 0.5 * H, T0 + 2 * H, "10", None, True),
    (6, "FFFUSDT", "binance", "closed", T0 + 1 * H, T0 + 3 * H, "-5", None, True),
    (7, "GGGUSDT", "bybit", "closed", T0 + 2 * H, T0 + 5 * H, "20", None, True),
    (8, "HHHUSDT", "bybit", "closed", T0 + 3 * H, T0 + 6 * H, None, "3", True),
    (9, "IIIUSDT", "bybit", "closed_by_sync", T0 + 1 * H, T0 + 7 * H, "-2", None, True),
    (10, "JJJUSDT", "binance", "rolled_back", T0 + 1 * H, T0 + 1 * H + M, None, None, False),
    (11, "KKKUSDT", "binance", "closed", T0 - 6 * 24 * H, T0 - 5 * 24 * H, "100", None, True),
]


def ev(event_type, at, *, position=None, order=None, symbol=None, exchange=None,
       severity="INFO", message=None, corr=None, data=None):
    return (event_type, json.dumps(data) if data is not None else None, corr, position, order,
            symbol, exchange, severity, message, at)


def seed_events(new_types: bool = True) -> list[tuple]:
    e = []
    # trailing stop: p2 22 updates, p4 exactly 20 (not more), p5 20 + 10 SL moves, p6 outside
    e += [ev("trailing_stop_updated", T0 + 6 * H + i * M, position=2) for i in range(22)]
    e += [ev("trailing_stop_updated", T0 + 4 * H + i * M, position=4) for i in range(20)]
    e += [ev("trailing_stop_updated", T0 + 0.6 * H + i * M, position=5) for i in range(20)]
    e += [ev("trailing_stop_sl_updated", T0 + 1.1 * H + i * M, position=5) for i in range(10)]
    e += [ev("trailing_stop_updated", T0 - 24 * H + i * M, position=6) for i in range(50)]
    e += [ev("trailing_stop_activated", T0 + 0.7 * H, position=5)]
    # errors, incl. *_failed types and severity-only matches
    e += [ev("health_check_failed", T0 + i * H + 5 * M, severity="WARNING",
             message=f"health {i}") for i in range(4)]
    e += [ev("stop_loss_set_failed", T0 + 7.6 * H + i * M, position=3, symbol="CCCUSDT",
             exchange="bybit", severity="ERROR", message="price precision") for i in range(2)]
    e += [ev("order_error", T0 + (2 + i) * H, severity="ERROR", exchange="bybit",
             message=f"m{i + 1}" + (" [red]not markup[/red] | pipe" if i == 2 else ""))
          for i in range(3)]
    e += [ev("order_error", T0 - 48 * H + i * M, severity="ERROR", message="old")
          for i in range(5)]
    e += [ev("bot_started", T0 + 10 * M, severity="CRITICAL", message="restarted")]
    # performance: 20 positions, SL placed 100..2000 ms after creation; two order fills
    for i in range(1, 21):
        created = T0 + 10 * M + i * M
        e += [ev("position_created", created, position=1000 + i),
              ev("stop_loss_placed", created + i * 100 * MS, position=1000 + i)]
    e += [ev("order_placed", T0 + 3 * H, order="o1"), ev("order_filled", T0 + 3 * H + 50 * MS,
                                                          order="o1"),
          ev("order_placed", T0 + 4 * H, order="o2"), ev("order_filled", T0 + 4 * H + 150 * MS,
                                                          order="o2")]
    # aged
    e += [ev("aged_position_detected", T0 + 5 * H + i * M, position=1, symbol="AAAUSDT",
             exchange="binance") for i in range(2)]
    e += [ev("aged_position_detected", T0 + 1.9 * H, position=5, symbol="EEEUSDT",
             exchange="binance")]
    # zombies
    e += [ev("zombie_orders_detected", T0 + 2 * H + i * M, exchange="binance",
             data={"count": 3}) for i in range(2)]
    e += [ev("zombie_order_cancelled", T0 + 2 * H + i * M, exchange="binance", order=f"z{i}",
             symbol="ZZZUSDT") for i in range(3)]
    e += [ev("zombie_cleanup_completed", T0 + 2.5 * H, exchange="bybit")]
    # race: p2 two operations 300 ms apart from different correlations; p7 same correlation;
    # p1 different correlations but 5 s apart
    e += [ev("stop_loss_updated", T0 + 6 * H + 10 * M, position=2, corr="a"),
          ev("trailing_stop_sl_updated", T0 + 6 * H + 10 * M + 300 * MS, position=2, corr="b"),
          ev("stop_loss_placed", T0 + 2 * H + M, position=7, corr="x"),
          ev("position_closed", T0 + 2 * H + M + 200 * MS, position=7, corr="x"),
          ev("stop_loss_updated", T0 + 2 * H, position=1, corr="c"),
          ev("stop_loss_updated", T0 + 2 * H + 5000 * MS, position=1, corr="d")]
    e += [ev("position_duplicate_prevented", T0 + 3 * H, symbol="AAAUSDT", exchange="binance")]
    # lifecycle of p8 (the most recently closed 'closed' position)
    e += [ev("position_created", T0 + 3 * H, position=8, corr="L", data={"side": "long"})]
    e += [ev("position_updated", T0 + 3 * H + (1 + i) * M, position=8) for i in range(5)]
    e += [ev("trailing_stop_activated", T0 + 3 * H + 10 * M, position=8, corr="L2")]
    e += [ev("position_updated", T0 + 3 * H + (11 + i) * M, position=8) for i in range(3)]
    e += [ev("position_closed", T0 + 6 * H, position=8, corr="L3")]
    # websocket (newer enum only)
    e += [ev("websocket_disconnected", T0 + 1 * H + i * M, exchange="binance", severity="WARNING")
          for i in range(2)]
    e += [ev("websocket_connected", T0 + 1 * H + (5 + i) * M, exchange="binance")
          for i in range(2)]
    e += [ev("subscription_stale_detected", T0 + 3 * H + 1 * M, exchange="bybit")]
    e += [ev("websocket_error", T0 + 3 * H + 2 * M, exchange="bybit", severity="WARNING",
             message="socket closed")]
    if not new_types:
        e = [row for row in e if not row[0].startswith(NEW_TYPES)]
    return e


async def seed(dsn: str, new_types: bool = True) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for (pid, symbol, exchange, status, opened, closed, realized, pnl, sl) in POSITIONS:
            await conn.execute(
                "INSERT INTO monitoring.positions (id, symbol, exchange, side, quantity, "
                "entry_price, status, opened_at, created_at, closed_at, updated_at, "
                "realized_pnl, pnl, has_stop_loss) "
                "VALUES ($1, $2, $3, 'long', 1, 100, $4, $5::timestamptz, $5, $6::timestamptz, "
                "coalesce($6, $5), $7, $8, $9)",
                pid, symbol, exchange, status, opened, closed,
                None if realized is None else Decimal(realized),
                None if pnl is None else Decimal(pnl), sl)
        await conn.executemany(
            "INSERT INTO monitoring.trailing_stop_state (symbol, exchange, position_id, state, "
            "is_activated, update_count, created_at, last_update_time, entry_price, side, "
            "quantity) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, 100, 'long', 1)",
            [("AAAUSDT", "binance", 1, "active", True, 25, T0 + 2 * H),
             ("BBBUSDT", "binance", 2, "waiting", False, 5, T0 + 6 * H),
             ("DDDUSDT", "bybit", 4, "inactive", False, 20, T0 + 4 * H)])
        await conn.executemany(
            "INSERT INTO monitoring.events (event_type, event_data, correlation_id, position_id, "
            "order_id, symbol, exchange, severity, error_message, created_at) "
            "VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7, $8, $9, $10)", seed_events(new_types))
    finally:
        await conn.close()


@pytest.fixture
async def seeded(bot_db):
    await seed(bot_db)
    return bot_db


async def run_all(dsn: str, **kwargs) -> dict[str, dict]:
    result = await analyze(config_for(dsn), since=SINCE, until=UNTIL, **kwargs)
    return {s["section"]: s for s in result.sections}


def rows_of(sections, name):
    section = sections[name]
    assert "error" not in section, section["error"]
    return section["rows"]


# -- the sections ---------------------------------------------------------------------------------

async def test_every_section_runs_on_the_reference_schema(seeded):
    sections = await run_all(seeded)
    assert list(sections) == [
        "01_positions_summary", "02_stop_loss", "03_trailing_stop", "04_errors",
        "05_performance", "06_aged_positions", "07_zombie_orders", "08_pnl_win_rate",
        "09_websocket_health", "10_race_conditions", "11_hourly_distribution",
        "12_critical_events", "13_position_lifecycle", "14_database_health"]
    for name, section in sections.items():
        assert "error" not in section, f"{name}: {section.get('error')}"
        assert section["title"] and not section["title"].startswith("0")


async def test_positions_summary(seeded):
    rows = rows_of(await run_all(seeded), "01_positions_summary")
    by_key = {(r["status"], r["exchange"]): r for r in rows}
    total = by_key[("ALL", "ALL")]
    assert (total["positions"], total["open"]) == (10, 4)  # p11 closed before the window
    assert by_key[("active", "binance")]["positions"] == 2
    assert by_key[("closed", "bybit")]["positions"] == 2
    assert by_key[("ALL", "binance")]["positions"] == 5
    assert by_key[("ALL", "bybit")]["open"] == 2
    assert rows[-1] is total


async def test_stop_loss_coverage_and_events(seeded):
    rows = rows_of(await run_all(seeded), "02_stop_loss")
    coverage = {(r["item"], r["exchange"]): r for r in rows if r["kind"] == "coverage"}
    assert coverage[("open positions", "ALL")]["count"] == 4
    assert coverage[("open positions", "ALL")]["coverage_pct"] == Decimal("75.00")
    assert coverage[("open positions", "binance")]["coverage_pct"] == Decimal("100.00")
    assert coverage[("without stop-loss", "bybit")]["count"] == 1
    assert "CCCUSDT #3" in coverage[("without stop-loss", "ALL")]["detail"]
    assert ("without stop-loss", "binance") not in coverage
    events = {r["item"]: r["count"] for r in rows if r["kind"] == "event"}
    assert events == {"stop_loss_placed": 21, "stop_loss_set_failed": 2, "stop_loss_updated": 3}


async def test_stop_loss_check_follows_the_config(seeded):
    config = config_for(seeded, **{"positions.stop_loss_check": "price"})  # no prices seeded
    result = await analyze(config, since=SINCE, until=UNTIL, only=["02"])
    rows = result.sections[0]["rows"]
    unprotected = {r["exchange"]: r["count"] for r in rows if r["item"] == "without stop-loss"}
    assert unprotected == {"binance": 2, "bybit": 2, "ALL": 4}


async def test_trailing_stop_positions_with_more_than_20_updates(seeded):
    rows = rows_of(await run_all(seeded), "03_trailing_stop")
    heavy = {r["item"]: r for r in rows if r["kind"] == "more than 20 updates"}
    assert sorted(heavy) == ["AAAUSDT binance #1", "BBBUSDT binance #2", "EEEUSDT binance #5"]
    assert heavy["AAAUSDT binance #1"]["count"] == 25  # from trailing_stop_state.update_count
    assert heavy["BBBUSDT binance #2"]["count"] == 23  # events: 22 updated + 1 sl_updated
    assert heavy["EEEUSDT binance #5"]["count"] == 30  # updated + sl_updated events
    states = {r["item"]: r["count"] for r in rows if r["kind"] == "state"}
    assert states == {"active": 1, "waiting": 1, "inactive": 1}
    events = {r["item"]: r["count"] for r in rows if r["kind"] == "event"}
    assert events["trailing_stop_activated"] == 2
    assert events["trailing_stop_updated"] == 62  # the 50 before the window are not counted


async def test_errors_by_type_and_severity(seeded):
    rows = rows_of(await run_all(seeded), "04_errors")
    found = {(r["event_type"], r["severity"]): r for r in rows}
    assert {k: r["events"] for k, r in found.items()} == {
        ("health_check_failed", "WARNING"): 4,  # *_failed: the old script missed these
        ("order_error", "ERROR"): 3,  # 5 more before the window
        ("stop_loss_set_failed", "ERROR"): 2,
        ("bot_started", "CRITICAL"): 1,  # by severity only
        ("websocket_error", "WARNING"): 1,
    }
    assert found[("order_error", "ERROR")]["sample_message"].startswith("m3")
    assert found[("bot_started", "CRITICAL")]["counted_as"] == "severity"
    assert found[("health_check_failed", "WARNING")]["counted_as"] == "type"
    assert found[("order_error", "ERROR")]["counted_as"] == "type+severity"
    assert found[("order_error", "ERROR")]["first_seen"] == T0 + 2 * H
    assert found[("order_error", "ERROR")]["last_seen"] == T0 + 4 * H


async def test_error_patterns_come_from_the_config(seeded):
    config = config_for(seeded, **{"events.errors": ["health_*"],
                                   "events.error_severities": ["CRITICAL"]})
    result = await analyze(config, since=SINCE, until=UNTIL, only=["04"])
    rows = result.sections[0]["rows"]
    assert {r["event_type"]: r["events"] for r in rows} == {"health_check_failed": 4,
                                                            "bot_started": 1}


async def test_performance_percentiles(seeded):
    rows = {r["metric"]: r for r in rows_of(await run_all(seeded), "05_performance")}
    sl = rows["position_created -> stop_loss_placed"]
    # 100, 200, ..., 2000 ms: percentile_cont interpolates between the sorted samples
    assert sl["samples"] == 20
    assert (sl["avg"], sl["p50"], sl["p95"], sl["p99"], sl["max"]) == (
        Decimal("1050.00"), Decimal("1050.00"), Decimal("1905.00"), Decimal("1981.00"),
        Decimal("2000.00"))
    fills = rows["order_placed -> order_filled"]
    assert (fills["samples"], fills["p50"], fills["max"]) == (2, Decimal("100.00"),
                                                              Decimal("150.00"))
    life = rows["position lifetime (closed in window)"]
    assert (life["samples"], life["p50"], life["avg"]) == (6, Decimal("150.00"),
                                                           Decimal("155.17"))


async def test_performance_pairs_each_finish_with_the_latest_start(bot_db):
    conn = await asyncpg.connect(bot_db)
    try:
        await conn.executemany(
            "INSERT INTO monitoring.events (event_type, position_id, order_id, created_at) "
            "VALUES ($1, $2, $3, $4)", [
                ("stop_loss_placed", 1, None, T0 + H),  # before its creation: not a sample
                ("stop_loss_placed", 1, None, T0 + H + 2 * M),  # same instant: 0 ms
                ("position_created", 1, None, T0 + H + 2 * M),
                ("stop_loss_placed", 1, None, T0 + H + 3 * M),  # a second SL: not a sample
                ("position_created", 2, None, T0 + H),
                ("stop_loss_placed", 2, None, T0 + H + 400 * MS),
                ("order_placed", None, "o9", T0 + H),  # never filled: not a sample
                ("order_filled", None, "o8", T0 + H),  # never placed: not a sample
            ])
    finally:
        await conn.close()
    rows = {r["metric"]: r for r in rows_of(await run_all(bot_db), "05_performance")}
    sl = rows["position_created -> stop_loss_placed"]
    assert (sl["samples"], sl["avg"], sl["max"]) == (2, Decimal("200.00"), Decimal("400.00"))
    assert rows["order_placed -> order_filled"]["samples"] == 0


async def test_aged_positions(seeded):
    rows = rows_of(await run_all(seeded), "06_aged_positions")
    got = [(r["position_id"], r["aged_now"], r["aged_events"], r["age_hours"]) for r in rows]
    assert got == [(1, True, 2, Decimal("7.00")), (4, True, 0, Decimal("4.00")),
                   (5, False, 1, Decimal("1.50"))]


async def test_aged_threshold_comes_from_the_config(seeded):
    config = config_for(seeded, **{"positions.aged_hours": 1.5})
    result = await analyze(config, since=SINCE, until=UNTIL, only=["06"])
    aged_now = {r["position_id"] for r in result.sections[0]["rows"] if r["aged_now"]}
    assert aged_now == {1, 2, 4}


async def test_zombie_orders(seeded):
    rows = rows_of(await run_all(seeded), "07_zombie_orders")
    assert {(r["event_type"], r["exchange"]): r["events"] for r in rows} == {
        ("zombie_order_cancelled", "binance"): 3,
        ("zombie_orders_detected", "binance"): 2,
        ("zombie_cleanup_completed", "bybit"): 1}
    detected = next(r for r in rows if r["event_type"] == "zombie_orders_detected")
    assert json.loads(detected["sample"]) == {"count": 3}


async def test_pnl_and_win_rate(seeded):
    rows = {r["exchange"]: r for r in rows_of(await run_all(seeded), "08_pnl_win_rate")}
    total = rows["ALL"]
    assert (total["closed"], total["with_pnl"], total["wins"], total["losses"]) == (6, 5, 3, 2)
    assert total["win_rate_pct"] == Decimal("60.00")
    assert total["total_pnl"] == Decimal("26")
    assert (total["best"], total["worst"]) == (Decimal("20"), Decimal("-5"))
    assert rows["binance"]["win_rate_pct"] == Decimal("50.00")
    assert rows["bybit"]["win_rate_pct"] == Decimal("66.67")
    assert rows["bybit"]["total_pnl"] == Decimal("21")


async def test_websocket_health_by_hour(seeded):
    rows = rows_of(await run_all(seeded), "09_websocket_health")
    by_key = {(r["hour"], r["exchange"]): r for r in rows}
    first = by_key[(T0 + H, "binance")]
    assert (first["disconnected"], first["connected"], first["reconnects"], first["total"]) == (
        2, 2, 2, 4)
    second = by_key[(T0 + 3 * H, "bybit")]
    assert (second["stale"], second["errors"], second["total"]) == (1, 1, 2)
    assert rows[-1]["hour"] is None and rows[-1]["exchange"] == "ALL"
    assert rows[-1]["total"] == 6


async def test_race_conditions(seeded):
    rows = rows_of(await run_all(seeded), "10_race_conditions")
    concurrent = [r for r in rows if r["kind"] == "concurrent operations"]
    assert [(r["positions"], r["occurrences"]) for r in concurrent] == [("2", 1)]
    assert concurrent[0]["detail"] == "stop_loss_updated + trailing_stop_sl_updated"
    prevented = [r for r in rows if r["kind"] == "duplicate prevented"]
    assert [(r["symbol"], r["occurrences"]) for r in prevented] == [("AAAUSDT", 1)]


async def test_duplicate_open_positions(bot_db):
    conn = await asyncpg.connect(bot_db)
    try:  # an older bot without the unique index could leave two open rows
        await conn.execute("DROP INDEX monitoring.idx_unique_active_position")
        await conn.execute(
            "INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price, "
            "status, opened_at) VALUES ('XUSDT', 'bybit', 'long', 1, 1, 'active', $1), "
            "('XUSDT', 'bybit', 'long', 1, 1, 'pending_sl', $1), "
            "('XUSDT', 'binance', 'long', 1, 1, 'active', $1)", T0 + H)
    finally:
        await conn.close()
    sections = await run_all(bot_db)
    dups = [r for r in rows_of(sections, "10_race_conditions")
            if r["kind"] == "duplicate open positions"]
    assert [(r["symbol"], r["exchange"], r["occurrences"], r["positions"]) for r in dups] == [
        ("XUSDT", "bybit", 2, "1, 2")]


async def test_hourly_distribution(seeded):
    rows = rows_of(await run_all(seeded), "11_hourly_distribution")
    conn = await asyncpg.connect(seeded)
    try:
        in_window = await conn.fetchval(
            "SELECT count(*) FROM monitoring.events WHERE created_at >= $1 AND created_at < $2",
            SINCE, UNTIL)
    finally:
        await conn.close()
    total = rows[-1]
    assert total["hour"] is None and total["total"] == in_window
    groups = ("price_updates", "positions", "orders", "stop_loss", "trailing_stop", "signals",
              "sync", "zombies", "websocket", "system")
    for row in rows:
        assert sum(row[g] for g in groups) == row["total"]
    assert total["price_updates"] == 8
    assert total["errors"] == 6  # 2 + 3 ERROR, 1 CRITICAL
    assert total["websocket"] == 6 and total["zombies"] == 6
    by_hour = {r["hour"]: r for r in rows[:-1]}
    assert by_hour[T0 + H]["websocket"] == 4
    assert sum(r["total"] for r in rows[:-1]) == in_window


async def test_critical_events_timeline(seeded):
    rows = rows_of(await run_all(seeded), "12_critical_events")
    assert [(r["event_type"], r["severity"]) for r in rows] == [
        ("bot_started", "CRITICAL"), ("order_error", "ERROR"), ("order_error", "ERROR"),
        ("order_error", "ERROR"), ("stop_loss_set_failed", "ERROR"),
        ("stop_loss_set_failed", "ERROR")]
    times = [r["created_at"] for r in rows]
    assert times == sorted(times)


async def test_sample_position_lifecycle(seeded):
    rows = rows_of(await run_all(seeded), "13_position_lifecycle")
    assert {r["position_id"] for r in rows} == {8}
    assert [(r["event_type"], r["events"]) for r in rows] == [
        ("(position)", None), ("position_created", 1), ("position_updated", 5),
        ("trailing_stop_activated", 1), ("position_updated", 3), ("position_closed", 1)]
    assert "status closed" in rows[0]["detail"]
    assert rows[-1]["seconds"] == Decimal("10800.000")  # 3 h after the position opened


async def test_database_health(seeded):
    rows = rows_of(await run_all(seeded), "14_database_health")
    assert [r["table"] for r in rows] == ["positions", "events", "trailing_stop_state", "orders",
                                          "database"]
    assert rows[1]["relation"] == "monitoring.events"
    assert all(r["total_bytes"] > 0 for r in rows)


# -- robustness -----------------------------------------------------------------------------------

async def test_a_database_with_only_the_old_event_types(bot_db):
    await seed(bot_db, new_types=False)
    sections = await run_all(bot_db)
    for name, section in sections.items():
        assert "error" not in section, f"{name}: {section.get('error')}"
    assert sections["09_websocket_health"]["rows"] == []
    errors = {r["event_type"] for r in sections["04_errors"]["rows"]}
    assert "websocket_error" not in errors and "health_check_failed" in errors


async def test_sections_on_types_this_bot_never_writes_say_not_measurable(bot_db, capsys):
    await seed(bot_db, new_types=False)
    sections = await run_all(bot_db)
    # No websocket_*/subscription_* events: not an empty, healthy table.
    assert sections["09_websocket_health"]["rows"] == []
    assert "no version of the bot writes them" in sections["09_websocket_health"][
        "not_measurable"]
    hourly = rows_of(sections, "11_hourly_distribution")
    assert all(r["websocket"] is None for r in hourly)  # not a column of zeros
    assert "not_measurable" not in sections["06_aged_positions"]  # empty there means none


async def test_pairs_without_samples_carry_a_note(bot_db):
    await seed(bot_db, new_types=False)
    conn = await asyncpg.connect(bot_db)
    try:  # the current bot: atomic opens, no position_created / stop_loss_placed, no orders
        await conn.execute("DELETE FROM monitoring.events WHERE event_type = ANY($1)",
                           ["position_created", "stop_loss_placed", "order_placed"])
    finally:
        await conn.close()
    rows = {r["metric"]: r for r in rows_of(await run_all(bot_db), "05_performance")}
    placement = rows["position_created -> stop_loss_placed"]
    assert placement["samples"] == 0 and placement["p95"] is None
    assert placement["note"].startswith("not measurable on this bot: its atomic open path")
    assert rows["order_placed -> order_filled"]["note"] == \
        "not measurable on this bot: order_placed is never written"
    assert rows["position lifetime (closed in window)"]["note"] is None


async def test_pnl_has_its_currency(seeded):
    rows = {r["exchange"]: r for r in rows_of(await run_all(seeded), "08_pnl_win_rate")}
    assert {r["pnl_unit"] for r in rows.values()} == {"USDT"}


def test_text_output_says_not_measurable_instead_of_no_rows():
    analysis = Analysis(since=SINCE, until=UNTIL, all_time=False, seconds=0.5, sections=[
        {"section": "09_websocket_health", "title": "WebSocket", "rows": [],
         "not_measurable": "no websocket_* events"},
        {"section": "11_x", "title": "X", "rows": [{"websocket": None, "pnl": -0.00001}]}])
    out = io.StringIO()
    render_text(analysis, out, plain=True)
    text = out.getvalue()
    assert "not measurable on this bot: no websocket_* events" in text
    assert "(no rows)" not in text
    assert "| — " in text and "-0" not in text
    assert format_cell(Decimal("-0.0000")) == "0" and format_cell(-0.00001) == "0"


async def test_an_empty_database(bot_db):
    result = await analyze(config_for(bot_db), since=None)
    assert result.all_time and result.failed == 0
    assert {s["section"]: len(s["rows"]) for s in result.sections}["05_performance"] == 3


async def test_a_broken_section_is_reported_and_the_others_still_run(seeded, tmp_path):
    analysis = tmp_path / "sql" / "analysis"
    shutil.copytree(data_path("sql") / "analysis", analysis)
    (analysis / "07_broken.sql").write_text(
        "-- title: Broken on purpose\nSELECT event_type,\n       no_such_column\nFROM {events};\n")
    (analysis / "08_slow.sql").write_text("-- title: Too slow\nSELECT pg_sleep(5);\n")
    (analysis / "09_bad_param.sql").write_text("-- title: Bad parameter\nSELECT $9::int;\n")
    (analysis / "09_empty.sql").write_text("-- title: Empty\n-- nothing here\n")
    (analysis / "README.txt").write_text("not a section")
    config = config_for(seeded, **{"paths.sql_dir": str(tmp_path / "sql")})
    result = await analyze(config, since=SINCE, until=UNTIL, timeout_s=1.0)
    by_name = {s["section"]: s for s in result.sections}
    assert len(result.sections) == 18 and result.failed == 4
    broken = by_name["07_broken"]
    assert broken["title"] == "Broken on purpose"
    assert "no_such_column" in broken["error"] and "(line 3)" in broken["error"]
    assert "\n" not in broken["error"]
    assert "timed out after 1 s" in by_name["08_slow"]["error"]
    assert "$9" in by_name["09_bad_param"]["error"]
    assert "no SQL statement" in by_name["09_empty"]["error"]
    ok = [s for s in result.sections if "rows" in s]
    assert len(ok) == 14  # the sections after a failure ran in a clean savepoint
    assert by_name["08_pnl_win_rate"]["rows"][-1]["win_rate_pct"] == Decimal("60.00")


async def test_a_missing_table_fails_only_the_sections_using_it(seeded):
    config = config_for(seeded, **{"database.trailing_stop_table": "no_such_table"})
    result = await analyze(config, since=SINCE, until=UNTIL)
    failed = {s["section"] for s in result.sections if "error" in s}
    assert failed == {"03_trailing_stop"}
    health = next(s for s in result.sections if s["section"] == "14_database_health")["rows"]
    assert health[2]["relation"] == "missing"


async def test_the_runner_never_writes(seeded):
    config = config_for(seeded)
    conn = await connect(config, statement_timeout_ms=20_000)
    try:
        results = await run_sections(conn, config, SINCE, UNTIL)
        assert all("rows" in r for r in results)
        assert not conn.is_in_transaction()
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("INSERT INTO monitoring.events (event_type) VALUES ('x')")
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("DELETE FROM monitoring.positions")
    finally:
        await conn.close()


async def test_relative_window_uses_the_database_clock(seeded):
    result = await analyze(config_for(seeded), since=timedelta(hours=2))
    assert result.until - result.since == timedelta(hours=2)
    assert not result.all_time
    assert abs(result.until - datetime.now(UTC)) < timedelta(minutes=5)


# -- parameters, output, CLI ------------------------------------------------------------------

def test_bind_renumbers_only_the_parameters_a_statement_uses():
    sql, args = bind("SELECT $5, '$3', $1 -- $2\n /* $4 */ FROM t WHERE x = $5", list("abcdefg"))
    assert sql == "SELECT $2, '$3', $1 -- $2\n /* $4 */ FROM t WHERE x = $2"
    assert args == ["a", "e"]
    assert bind("SELECT 1", list("abc")) == ("SELECT 1", [])
    with pytest.raises(ValueError, match=r"\$8"):
        bind("SELECT $8", list("abcdefg"))


def test_glob_to_like():
    assert glob_to_like("*_failed") == "%\\_failed"
    assert glob_to_like("error_occurred") == "error\\_occurred"
    assert glob_to_like("a?c%") == "a_c\\%"


def test_sections_have_titles_and_use_only_known_names():
    sections = load_sections(load_config(None, environ={}))
    assert len(sections) == 14
    for section in sections:
        assert section.text.startswith("-- title: ")
        assert "monitoring." not in section.text  # table names only through {tokens}


def test_jsonable_numbers_and_times():
    doc = jsonable({"a": Decimal("60.00"), "b": Decimal("0.12345678"), "c": T0,
                    "d": datetime(2025, 1, 1, 12), "e": Decimal("NaN"), "f": timedelta(seconds=2)})
    assert doc == {"a": 60, "b": 0.12345678, "c": "2025-10-15T08:00:00+00:00",
                   "d": "2025-01-01T12:00:00+00:00", "e": None, "f": 2.0}
    assert format_cell(Decimal("26.00000000")) == "26"
    assert format_cell(T0 + 5 * MS) == "2025-10-15 08:00:00.005"


def test_cli_json_output(seeded, capsys):
    code = analyze_cli.main(["--dsn", seeded, "--since", SINCE.isoformat(),
                             "--until", "2025-10-15T16:00:00Z", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    doc = json.loads(out)
    assert doc["since"] == "2025-10-15T08:00:00+00:00"
    assert doc["until"] == "2025-10-15T16:00:00+00:00"
    assert len(doc["sections"]) == 14
    for section in doc["sections"]:
        assert isinstance(section["title"], str)
        assert ("rows" in section) != ("error" in section)
    pnl = next(s for s in doc["sections"] if s["section"] == "08_pnl_win_rate")
    total = pnl["rows"][-1]
    assert total["win_rate_pct"] == 60 and isinstance(total["total_pnl"], (int, float))
    assert next(r for r in pnl["rows"] if r["exchange"] == "bybit")["win_rate_pct"] == 66.67
    errors = next(s for s in doc["sections"] if s["section"] == "04_errors")["rows"]
    assert errors[0]["first_seen"].endswith("+00:00")


def test_cli_text_output_when_piped(seeded, capsys):
    code = analyze_cli.main(["--dsn", seeded, "--since", "2025-10-15 08:00",
                             "--until", "2025-10-15 16:00", "--section", "04", "--section",
                             "pnl"])
    out = capsys.readouterr().out
    assert code == 0
    assert "## 04_errors: Errors (by type and severity)" in out
    assert "## 08_pnl_win_rate" in out and "## 05_performance" not in out
    assert "| health_check_failed" in out
    assert "[red]not markup[/red] \\| pipe" in out  # neither markup nor a broken table
    assert "\x1b[" not in out


@pytest.mark.parametrize("args, says", [
    (["--since", "yesterday-ish"], "--since: not an ISO 8601 time"),
    (["--since", "99999999999d"], "--since: the duration is too long"),
    (["--since", "0h"], "--since: the duration must be positive"),
    (["--timeout-s", "nan"], "--timeout-s: expected a number of seconds > 0"),
    (["--timeout-s", "-1"], "--timeout-s: expected a number of seconds > 0"),
])
def test_cli_bad_options_are_one_line(args, says, capsys):
    assert analyze_cli.main(["--dsn", "postgresql://nobody@127.0.0.1:1/none", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and "Traceback" not in err


def test_cli_reports_bad_arguments_and_databases_in_one_line(capsys):
    assert analyze_cli.main(["--since", "yesterday-ish"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--since" in err
    code = analyze_cli.main(["--dsn", "postgresql://nobody@127.0.0.1:1/none", "--since", "1h"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot reach" in err


def test_cli_exit_status_is_1_when_a_section_fails(seeded, tmp_path, capsys):
    analysis = tmp_path / "analysis"
    analysis.mkdir()
    (analysis / "01_ok.sql").write_text("-- title: OK\nSELECT 1 AS one;\n")
    (analysis / "02_bad.sql").write_text("-- title: Bad\nSELECT * FROM nowhere;\n")
    config_file = tmp_path / "botmon.toml"
    config_file.write_text(f'[paths]\nsql_dir = "{tmp_path}"\n')
    code = analyze_cli.main(["--dsn", seeded, "--config", str(config_file), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert doc["sections"][0]["rows"] == [{"one": 1}]
    assert "nowhere" in doc["sections"][1]["error"]


def test_render_text_plain_is_markdown():
    analysis = Analysis(since=SINCE, until=UNTIL, all_time=False, seconds=0.5, sections=[
        {"section": "01_x", "title": "X", "rows": [{"a": 1, "b": None}, {"a": 2, "b": "y"}]},
        {"section": "02_y", "title": "Y", "error": "boom"},
        {"section": "03_z", "title": "Z", "rows": []}])
    out = io.StringIO()
    render_text(analysis, out, plain=True)
    text = out.getvalue()
    assert text.splitlines()[0].startswith("# botmon analyze: 2025-10-15 08:00:00 -> ")
    assert "| a | b |" in text.replace("  ", " ")
    assert "ERROR: boom" in text and "(no rows)" in text
    assert all(line == line.rstrip() for line in text.splitlines())
    assert to_document(analysis)["sections"][1] == {"section": "02_y", "title": "Y",
                                                    "error": "boom"}
