"""One JSONL snapshot line per minute of the run: the old kit's fields, plus ours.

A line is written (flushed and fsynced) once its minute has ended and the bot's batched inserts
have had ``run.snapshot_grace_s`` to arrive. A minute without a successful poll becomes a gap
record with its reason, never a minute of zeros.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Mapping

from tui.outputs.durable import append_line, to_json
from tui.store.buckets import MINUTE

SNAPSHOT_PREFIX = "monitoring_snapshots_"

# The old console monitor's layout: section -> {its key: our metric}.
OLD_KIT_ACTIVITY = {"new_opened": "positions_opened", "prices_updated": "positions_price_updated",
                    "ts_activated": "ts_activations", "sl_updates": "sl_updates",
                    "closed": "positions_closed"}
OLD_KIT_ISSUES = {"aged": "aged", "zombies": "zombies", "emergency": "emergency_closes",
                  "errors": "errors", "ws_reconnects": "ws_reconnects"}
EXTRA_ACTIVITY = {"price_updates": "price_updates", "events": "events",
                  "aged_detected": "aged_detected", "unprotected_detected": "unprotected_detected"}
HEALTH_KEYS = ("polls", "failed_polls", "poll_p50_ms", "poll_p95_ms", "poll_max_ms",
               "bot_silent_s")


def snapshot_file(directory: Path, minute: datetime) -> Path:
    """Daily files named by the operator's local date, like the old kit."""
    return directory / f"{SNAPSHOT_PREFIX}{minute.astimezone().strftime('%Y%m%d')}.jsonl"


def structured_metrics(values: Mapping[str, float], exchanges: tuple[str, ...]) -> dict:
    positions: dict[str, float | None] = {"total": values.get("open_positions")}
    for exchange in exchanges:
        positions[exchange] = values.get(f"open_positions.{exchange}", 0
                                         if values.get("open_positions") is not None else None)
    positions["unprotected"] = values.get("unprotected")
    positions["aged"] = values.get("aged")
    activity = {key: values.get(metric, 0) for key, metric in OLD_KIT_ACTIVITY.items()}
    activity.update({key: values.get(metric, 0) for key, metric in EXTRA_ACTIVITY.items()})
    issues = {key: values.get(metric, 0 if metric != "aged" else None)
              for key, metric in OLD_KIT_ISSUES.items()}
    return {"positions": positions, "activity": activity, "issues": issues}


def by_exchange(values: Mapping[str, float], exchanges: tuple[str, ...]) -> dict:
    return {exchange: {"open": values.get(f"open_positions.{exchange}"),
                       "opened": values.get(f"positions_opened.{exchange}", 0),
                       "closed": values.get(f"positions_closed.{exchange}", 0),
                       "errors": values.get(f"errors.{exchange}", 0),
                       "events": values.get(f"events.{exchange}", 0)}
            for exchange in exchanges}


def minute_record(minute: datetime, values: Mapping[str, float], exchanges: tuple[str, ...],
                  *, partial: bool, late: int = 0) -> dict:
    return {
        "timestamp": (minute + MINUTE).isoformat(),
        "minute": minute.isoformat(),
        "kind": "minute",
        "partial": partial,
        "metrics": structured_metrics(values, exchanges),
        "by_exchange": by_exchange(values, exchanges),
        "health": {key: values[key] for key in HEALTH_KEYS if key in values},
        "values": dict(values),
    }


def gap_record(minute: datetime, reason: str, values: Mapping[str, float]) -> dict:
    # Events of a gap minute may already be known (they are counted by created_at once the
    # database answers again); gauges are not, so no "metrics" block pretends to know them.
    return {
        "timestamp": (minute + MINUTE).isoformat(),
        "minute": minute.isoformat(),
        "kind": "gap",
        "reason": reason,
        "events_known_so_far": values.get("events", 0),
    }


def manual_record(now: datetime, values: Mapping[str, float], exchanges: tuple[str, ...],
                  note: str = "") -> dict:
    return {
        "timestamp": now.isoformat(),
        "kind": "manual",
        "note": note,
        "metrics": structured_metrics(values, exchanges),
        "by_exchange": by_exchange(values, exchanges),
        "values": dict(values),
    }


class SnapshotWriter:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.lines_written = 0
        self.last_path: Path | None = None

    def write(self, record: dict) -> Path:
        stamp = datetime.fromisoformat(record.get("minute") or record["timestamp"])
        path = snapshot_file(self.directory, stamp)
        append_line(path, to_json(record))
        self.lines_written += 1
        self.last_path = path
        return path
