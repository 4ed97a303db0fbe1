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
    # A finer type where the bot puts one in event_data (warning_raised's warning_type: the
    # per-position emergency closes); matched by config patterns as "event_type:subtype".
    subtype: str | None = None

    @property
    def kind(self) -> str:
        return f"{self.event_type}:{self.subtype}" if self.subtype else self.event_type


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """A row of the positions table (open ones feed the gauges; closed ones the trades)."""

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
    closed_at: datetime | None = None
    updated_at: datetime | None = None
    created_at: datetime | None = None
    quantity: float | None = None
    realized_pnl: float | None = None
    exit_reason: str | None = None


PositionRow = OpenPosition


@dataclass(frozen=True, slots=True)
class PositionChange:
    """A position opened, closed or found never opened after all, read off the positions table.

    ``at`` is the position's own time (opened_at / closed_at, else created_at / updated_at, else
    the poll's clock for a deleted row). ``recounted`` marks a change that the start snapshot
    already holds (the history before the run, or a resume's exact recount): it fills the
    minute windows but never adds to all-time twice.
    """

    kind: str  # "opened" | "closed" | "retracted" (an open that turned out never to happen)
    position: OpenPosition
    at: datetime
    how: str = ""  # closes: "status <s>", "closed_at set", "row deleted"
    recounted: bool = False


@dataclass(frozen=True, slots=True)
class DbSample:
    """One successful poll: the database clock, the gauges' raw rows and the new events."""

    db_now: datetime
    latency_ms: float
    positions: tuple[OpenPosition, ...]
    events: tuple[EventRow, ...]
    last_event_at: datetime | None
    truncated: bool = False  # more new rows wait: poll again at once
    # "SYMBOL/exchange" trailing stops without an open position; None: not read this poll
    ts_orphans: tuple[str, ...] | None = ()
    changes: tuple[PositionChange, ...] = ()  # opens and closes since the previous poll
    bad_rows: tuple[str, ...] = ()  # events without a usable created_at, e.g. "id 7: infinity"
    event_types: frozenset[str] = frozenset()  # types the database holds (the start read only)


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
