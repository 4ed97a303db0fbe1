"""Ground truth for tests: what the simulated bot wrote, kept by the simulator as it writes it.

``BotSimulator.ledger`` (and the history backfill, when given the same ledger) records every
position row it inserts and every close it makes, and every event it queues. The monitor's figures
can then be checked against it, minute by minute and per exchange::

    ledger = sim.ledger
    ledger.opened()[(minute, "bybit")]           # positions with opened_at in that minute
    ledger.closed()[(minute, "bybit")]           # positions that left the open statuses then
    ledger.closed_by_path()[(minute, "bybit", "sync")]
    ledger.events[(minute, "position_updated")]  # events with created_at in that minute
    ledger.count(ledger.opened(), since, until, exchange="bybit")

Definitions (the monitor's: once per position id, in the minute of its own time, per exchange):

* **opened**: every row inserted into ``positions``, in the minute of its ``opened_at``, whatever
  its later status (a failed open is a row too: opened, then closed as ``rolled_back``); the open
  rows a simulator loads from the table when it starts are entered too (with their own
  ``opened_at``), so it can record their closes;
* **closed**: every status change out of the open statuses, once per position id, in the minute
  of ``close_time``: the row's ``closed_at``, or - for the closes the bot writes without
  ``closed_at`` (phantom closes by its synchronizer, roll-backs) - the ``updated_at`` the database
  stamped on that UPDATE (``update_positions_updated_at``);
* **close paths**: ``sync`` (the periodic sync finds the position gone from the exchange: stop-loss
  and trailing-stop hits, emergency market closes; status ``closed_by_sync``, exit_reason
  ``sync_cleanup``, no ``position_closed``), ``phantom`` (``phantom_position_closed``), ``bot``
  (the bot's own close, the one path that writes ``position_closed``), ``rolled_back`` (a failed
  atomic open);
* **events**: one per row queued for ``events``, in the minute of its ``created_at``. Rows still in
  the event logger's queue are counted too: flush before comparing with the table.

Minutes are UTC, truncated (``datetime.replace(second=0, microsecond=0)``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

OPEN_STATUSES = ("active", "entry_placed", "pending_sl", "pending_entry")
CLOSE_PATHS = ("sync", "phantom", "bot", "rolled_back")


def minute_of(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


@dataclass
class PositionEntry:
    """One position row as the simulator wrote it."""

    id: int
    symbol: str
    exchange: str
    opened_at: datetime
    status: str = "pending_entry"
    closed_at: datetime | None = None      # the row's closed_at (None while open or if left NULL)
    close_time: datetime | None = None     # closed_at, else the database's updated_at at the close
    close_path: str | None = None
    exit_reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.close_time is None


@dataclass
class Ledger:
    positions: dict[int, PositionEntry] = field(default_factory=dict)
    events: Counter[tuple[datetime, str]] = field(default_factory=Counter)

    # -- recording (the simulator and the backfill) ------------------------------------------------
    def opened_row(self, pid: int, symbol: str, exchange: str, opened_at: datetime,
                   status: str) -> PositionEntry:
        entry = PositionEntry(pid, symbol, exchange, opened_at, status)
        self.positions[pid] = entry
        return entry

    def closed_row(self, pid: int, *, status: str, path: str, close_time: datetime,
                   closed_at: datetime | None, exit_reason: str | None) -> None:
        if path not in CLOSE_PATHS:
            raise ValueError(f"unknown close path {path!r}")
        entry = self.positions[pid]
        if entry.close_time is not None:
            raise ValueError(f"position {pid} closed twice")
        entry.status, entry.close_path, entry.exit_reason = status, path, exit_reason
        entry.closed_at, entry.close_time = closed_at, close_time

    def event(self, created_at: datetime, event_type: str, n: int = 1) -> None:
        self.events[(minute_of(created_at), event_type)] += n

    # -- reading (tests) ---------------------------------------------------------------------------
    def opened(self) -> Counter[tuple[datetime, str]]:
        """(minute of opened_at, exchange) -> positions."""
        return Counter((minute_of(p.opened_at), p.exchange) for p in self.positions.values())

    def closed(self) -> Counter[tuple[datetime, str]]:
        """(minute of close_time, exchange) -> positions that left the open statuses."""
        return Counter((minute_of(p.close_time), p.exchange) for p in self.positions.values()
                       if p.close_time is not None)

    def closed_by_path(self) -> Counter[tuple[datetime, str, str]]:
        """(minute of close_time, exchange, path) -> positions."""
        return Counter((minute_of(p.close_time), p.exchange, p.close_path)
                       for p in self.positions.values()
                       if p.close_time is not None and p.close_path is not None)

    def events_by_type(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for (_, event_type), n in self.events.items():
            out[event_type] += n
        return out

    def open_ids(self) -> set[int]:
        return {p.id for p in self.positions.values() if p.is_open}

    @staticmethod
    def count(counter: Counter, since: datetime | None = None, until: datetime | None = None,
              exchange: str | None = None) -> int:
        """Sum a counter keyed (minute, exchange[, ...]) over minutes in [since, until)."""
        total = 0
        for key, n in counter.items():
            minute = key[0]
            if since is not None and minute < minute_of(since):
                continue
            if until is not None and minute >= until:
                continue
            if exchange is not None and key[1] != exchange:
                continue
            total += n
        return total
