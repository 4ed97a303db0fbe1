"""The metric catalogue and the event classifier.

Metric names are the contract between the store, the rules in ``rules/*.toml``, the panes and
the snapshot/report writers. Per-exchange variants are ``<metric>.<exchange>``
(e.g. ``positions_opened.bybit``, ``open_positions.binance``) for whatever exchanges appear.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Callable

from tui.config import EventsConfig

# Counted per minute of each row's own time: from event rows (created_at), and the first two
# from the positions table (opened_at / closed_at; TABLE_COUNTERS), the source that is right for
# every bot version. The *_events twins cross-check them.
EVENT_COUNTERS: dict[str, str] = {
    "positions_opened": "positions opened (positions table)",
    "positions_closed": "positions closed by any path (positions table)",
    "positions_opened_events": "position_created events (cross-check of opened)",
    "positions_closed_events": "position_closed events (cross-check of closed)",
    "price_updates": "price-update events",
    "ts_activations": "trailing-stop activations",
    "sl_updates": "stop-loss moves",
    "sl_failures": "stop-loss placements, updates or cancels that failed",
    "zombies": "zombie orders cleaned",
    "emergency_closes": "emergency closes",
    "errors": "error events (ERROR/CRITICAL severity or an error type)",
    "ws_reconnects": "WebSocket reconnects (events)",
    "aged_detected": "aged-position detections",
    "unprotected_detected": "positions-without-SL detections",
    "events": "all events",
}
TABLE_COUNTERS = ("positions_opened", "positions_closed")
# Summed per minute from the closes of the positions table (tui/store/pnl.py): the trades.
TRADE_COUNTERS: dict[str, str] = {
    "realized_pnl": "realized PnL of the positions closed (realized_pnl, else pnl)",
    "trades_won": "closed positions with a positive realized PnL",
    "trades_lost": "closed positions with a negative realized PnL",
    "trades_unknown_pnl": "closed positions whose row has no realized PnL",
}
# Always measurable: every event has a severity, and "events" counts them all.
SEVERITY_COUNTERS = ("errors", "events")

# Distinct positions with at least one price update in the window.
DISTINCT_COUNTERS: dict[str, str] = {
    "positions_price_updated": "positions with a price update",
}
# Read off the latest poll; windows keep their average and maximum as <name>_avg / <name>_max.
GAUGES: dict[str, str] = {
    "open_positions": "open positions",
    "unprotected": "open positions without a stop-loss",
    "aged": "open positions older than the aged threshold",
    "ts_missing": "open positions with has_trailing_stop but no trailing_stop_state row",
    "ts_orphaned": "trailing_stop_state rows whose position is closed or missing",
    "ts_sl_mismatch": "open positions whose stop_loss_price disagrees with the trailing stop",
    "unrealized_pnl": "unrealized PnL of the open positions (sum of unrealized_pnl)",
    "exposure": "value of the open positions (quantity x current price)",
}
# The monitor's own health, also available to rules.
HEALTH: dict[str, str] = {
    "db_up": "1 when the last poll succeeded, else 0",
    "db_down_s": "seconds since the database became unreachable (0 when up)",
    "poll_ms": "latency of the latest poll (ms)",
    "poll_p50_ms": "median poll latency in the window (ms)",
    "poll_p95_ms": "95th percentile poll latency in the window (ms)",
    "poll_max_ms": "slowest poll in the window (ms)",
    "polls": "successful polls in the window",
    "failed_polls": "failed polls in the window",
    "bot_silent_s": "seconds since the bot's newest event (database clock)",
    "events_per_min": "event rate (events per minute)",
    "gap_minutes": "minutes recorded as gaps (no successful poll)",
    "late_events": "events that arrived after their minute's snapshot was written",
    "bad_rows": "event rows without a usable created_at (NULL or infinite), never in a minute",
    "last_line_gap": "1 when the newest minute line written was a gap (no successful poll)",
    "minute_complete": "1 when a poll after the minute's end saw all its rows (last_minute)",
    "win_rate_pct": "trades won / trades won or lost, in percent (absent with no such trade)",
}

# Counted from the bot's log (when logs.paths is set), into the minute of each record's own
# timestamp: metric -> (description, level set or None, tag prefixes or None, traceback only).
LOG_COUNTERS: dict[str, str] = {
    "log_records": "log records (entries; a traceback belongs to its record)",
    "log_errors": "error incidents in the log: ERROR/CRITICAL records, one failure logged "
                  "several times counted once, lines of a multi-line dump not counted",
    "log_warnings": "log records at level WARNING",
    "log_tracebacks": "log records carrying a traceback",
    "log_ws_reconnects": "WebSocket reconnects seen in the log (not the health report's "
                         "status lines)",
    "log_ws_disconnects": "WebSocket disconnects and failed connections seen in the log",
    "log_timeouts": "timeouts seen in the log",
    "log_rate_limits": "rate-limit answers seen in the log",
    "log_positions_opened": "positions opened, as the log says",
    "log_positions_closed": "positions closed, as the log says",
    "log_sl_failures": "stop-loss placements or trailing-stop SL updates that failed (incidents)",
    "log_folded": "log records that repeated an incident already counted",
    "log_unparsed": "log lines that did not match the bot's format",
    # The tailer's own health, counted into the minute the monitor read them:
    "log_lines": "physical lines read from the bot's log (compare with wc -l)",
    "log_rotations": "times the followed log file was rotated or replaced",
    "log_truncations": "times the followed log file was truncated in place",
    "log_long_lines": "log lines longer than 1 MiB (cut; the rest of the line dropped)",
}
LOG_TAGS: dict[str, tuple[str, ...]] = {
    "log_ws_reconnects": ("websocket.reconnect",),
    "log_ws_disconnects": ("websocket.disconnected", "websocket.failed"),
    "log_timeouts": ("timing.timeout",),
    "log_rate_limits": ("timing.rate_limit",),
    "log_positions_opened": ("position.opened",),
    "log_positions_closed": ("position.closed",),
    "log_sl_failures": ("stop_loss.failed",),
}
# Marks the log feed adds to a record's tags (they are not categories).
LOG_FOLDED_MARK = "log.folded"  # the record repeated an incident already counted
LOG_DETAIL_MARK = "log.detail"  # an indented line of a multi-line dump
# The tailer's health counters, from its running totals (LogFeed hands over the differences).
LOG_SOURCE_COUNTERS = ("log_lines", "log_rotations", "log_truncations", "log_long_lines")
LOG_HEALTH: dict[str, str] = {
    "log_silent_s": "seconds since the bot's log last grew",
}

WINDOWS = ("current", "last_minute", "last_10_minutes", "all_time")


def gauge_aggregates(name: str) -> tuple[str, str]:
    """``open_positions`` -> ``open_positions_avg``; ``open_positions.bybit`` ->
    ``open_positions_avg.bybit`` (the exchange stays the last part of the name)."""
    base, dot, exchange = name.partition(".")
    return f"{base}_avg{dot}{exchange}", f"{base}_max{dot}{exchange}"


def base_metric_names() -> list[str]:
    """Every metric name a rule may use (per-exchange variants add ``.<exchange>``)."""
    names = (list(EVENT_COUNTERS) + list(TRADE_COUNTERS) + list(DISTINCT_COUNTERS)
             + list(GAUGES) + list(HEALTH) + list(LOG_COUNTERS) + list(LOG_HEALTH))
    for gauge in GAUGES:
        names.extend(gauge_aggregates(gauge))
    return names


class EventClassifier:
    """Maps (event_type, severity) to the counters it feeds; config lists may hold globs."""

    def __init__(self, events: EventsConfig) -> None:
        self._lists = {name: getattr(events, name) for name in EVENT_COUNTERS
                       if name not in SEVERITY_COUNTERS and name not in TABLE_COUNTERS}
        self._error_types = events.errors
        self._error_severities = frozenset(s.upper() for s in events.error_severities)
        self._price_types = events.price_updates
        self._stream_exclude = events.stream_exclude
        self.counters_for = lru_cache(maxsize=4096)(self._counters_for)
        self.is_notable = lru_cache(maxsize=1024)(self._is_notable)
        self.is_price_update = lru_cache(maxsize=1024)(self._is_price_update)

    def matches(self, kind: str, patterns: tuple[str, ...]) -> bool:
        """Whether an event (``type`` or ``type:subtype``) matches config patterns."""
        return self._matches(kind, patterns)

    @property
    def sources(self) -> dict[str, tuple[str, ...]]:
        """Counter -> the event-type patterns it is counted from."""
        return dict(self._lists)

    @staticmethod
    def _matches(kind: str, patterns: tuple[str, ...]) -> bool:
        """``kind`` is ``type`` or ``type:subtype``; a pattern without a subtype matches the
        type, one with a subtype matches both parts."""
        event_type = kind.partition(":")[0]
        return any(fnmatchcase(kind if ":" in p else event_type, p) for p in patterns)

    def _counters_for(self, kind: str, severity: str | None) -> tuple[str, ...]:
        """The counters one event feeds; ``kind`` is the event's type or ``type:subtype``."""
        found = ["events"]
        found.extend(name for name, patterns in self._lists.items()
                     if self._matches(kind, patterns))
        if (severity or "").upper() in self._error_severities or self._matches(
                kind, self._error_types):
            found.append("errors")
        return tuple(found)

    def _is_notable(self, event_type: str) -> bool:
        return not self._matches(event_type, self._stream_exclude)

    def _is_price_update(self, event_type: str) -> bool:
        return self._matches(event_type, self._price_types)


def count_rows(classifier: EventClassifier,
               rows: list[tuple[str, str | None, str | None, int]],
               exchange_key: Callable[[str | None], str | None] = lambda x: x and x.lower(),
               ) -> dict[str, int]:
    """Totals (and ``<metric>.<exchange>``) from grouped (kind, severity, exchange, n) rows;
    ``exchange_key`` bounds the exchange keys the way the store does."""
    totals: dict[str, int] = {}
    for kind, severity, exchange, n in rows:
        key = exchange_key(exchange)
        for name in classifier.counters_for(kind, severity):
            totals[name] = totals.get(name, 0) + n
            if key:
                totals[f"{name}.{key}"] = totals.get(f"{name}.{key}", 0) + n
    return totals


def log_counters_for(level: str, tags: tuple[str, ...], traceback: bool,
                     parsed: bool) -> list[str]:
    """The log counters one record feeds."""
    if not parsed:
        return ["log_unparsed"]
    found = ["log_records"]
    level = level.upper()
    folded = LOG_FOLDED_MARK in tags
    if folded:
        found.append("log_folded")
    if level in ("ERROR", "CRITICAL"):
        if not folded and LOG_DETAIL_MARK not in tags:
            found.append("log_errors")
    elif level == "WARNING":
        found.append("log_warnings")
    if traceback:
        found.append("log_tracebacks")
    for name, wanted in LOG_TAGS.items():
        if any(tag in wanted for tag in tags):
            found.append(name)
    return found
