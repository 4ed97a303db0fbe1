"""``alerts.jsonl``: every transition of every episode, appended, flushed and fsynced.

One line per transition (pending, firing, resolved, cancelled, acknowledged), each carrying the
whole episode record, so the last line of an episode is enough to rebuild it after a crash.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterator

from tui.outputs.durable import append_line, to_json

log = logging.getLogger(__name__)


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.written = 0
        self.failed = 0

    def append(self, transition: dict[str, Any]) -> None:
        try:
            append_line(self.path, to_json(transition))
            self.written += 1
        except OSError as exc:
            # A full disk must not stop the monitor in hour six; the report says it happened.
            self.failed += 1
            if self.failed == 1:
                log.warning("cannot append to %s: %s", self.path, exc)

    def read(self) -> Iterator[dict[str, Any]]:
        """Earlier transitions (a resumed run); a torn last line from a crash is skipped."""
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    yield record
