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
                  "sl_failures": "sl_failures",
                  "aged_detected": "aged_detected", "unprotected_detected": "unprotected_detected"}
HEALTH_KEYS = ("polls", "failed_polls", "poll_p50_ms", "poll_p95_ms", "poll_max_ms",
               "bot_silent_s")


def snapshot_file(directory: Path, minute: datetime) -> Path:
    """Daily files named by the operator's local date, like the old kit."""
    return directory / f"{SNAPSHOT_PREFIX}{minute.astimezone().strftime('%Y%m%d')}.jsonl"


def structured_metrics(values: Mapping[str, float | None], exchanges: tuple[str, ...]) -> dict:
    """The old kit's blocks. A counter without a source on this bot is in ``values`` as None
    and stays null here: never a 0 that reads as a healthy bot."""
    def counter(metric: str) -> float | None:
        return values[metric] if metric in values else 0

    positions: dict[str, float | None] = {"total": values.get("open_positions")}
    for exchange in exchanges:
        positions[exchange] = values.get(f"open_positions.{exchange}", 0
                                         if values.get("open_positions") is not None else None)
    positions["unprotected"] = values.get("unprotected")
    positions["aged"] = values.get("aged")
    activity = {key: counter(metric) for key, metric in OLD_KIT_ACTIVITY.items()}
    activity.update({key: counter(metric) for key, metric in EXTRA_ACTIVITY.items()})
    issues = {key: counter(metric) if metric != "aged" else values.get(metric)
              for key, metric in OLD_KIT_ISSUES.items()}
    if "log_ws_reconnects" in values:
        issues["ws_reconnects_log"] = values["log_ws_reconnects"]
    return {"positions": positions, "activity": activity, "issues": issues}


def by_exchange(values: Mapping[str, float | None], exchanges: tuple[str, ...]) -> dict:
    return {exchange: {"open": values.get(f"open_positions.{exchange}"),
                       "opened": values.get(f"positions_opened.{exchange}", 0),
                       "closed": values.get(f"positions_closed.{exchange}", 0),
                       "errors": values.get(f"errors.{exchange}", 0),
                       "events": values.get(f"events.{exchange}", 0)}
            for exchange in exchanges}


def pnl_block(values: Mapping[str, float | None], realized_run: float | None) -> dict:
    """The trader's figures of the minute, from the positions table: its closes' realized
    PnL and outcome, the run's realized PnL up to it, the open positions' unrealized PnL and
    value at its last poll."""
    return {"realized": values.get("realized_pnl", 0), "realized_run": realized_run,
            "trades_won": values.get("trades_won", 0),
            "trades_lost": values.get("trades_lost", 0),
            "win_rate_pct": values.get("win_rate_pct"),
            "unrealized": values.get("unrealized_pnl"), "exposure": values.get("exposure")}


def minute_record(minute: datetime, values: Mapping[str, float | None],
                  exchanges: tuple[str, ...], *, partial: bool,
                  realized_run: float | None = None) -> dict:
    return {
        "timestamp": (minute + MINUTE).isoformat(),
        "minute": minute.isoformat(),
        "kind": "minute",
        "partial": partial,
        "metrics": structured_metrics(values, exchanges),
        "by_exchange": by_exchange(values, exchanges),
        "health": {key: values[key] for key in HEALTH_KEYS if key in values},
        "pnl": pnl_block(values, realized_run),
        "values": dict(values),
    }


def correction_record(minute: datetime, values: Mapping[str, float | None],
                      exchanges: tuple[str, ...], *, at: datetime, late_events: int,
                      gap_reason: str | None) -> dict:
    """Rows that arrived after a minute's line was written: the minute's full corrected
    content, appended (the file stays append-only). Readers use the latest one per minute."""
    record = {
        "timestamp": at.isoformat(),
        "minute": minute.isoformat(),
        "kind": "correction",
        "late_events": late_events,
        "metrics": structured_metrics(values, exchanges),
        "by_exchange": by_exchange(values, exchanges),
        "values": dict(values),
    }
    if gap_reason is not None:  # still no poll saw that minute: its gauges stay unknown
        record["gap_reason"] = gap_reason
    return record


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
