"""The PnL section of the reports: the run's trades, its realized PnL and the chart's data.

Everything comes from the positions table (the exact recount's closed rows when the database
answered at the end, else the trades the stream saw), never from an exchange API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Mapping

from tui.sources.positions import closed_time
from tui.sources.samples import OpenPosition
from tui.store.pnl import win_rate


def trade_row(position: OpenPosition, closed_at: datetime) -> dict:
    opened = position.opened_at or position.created_at
    return {
        "id": position.id, "symbol": position.symbol, "exchange": position.exchange,
        "side": (position.side or "").lower(), "entry": position.entry_price,
        "exit": position.current_price, "pnl": position.realized_pnl,
        "pnl_pct": position.pnl_percent, "exit_reason": position.exit_reason,
        "status": position.status, "opened_at": opened.isoformat() if opened else None,
        "closed_at": closed_at.isoformat(),
        "holding_s": round((closed_at - opened).total_seconds()) if opened else None,
    }


def pnl_section(trades: Iterable[tuple[OpenPosition, datetime]],
                all_time: Mapping[str, float | None], pnl: Mapping[str, object],
                source: str) -> dict:
    """``trades``: (closed row, close time) of the run, oldest first; ``all_time``: the view's
    all-time window (gauges now, maxima); ``pnl``: the view's 24-hour figures and chart."""
    rows = [trade_row(p, at) for p, at in trades]
    known = [r["pnl"] for r in rows if r["pnl"] is not None]
    won = sum(1 for p in known if p > 0)
    lost = sum(1 for p in known if p < 0)
    return {
        "source": source,
        "realized_pnl": round(sum(known), 8),
        "trades": len(rows), "trades_won": won, "trades_lost": lost,
        "trades_unknown_pnl": len(rows) - len(known),
        "win_rate_pct": win_rate(won, lost),
        "realized_pnl_24h": pnl.get("realized_pnl_24h"),
        "win_rate_24h_pct": pnl.get("win_rate_24h_pct"),
        "unrealized_pnl_now": all_time.get("unrealized_pnl"),
        "exposure_now": all_time.get("exposure"),
        "open_positions_now": all_time.get("open_positions"),
        "open_positions_max": all_time.get("open_positions_max"),
        "trade_list": rows,
        # The chart: realized PnL of the run, cumulative, one point per minute.
        "cumulative": [[minute.isoformat(), value]
                       for minute, value in pnl.get("cumulative", ())],  # type: ignore[union-attr]
    }


def run_trades(rows: Iterable[OpenPosition], now: datetime) -> list[tuple[OpenPosition, datetime]]:
    return [(p, closed_time(p, now)) for p in rows]
