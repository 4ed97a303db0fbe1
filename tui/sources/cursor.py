"""IdCursor: which rows of an insert-only id range the next poll must read, exactly once.

Ids come from a sequence at INSERT time, and concurrent transactions commit in any order, so a
row with a smaller id can become visible after a larger one. The cursor keeps the highest id
the last poll could see, and the "holes" below it: ids that were not visible then (an insert
not committed yet: count it when it commits; or rolled back: it never appears). A hole is
awaited for ``hole_wait`` and then given up; the number given up is reported, never hidden.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable

log = logging.getLogger(__name__)

# Ids awaited at once. The bot's in-flight ids are its queued batches (up to 100 rows each, from
# a few connections); a million outstanding ids means the sequence jumped (a large rolled-back
# insert, setval): awaiting them would cost more than they can hold.
MAX_HOLES = 1_000_000


@dataclass
class IdCursor:
    hole_wait: timedelta
    max_id: int = 0
    holes: dict[int, datetime] = field(default_factory=dict)  # id -> when first noticed
    given_up: int = 0  # holes that expired: rolled back, or committed too late to be seen
    dropped: int = 0  # holes not awaited at all because too many were outstanding

    def params(self) -> tuple[int, list[int]]:
        return self.max_id, list(self.holes)

    def seed(self, db_now: datetime, max_id: int, visible_top: Iterable[int], low: int) -> None:
        """Start after a snapshot: ``max_id`` was the highest visible id, and the ids in
        (low, max_id] missing from ``visible_top`` were in flight then."""
        self.max_id = max_id
        self._await_range(db_now, low + 1, max_id, set(visible_top))

    def await_ids(self, db_now: datetime, ids: Iterable[int]) -> None:
        """Read these ids (below max_id) once more with the next poll."""
        for row_id in ids:
            self.holes.setdefault(row_id, db_now)

    def advance(self, db_now: datetime, returned: Iterable[int], table_max_id: int | None,
                truncated: bool) -> None:
        """After a poll: ``returned`` ids were read; ``table_max_id`` is the highest visible id
        (when the poll was truncated, everything above the highest returned id waits)."""
        returned = set(returned)
        for row_id in returned:
            self.holes.pop(row_id, None)
        above = [i for i in returned if i > self.max_id]
        if truncated:
            new_max = max(above, default=self.max_id)
        else:
            new_max = max(table_max_id or 0, self.max_id)
        if new_max > self.max_id:
            self._await_range(db_now, self.max_id + 1, new_max, returned)
            self.max_id = new_max
        expired = [i for i, seen in self.holes.items() if db_now - seen > self.hole_wait]
        for row_id in expired:
            del self.holes[row_id]
        if expired:
            self.given_up += len(expired)
            log.info("gave up %d id(s) not committed within %s", len(expired), self.hole_wait)

    def _await_range(self, db_now: datetime, first: int, last: int, seen: set[int]) -> None:
        """Await the ids in [first, last] that are not in ``seen``."""
        missing = (last - first + 1) - sum(1 for i in seen if first <= i <= last)
        room = MAX_HOLES - len(self.holes)
        if missing > room:
            # Await the newest ones: the in-flight batches sit at the top of the range.
            self.dropped += missing - max(room, 0)
            log.warning("%d id(s) not awaited: more than %d outstanding", missing - room,
                        MAX_HOLES)
        for row_id in range(last, first - 1, -1):
            if len(self.holes) >= MAX_HOLES:
                break
            if row_id not in seen:
                self.holes.setdefault(row_id, db_now)
