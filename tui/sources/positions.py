"""PositionTracker: positions opened and closed, read off the positions table.

The table is the only source that is right for every bot version (BOT_FACTS, "What the bot
really emits"): the current bot writes no ``position_created`` on its atomic open path, and
closes by the periodic sync, phantom closes and exchange-side stop-losses write no
``position_closed``. So:

- **opened**: once per position id, the first time the row is seen with a status that is not
  "never opened" (rolled back, canceled, failed), in the minute of its own ``opened_at``
  (else ``created_at``). An open that later turns out never to have happened (an atomic open
  rolled back after it was seen) is retracted.
- **closed**: once per position id, when a row leaves the open statuses by any path (another
  status, or the row deleted), in the minute of its own ``closed_at`` (else ``updated_at``,
  which the bot's trigger sets on every update; else the poll's clock for a deleted row).
  A position that opens and closes between two polls is seen as a new row already closed.

The start snapshot (history before the run, or a resume's exact recount) lists the rows it
already holds; their changes fill the minute windows but are marked ``recounted``.

Between two polls most open positions do not change, so the poll reads a row in full only when
it is new or its row version (``xmin``, or its trailing stop's) differs from the one the tracker
holds; the open set is the tracker's, kept up to date by those rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tui.sources.cursor import IdCursor
from tui.sources.samples import OpenPosition, PositionChange


@dataclass
class PositionTracker:
    open_statuses: frozenset[str]
    never_opened: frozenset[str]
    hole_wait: timedelta
    cursor: IdCursor = field(init=False)
    known_open: dict[int, OpenPosition] = field(default_factory=dict)
    # The row versions the tracker holds for each open position: (xmin, trailing stop's xmin).
    versions: dict[int, tuple[int | None, int | None]] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)
    # Rows of the start snapshot: id -> whether it was open then.
    snapshot: dict[int, bool] = field(default_factory=dict)
    opened: dict[int, OpenPosition] = field(default_factory=dict)  # counted, for retractions
    deleted: int = 0  # closes seen as a deleted row (no recount can find them afterwards)

    def __post_init__(self) -> None:
        self.cursor = IdCursor(self.hole_wait)

    def params(self) -> tuple[int, list[int], list[int], list[int | None], list[int | None]]:
        """Cursor (max id, holes), then the open ids with their row versions."""
        max_id, holes = self.cursor.params()
        ids = list(self.known_open)
        return (max_id, holes, ids, [self.versions[i][0] for i in ids],
                [self.versions[i][1] for i in ids])

    @property
    def open_rows(self) -> tuple[OpenPosition, ...]:
        return tuple(self.known_open[i] for i in sorted(self.known_open))

    def seed(self, db_now: datetime, max_id: int, visible_top: list[int], low: int,
             rows: dict[int, bool]) -> None:
        """Start after a snapshot: ``rows`` (id -> open then) are read with the next poll."""
        self.cursor.seed(db_now, max_id, visible_top, low)
        self.snapshot = dict(rows)
        self.cursor.await_ids(db_now, rows)

    def advance(self, db_now: datetime, rows: tuple[OpenPosition, ...],
                table_max_id: int | None, gone: tuple[int, ...] = (),
                versions: tuple[tuple[int | None, int | None], ...] = ()) -> list[PositionChange]:
        """``rows``: the rows read in full this poll (new, awaited, or with a new version), with
        their ``versions``; ``gone``: open positions whose row no longer exists."""
        changes: list[PositionChange] = []
        for position_id in gone:
            before = self.known_open.pop(position_id, None)
            self.versions.pop(position_id, None)
            if before is not None:
                self.deleted += 1
                changes.append(PositionChange("closed", before, db_now, "row deleted"))
        for row, version in zip(rows, versions or [(None, None)] * len(rows)):
            if row.id in self.known_open:
                if row.status in self.open_statuses:
                    self.known_open[row.id] = row
                    self.versions[row.id] = version
                else:
                    del self.known_open[row.id]
                    del self.versions[row.id]
                    changes.extend(self._left_open(row, db_now))
                continue
            if row.id in self.seen:
                if row.status in self.open_statuses:  # re-opened: watched again, not recounted
                    self.known_open[row.id] = row
                    self.versions[row.id] = version
                continue
            self.seen.add(row.id)
            changes.extend(self._first_sight(row, db_now))
            if row.id in self.known_open:
                self.versions[row.id] = version
        self.cursor.advance(db_now, (row.id for row in rows), table_max_id, truncated=False)
        return changes

    def _first_sight(self, row: OpenPosition, db_now: datetime) -> list[PositionChange]:
        if row.status in self.never_opened:
            return []
        in_snapshot = row.id in self.snapshot
        self.opened[row.id] = row
        found = [PositionChange("opened", row, opened_time(row, db_now), recounted=in_snapshot)]
        if row.status in self.open_statuses:
            self.known_open[row.id] = row
        else:
            closed_then = in_snapshot and not self.snapshot[row.id]
            found.append(PositionChange("closed", row, closed_time(row, db_now),
                                        f"status {row.status}", recounted=closed_then))
        return found

    def _left_open(self, row: OpenPosition, db_now: datetime) -> list[PositionChange]:
        if row.status in self.never_opened:
            counted = self.opened.pop(row.id, None)
            if counted is None:
                return []
            return [PositionChange("retracted", row, opened_time(counted, db_now),
                                   f"status {row.status}")]
        return [PositionChange("closed", row, closed_time(row, db_now), f"status {row.status}")]


def opened_time(row: OpenPosition, db_now: datetime) -> datetime:
    return row.opened_at or row.created_at or db_now


def closed_time(row: OpenPosition, db_now: datetime) -> datetime:
    return row.closed_at or row.updated_at or db_now
