"""What the sources hand to the metric store: plain, immutable records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class EventRow:
    id: int
    created_at: datetime
    event_type: str
    exchange: str | None
    symbol: str | None
    severity: str | None
    position_id: int | None


@dataclass(frozen=True, slots=True)
class OpenPosition:
    id: int
    symbol: str
    exchange: str
    side: str
    status: str
    opened_at: datetime | None
    entry_price: float | None
    current_price: float | None
    pnl_percent: float | None
    unrealized_pnl: float | None
    has_stop_loss: bool | None
    stop_loss_price: float | None
    has_trailing_stop: bool | None
    ts_state: str | None
    ts_activated: bool | None
    ts_stop_price: float | None


@dataclass(frozen=True, slots=True)
class DbSample:
    """One successful poll: the database clock, the gauges' raw rows and the new events."""

    db_now: datetime
    latency_ms: float
    positions: tuple[OpenPosition, ...]
    events: tuple[EventRow, ...]
    last_event_at: datetime | None
    truncated: bool = False  # more new rows wait: poll again at once
    ts_orphans: tuple[str, ...] = ()  # "SYMBOL/exchange" trailing stops without an open position


@dataclass(frozen=True, slots=True)
class PollFailure:
    """A poll that did not complete; ``at`` is the estimated database time."""

    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One record of the bot's log, as the store and the log pane need it."""

    at: datetime  # the record's own time, as UTC (the bot writes local time)
    level: str
    logger: str
    message: str
    tags: tuple[str, ...]  # "category.subkey" from the log patterns
    traceback: tuple[str, ...]  # continuation lines (a traceback), possibly empty
    parsed: bool
    source: str  # file
    line: int  # physical line number in that file
