"""The trader's figures from the positions table (issue 12): realized PnL, win rate, the
24-hour figures, unrealized PnL and exposure, the snapshot line's pnl block and the report's
PnL section, on a real PostgreSQL with positions of known prices."""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg

from tui.config import load_config
from tui.monitor import Monitor
from tui.outputs.rundir import RunDir
from tui.store.buckets import MINUTE, minute_of
from tui.store.pnl import win_rate

ROW = ("INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price, "
       "current_price, unrealized_pnl, realized_pnl, pnl_percentage, status, exit_reason, "
       "stop_loss_price, has_stop_loss, opened_at, closed_at) VALUES "
       "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, true, "
       "now() - make_interval(secs => $13), now() - make_interval(secs => $14))")


def make_monitor(dsn: str, tmp_path) -> Monitor:
    config = load_config(environ={}, overrides={"database.dsn": dsn, "run.final_wait_s": 0.0})
    return Monitor(config, RunDir.create(config, out=str(tmp_path)), duration_s=None)


def test_win_rate_is_none_without_a_decided_trade():
    assert win_rate(0, 0) is None and win_rate(None, None) is None
    assert win_rate(3, 1) == 75.0 and win_rate(0, 2) == 0.0


async def test_pnl_figures_equal_the_table(bot_db, tmp_path):
    writer = await asyncpg.connect(bot_db)
    # Before the run: two trades of the last 24 hours (one won, one lost) and one open position.
    await writer.execute(ROW, "OLDWUSDT", "binance", "long", 10, 1.0, 1.2, None, 2.0, 20.0,
                         "closed", "take_profit", 0.95, 7200, 3600)
    await writer.execute(ROW, "OLDLUSDT", "bybit", "short", 5, 2.0, 2.1, None, -0.5, -5.0,
                         "closed_by_sync", "sync", 2.1, 7200, 3000)
    await writer.execute(ROW, "OPENUSDT", "binance", "long", 100, 0.5, 0.55, 5.0, None, 10.0,
                         "active", None, 0.48, 600, None)
    monitor = make_monitor(bot_db, tmp_path)
    await monitor.open()
    try:
        # During the run: a long won (+3), a short lost (-1.5), one whose row has no PnL, and a
        # new open position (exposure 20 x 2.5 = 50; unrealized +1).
        await writer.execute(ROW, "AUSDT", "binance", "long", 10, 1.0, 1.3, None, 3.0, 30.0,
                             "closed", "trailing_stop", 0.97, 60, 0)
        await writer.execute(ROW, "BUSDT", "bybit", "short", 3, 10.0, 10.5, None, -1.5, -5.0,
                             "closed", "stop_loss", 10.3, 60, 0)
        await writer.execute(ROW, "CUSDT", "bybit", "long", 1, 1.0, 1.0, None, None, None,
                             "closed_by_sync", None, 0.97, 60, 0)
        await writer.execute(ROW, "DUSDT", "bybit", "long", 20, 2.4, 2.5, 1.0, None, 4.2,
                             "active", None, 2.3, 0, None)
        assert await monitor.poll_once()
        view = await monitor.tick()
        everything = view.windows["all_time"]
        assert everything["realized_pnl"] == 1.5
        assert (everything["trades_won"], everything["trades_lost"]) == (1, 1)
        assert everything["trades_unknown_pnl"] == 1
        assert everything["win_rate_pct"] == 50.0
        assert everything["positions_closed"] == 3
        current = view.windows["current"]
        assert current["unrealized_pnl"] == 6.0  # 5 + 1
        assert current["exposure"] == 100 * 0.55 + 20 * 2.5
        assert current["realized_pnl.binance"] == 3.0
        # The last 24 hours include the two trades before the run: 2 + 3 - 0.5 - 1.5 = 3.
        assert view.pnl["realized_pnl_24h"] == 3.0 and view.pnl["trades_24h"] == 5
        assert view.pnl["win_rate_24h_pct"] == 50.0
        chart = view.pnl["cumulative"]
        assert chart[-1][1] == 1.5 and chart[0][0] == minute_of(view.run_start)
        recent = [c.position.symbol for c in view.closed_positions]
        assert set(recent[:3]) == {"AUSDT", "BUSDT", "CUSDT"}
        assert recent[3:] == ["OLDLUSDT", "OLDWUSDT"]  # newest first, the day before included
        # The minute line carries the pnl block.
        start = minute_of(view.run_start)
        await monitor.tick(now=start + MINUTE + timedelta(seconds=11))
        path = await monitor.finish("test")
    finally:
        await writer.close()
        await monitor.close()
    lines = [json.loads(line) for p in monitor.run_dir.path.glob("monitoring_snapshots_*")
             for line in p.read_text().splitlines()]
    first = next(line for line in lines if line["kind"] == "minute")
    assert first["pnl"]["realized"] == 1.5 and first["pnl"]["realized_run"] == 1.5
    assert first["pnl"]["win_rate_pct"] == 50.0
    report = json.loads(path.read_text())
    pnl = report["pnl"]
    assert pnl["source"] == "recount"
    assert (pnl["realized_pnl"], pnl["trades"], pnl["trades_won"], pnl["trades_lost"]) == \
        (1.5, 3, 1, 1)
    assert pnl["win_rate_pct"] == 50.0 and pnl["unrealized_pnl_now"] == 6.0
    won = next(t for t in pnl["trade_list"] if t["symbol"] == "AUSDT")
    assert (won["side"], won["entry"], won["exit"], won["pnl"], won["pnl_pct"],
            won["exit_reason"]) == ("long", 1.0, 1.3, 3.0, 30.0, "trailing_stop")
    assert 59 <= won["holding_s"] <= 61
    assert pnl["cumulative"][-1][1] == 1.5
    summary = report["metrics_summary"]
    assert summary["total_positions_closed"] == 3
