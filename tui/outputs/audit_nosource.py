"""Figures this bot gives no source for: "n/a: not measurable on this bot", never a confident 0.

Three ways to know (BOT_FACTS.md, "What the bot really emits"):

- the final report says so: ``metrics_summary.not_measurable`` (counter -> reason, as the live
  monitor found at start) and a null total;
- the snapshot lines say so: a metric without a source is ``null`` in a minute's ``values``
  (with its reason in the line's ``unavailable`` map when the monitor wrote one);
- the event types a figure is counted from are ones the bot never writes, and none was seen:
  an always-0 counter reads as a healthy bot.

A figure counted from never-written types that did see events (a newer bot, a simulator) is
measured, and shown.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any, Iterable, Mapping

from tui.config import Config

NOT_MEASURABLE = "n/a: not measurable on this bot"

# Declared in the bot's enum, written by no version of it (BOT_FACTS.md).
NEVER_WRITTEN = ("websocket_*", "subscription_*", "order_placed", "stop_loss_updated",
                 "trailing_stop_breakeven", "stop_moved_to_breakeven", "emergency_stop_placed",
                 "transaction_*", "wave_buffer_exhausted", "position_recovery_*")
# Written by the legacy open path only: the current bot's atomic opens write neither.
LEGACY_PATH_ONLY = ("position_created", "stop_loss_placed")

# Why a metric may have no source, when the snapshot line does not say.
REASONS = {
    "ws_reconnects": "this bot writes no websocket_* events (no version does); WebSocket "
                     "health is only in its log",
    "positions_opened": "the bot's atomic open path writes no position_created event",
    "positions_closed": "most closes (sync, phantom, exchange-side stop-loss) write no "
                        "position_closed event",
}
# A summary total -> the metric it counts.
TOTALS = {
    "total_positions_opened": "positions_opened", "total_positions_closed": "positions_closed",
    "total_ts_activations": "ts_activations", "total_sl_updates": "sl_updates",
    "total_zombies": "zombies", "total_errors": "errors",
    "total_emergency_closes": "emergency_closes", "total_ws_reconnects": "ws_reconnects",
    "total_price_updates": "price_updates", "total_aged_detections": "aged_detected",
    "total_unprotected_detections": "unprotected_detected",
}


def never_written(types: Iterable[str], patterns: Iterable[str] = NEVER_WRITTEN) -> bool:
    """True when every configured type (or glob) is one the bot never writes."""
    listed = [t.partition(":")[0] for t in types if t]
    patterns = tuple(patterns)
    return bool(listed) and all(any(fnmatchcase(t, p) for p in patterns) for t in listed)


def reason_for(metric: str, types: Iterable[str] = ()) -> str:
    if metric in REASONS:
        return REASONS[metric]
    listed = "/".join(t.partition(":")[0] for t in types if t)
    return f"this bot writes no {listed or metric} events (no version does)"


def from_snapshots(lines: Iterable[Any]) -> dict[str, str]:
    """Metrics that are ``null`` in the run's latest minute line that lists them."""
    state: dict[str, str | None] = {}
    for snap in lines:
        values = snap.values
        said = snap.record.get("unavailable")
        said = said if isinstance(said, Mapping) else {}
        for name, value in values.items():
            if value is None:
                state[name] = str(said.get(name) or reason_for(name.partition(".")[0]))
            else:
                state[name] = None  # measured later in the run: it has a source now
        for name, why in said.items():
            if name not in values:
                state[str(name)] = str(why)
    return {name: why for name, why in state.items() if why is not None}


def no_source(config: Config, summary: Mapping[str, Any], snapshot_lines: Iterable[Any]
              ) -> dict[str, str]:
    """metric -> the reason it is not measurable on this bot."""
    said = summary.get("not_measurable")
    found = {str(k): str(v) for k, v in said.items()} if isinstance(said, Mapping) else {}
    for name, why in from_snapshots(snapshot_lines).items():
        if "." not in name:
            found.setdefault(name, why)
    patterns = getattr(config.events, "never_written", NEVER_WRITTEN)
    for total, metric in TOTALS.items():
        if metric in found:
            continue
        types = getattr(config.events, metric, ())
        value = summary.get(total)
        if value is None and total in summary:
            found[metric] = reason_for(metric, types)
        elif never_written(types, patterns) and not value:
            found[metric] = reason_for(metric, types)
    return found


def section_note(section: Mapping[str, Any]) -> str | None:
    """A post-test SQL section that came back empty because it is built on never-written
    event types says so (``not_measurable``, set by the analysis runner)."""
    why = section.get("not_measurable")
    return f"{NOT_MEASURABLE}: {why}" if why else None
