"""MetricsView: the frozen picture of the store that panes, rules and writers read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Mapping

from tui.sources.samples import EventRow, LogEntry, OpenPosition

_EMPTY: Mapping = MappingProxyType({})


@dataclass(frozen=True)
class MetricsView:
    now: datetime  # database clock; estimated from the last offset while the database is down
    run_start: datetime
    run_end: datetime | None  # planned end (--duration), None for open-ended runs
    version: int  # grows with every ingest or failure: an equal version means nothing changed
    db_up: bool
    db_down_since: datetime | None
    db_error: str | None
    windows: Mapping[str, Mapping[str, float]]  # window -> metric -> value
    exchanges: tuple[str, ...]
    positions: tuple[OpenPosition, ...]
    recent_events: tuple[EventRow, ...]  # notable events, newest first
    series: Mapping[str, tuple[float, ...]] = field(default_factory=lambda: _EMPTY)  # per-minute, oldest first
    last_event_at: datetime | None = None
    gaps: tuple[tuple[datetime, str], ...] = ()
    snapshots_written: int = 0
    aged_after_s: float = 3 * 3600.0
    extra: Mapping[str, object] = field(default_factory=lambda: _EMPTY)  # other sources (log tailer)
    alerts: tuple = ()  # tui.alerts.model.AlertItem: pending, firing, then recently resolved
    log_tail: tuple[LogEntry, ...] | None = None  # the bot's log, oldest first; None: no log
    last_log_at: datetime | None = None  # when the log last grew (database clock)
    # Metrics this bot gives no source for (name -> reason, e.g. "this bot writes no websocket
    # events; see the log"). They are absent from ``windows``: show "—" and the reason, never 0.
    unavailable: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    # What a gauge is made of, for alerts and runbooks: metric -> human items, e.g.
    # details["unprotected"] = ("ALLUSDT/bybit 4m12s", ...). Absent when nothing is affected.
    details: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)
    # What each window covers: window -> (start, end) on the database clock. "last_minute" is
    # the newest minute whose rows have all arrived, so it lags the clock by the snapshot grace.
    spans: Mapping[str, tuple[datetime, datetime]] = field(default_factory=lambda: _EMPTY)
    # Positions closed lately (any path), newest first, the 24 hours before the run included:
    # tui.sources.samples.PositionChange (position row, close time, how).
    closed_positions: tuple = ()
    # The trader's figures beyond the windows (tui/store/pnl.py): realized_pnl_24h, trades_24h,
    # win_rate_24h_pct, and "cumulative": ((minute, realized PnL of the run so far), ...).
    pnl: Mapping[str, object] = field(default_factory=lambda: _EMPTY)
    # The bot itself: state ("running" / "silent" / "stopped" / "unknown"), started_at,
    # stopped_at, uptime_s, silent_s (from its bot_started/bot_stopped events, newest event
    # and log line).
    bot: Mapping[str, object] = field(default_factory=lambda: _EMPTY)
    # Stop-loss errors, emergency closes, zombies, missed stop-losses (events.risk), newest
    # first; the positions without a stop-loss are in details["unprotected"].
    risk_events: tuple[EventRow, ...] = ()

    def value(self, metric: str, window: str = "current") -> float | None:
        return self.windows.get(window, _EMPTY).get(metric)

    @property
    def elapsed_s(self) -> float:
        return max(0.0, (self.now - self.run_start).total_seconds())

    @property
    def remaining_s(self) -> float | None:
        if self.run_end is None:
            return None
        return max(0.0, (self.run_end - self.now).total_seconds())
