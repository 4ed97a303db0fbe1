"""The final ``monitoring_report_<ts>.json``: the old kit's keys, exact totals, and ours.

Totals come from an exact recount of the run's interval ([start, end] by ``created_at``) when the
database answers at the end; otherwise from the streamed counters, and the report says which.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from tui.outputs.durable import to_json, write_atomic
from tui.store.buckets import MINUTE, minute_of

REPORT_PREFIX = "monitoring_report_"

# The old kit's eight totals: its key -> our metric.
OLD_KIT_TOTALS = {
    "total_positions_opened": "positions_opened",
    "total_positions_closed": "positions_closed",
    "total_ts_activations": "ts_activations",
    "total_sl_updates": "sl_updates",
    "total_zombies": "zombies",
    "total_errors": "errors",
    "total_emergency_closes": "emergency_closes",
    "total_ws_reconnects": "ws_reconnects",
}
NEW_TOTALS = {
    # Opens and closes come from the positions table; the events only cross-check them.
    "total_position_created_events": "positions_opened_events",
    "total_position_closed_events": "positions_closed_events",
    "total_price_updates": "price_updates",
    "total_events": "events",
    "total_aged_detections": "aged_detected",
    "total_unprotected_detections": "unprotected_detected",
}


# metrics_summary.by_exchange[exchange]: key -> the metric it splits.
BY_EXCHANGE = {
    "opened": "positions_opened", "closed": "positions_closed", "errors": "errors",
    "events": "events", "ts_activations": "ts_activations", "sl_updates": "sl_updates",
    "zombies": "zombies", "emergency_closes": "emergency_closes",
    "ws_reconnects": "ws_reconnects", "price_updates": "price_updates",
}


@dataclass
class Recount:
    totals: dict[str, int]
    price_positions: int
    error: str | None = None


@dataclass
class AlertSummary:
    total: int = 0
    critical: int = 0
    warning: int = 0
    info: int = 0
    alerts: list[dict] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def expected_minutes(start: datetime, end: datetime) -> int:
    """Minutes whose end falls in (start, end]: 480 for an 8-hour run."""
    count, minute = 0, minute_of(start)
    while minute + MINUTE <= end:
        count += 1
        minute += MINUTE
    return count


def build_report(*, start: datetime, end: datetime, finished_by: str,
                 all_time: Mapping[str, float], exchanges: tuple[str, ...],
                 recount: Recount | None, snapshots_written: int,
                 gaps: list[tuple[datetime, str]], late_events: int,
                 alerts: AlertSummary, run_dir: Path, extra: dict | None = None,
                 unavailable: Mapping[str, str] | None = None) -> dict:
    exact = recount is not None and recount.error is None
    source: Mapping[str, float] = recount.totals if exact else all_time  # type: ignore[union-attr]
    unavailable = unavailable or {}

    def total(metric: str) -> int | None:
        # A counter this bot gives no source for is null with its reason, never a 0.
        if metric.partition(".")[0] in unavailable:
            return None
        return int(source.get(metric, 0))

    summary: dict[str, Any] = {key: total(metric) for key, metric in OLD_KIT_TOTALS.items()}
    summary.update({key: total(metric) for key, metric in NEW_TOTALS.items()})
    summary["positions_with_price_updates"] = (
        recount.price_positions if exact else int(all_time.get("positions_price_updated", 0)))
    for gauge in ("open_positions", "unprotected", "aged"):
        summary[f"max_{gauge}"] = all_time.get(f"{gauge}_max")
        summary[f"avg_{gauge}"] = all_time.get(f"{gauge}_avg")
    # Every per-exchange split comes from here, the same source as the totals it splits.
    summary["by_exchange"] = {
        exchange: {**{key: total(f"{metric}.{exchange}")
                      for key, metric in BY_EXCHANGE.items()},
                   "max_open": all_time.get(f"open_positions_max.{exchange}")}
        for exchange in exchanges}
    summary["poll_latency_ms"] = {"p50": all_time.get("poll_p50_ms"),
                                  "p95": all_time.get("poll_p95_ms"),
                                  "max": all_time.get("poll_max_ms"),
                                  "polls": all_time.get("polls", 0),
                                  "failed_polls": all_time.get("failed_polls", 0)}
    expected = expected_minutes(start, end)
    summary["snapshots"] = {
        "expected": expected, "written": snapshots_written,
        "recorded": snapshots_written - len(gaps), "gap_minutes": len(gaps),
        "gaps": [{"minute": m.isoformat(), "reason": r} for m, r in gaps]}
    summary["not_measurable"] = dict(unavailable)
    summary["counting"] = {
        "source": "recount" if exact else "stream",
        "streamed_events": int(all_time.get("events", 0)),
        "recounted_events": recount.totals.get("events", 0) if exact else None,  # type: ignore
        "late_events": late_events,
        "recount_error": recount.error if recount is not None else "not attempted",
    }
    report = {
        "monitoring_duration_minutes": round((end - start).total_seconds() / 60, 2),
        "monitoring_start": start.isoformat(),
        "monitoring_end": end.isoformat(),
        "finished_by": finished_by,
        "total_alerts": alerts.total,
        "critical_alerts": alerts.critical,
        "warning_alerts": alerts.warning,
        "info_alerts": alerts.info,
        "metrics_summary": summary,
        "alerts": alerts.alerts,
        "run_directory": str(run_dir),
    }
    report.update(alerts.extra)
    report.update(extra or {})
    return report


def write_report(run_dir: Path, report: dict, stamp: datetime | None = None) -> Path:
    name = f"{REPORT_PREFIX}{(stamp or datetime.now()).strftime('%Y%m%d_%H%M%S')}.json"
    path = run_dir / name
    write_atomic(path, json.dumps(json.loads(to_json(report)), indent=2, ensure_ascii=False) + "\n")
    return path
