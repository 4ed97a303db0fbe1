"""The trader's figures, from the positions table only: trades, realized PnL, win rate.

A trade is a position that closed (by any path), with its realized PnL as the bot wrote it
(``realized_pnl``, else ``pnl``). The run's figures are counters in the minute buckets
(``realized_pnl``, ``trades_won``, ``trades_lost``), so every window has them; this module keeps
what the buckets cannot: the trades of the last 24 hours (read once at start, then streamed)
and the run's realized PnL per minute for the whole run (480 numbers for 8 hours), the data of
the PnL chart.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from tui.sources.samples import OpenPosition
from tui.store.buckets import minute_of

DAY = timedelta(hours=24)
RECENT_CAP = 5_000  # closes kept for the 24-hour figure: far above the bot's ~300 a day


def trade_counters(position: OpenPosition) -> dict[str, float]:
    """What one close adds to the minute of its close."""
    pnl = position.realized_pnl
    if pnl is None:
        return {"trades_unknown_pnl": 1}
    found: dict[str, float] = {"realized_pnl": pnl}
    if pnl > 0:
        found["trades_won"] = 1
    elif pnl < 0:
        found["trades_lost"] = 1
    return found


def win_rate(won: float | None, lost: float | None) -> float | None:
    """Won / decided trades, in percent; None when no trade was decided (not 0 %)."""
    decided = (won or 0) + (lost or 0)
    return round(100.0 * (won or 0) / decided, 1) if decided else None


def exposure(positions: Iterable[OpenPosition]) -> float:
    """The open positions' value: quantity x current price (entry price until one is known)."""
    total = 0.0
    for p in positions:
        price = p.current_price if p.current_price is not None else p.entry_price
        if p.quantity is not None and price is not None:
            total += abs(p.quantity * price)
    return total


@dataclass
class PnlBook:
    run_start: datetime

    def __post_init__(self) -> None:
        self.recent: deque[tuple[datetime, float | None]] = deque(maxlen=RECENT_CAP)
        self.by_minute: dict[datetime, float] = {}  # realized PnL per minute of the run

    def add(self, at: datetime, pnl: float | None, in_run: bool) -> None:
        """A close at ``at``; ``in_run`` when it adds to the run's own figures."""
        self.recent.append((at, pnl))
        if in_run and pnl is not None:
            minute = minute_of(at)
            self.by_minute[minute] = self.by_minute.get(minute, 0.0) + pnl

    def last_24h(self, now: datetime) -> dict[str, float | None]:
        since = now - DAY
        pnls = [pnl for at, pnl in self.recent if at >= since]
        known = [p for p in pnls if p is not None]
        won = sum(1 for p in known if p > 0)
        lost = sum(1 for p in known if p < 0)
        return {"realized_pnl_24h": round(sum(known), 8) if known else 0.0,
                "trades_24h": len(pnls), "win_rate_24h_pct": win_rate(won, lost)}

    def realized_through(self, minute: datetime) -> float:
        """The run's realized PnL up to and including ``minute``."""
        return round(sum(v for m, v in self.by_minute.items() if m <= minute), 8)

    def cumulative(self, now: datetime) -> tuple[tuple[datetime, float], ...]:
        """(minute, realized PnL of the run up to and including it), one point per minute from
        the run's first minute to ``now``'s: a minute without a close repeats the sum."""
        points, total = [], 0.0
        minute, last = minute_of(self.run_start), minute_of(now)
        while minute <= last:
            total += self.by_minute.get(minute, 0.0)
            points.append((minute, round(total, 8)))
            minute += timedelta(minutes=1)
        return tuple(points)
