"""How a store metric in a window is named in Prometheus: one mapping for /metrics and the rules.

Built from the store's catalogues (``tui.store.metrics``), so a metric added there is exported,
and usable in exported rules, without a change here. Plain Python: the rules export works without
the ``prometheus`` extra.

- A counter (event, trade and log counters, polls) over ``all_time`` is a Prometheus counter
  ``botmon_<name>_total``: the run's streamed total. Its value in the other windows is the
  gauge ``botmon_<name>_in_window{window="current"|"last_minute"|"last_10_minutes"}``.
  A sum of signed amounts (``realized_pnl``) can go down, so it is a gauge with a window label.
- A point-in-time value (``db_up``, ``bot_silent_s``, ...) is a gauge without a window label.
- Everything else (gauges, their ``_avg``/``_max``, poll percentiles, rates) is a gauge with the
  window as label: ``botmon_open_positions{window="current"}``,
  ``botmon_open_positions_max{window="last_10_minutes"}``.
- Units in names: ``_ms`` values are exported in seconds (``poll_p95_ms`` ->
  ``botmon_poll_p95_seconds``), ``_s`` -> ``_seconds``, ``_pct`` -> ``_ratio`` (0..1),
  ``_per_min`` -> ``_per_minute``.
- ``<metric>.<exchange>`` becomes the label ``exchange``. For additive metrics (counters and the
  gauges themselves) the series without an exchange holds what has no exchange, so
  ``sum without (exchange)`` is the bot-wide figure; for the others (averages, maxima,
  percentiles, distinct counts) it is the bot-wide value itself (a maximum does not add up).
"""

from __future__ import annotations

from dataclasses import dataclass

from tui.alerts.catalog import ENGINE_METRICS, POINT_IN_TIME
from tui.store.metrics import (DISTINCT_COUNTERS, EVENT_COUNTERS, GAUGES, HEALTH, LOG_COUNTERS,
                               LOG_HEALTH, TRADE_COUNTERS, gauge_aggregates)

PREFIX = "botmon_"
# Health figures that only grow during a run: counters too.
_MONOTONIC_HEALTH = ("polls", "failed_polls", "gap_minutes", "late_events", "bad_rows")
# Counted per minute like the counters, but sums of signed amounts: they can go down.
_SIGNED = frozenset({"realized_pnl"})
# Health the store keeps in current/all_time only, not (yet) in catalog.POINT_IN_TIME.
_POINT = POINT_IN_TIME | frozenset({"bad_rows", "last_line_gap"})


@dataclass(frozen=True)
class Series:
    """Where one (metric, window) of the store lives in Prometheus."""

    family: str  # the sample name, e.g. botmon_errors_total
    kind: str  # counter / gauge
    window: str | None  # value of the `window` label; None: no window label
    additive: bool  # per-exchange series add up to the bot-wide figure
    scale: float  # Prometheus value = botmon value * scale (ms -> s)
    help: str


def is_point(base: str) -> bool:
    """A point-in-time value: one series, no window label (current and all_time agree)."""
    return base in _POINT


def per_exchange(base: str) -> bool:
    """The store keeps ``<base>.<exchange>`` too (event counters, gauges and their aggregates)."""
    if base in EVENT_COUNTERS or base in TRADE_COUNTERS or base in GAUGES:
        return True
    return any(base in gauge_aggregates(gauge) for gauge in GAUGES)


def counters() -> set[str]:
    return ((set(EVENT_COUNTERS) | set(TRADE_COUNTERS) | set(LOG_COUNTERS)
             | set(_MONOTONIC_HEALTH)) - _SIGNED)


def _description(base: str) -> str:
    for table in (EVENT_COUNTERS, TRADE_COUNTERS, DISTINCT_COUNTERS, GAUGES, HEALTH,
                  LOG_COUNTERS, LOG_HEALTH, ENGINE_METRICS):
        if base in table:
            return table[base]
    for gauge in GAUGES:
        avg, peak = gauge_aggregates(gauge)
        if base == avg:
            return f"{GAUGES[gauge]}: average over the window"
        if base == peak:
            return f"{GAUGES[gauge]}: maximum over the window"
    return f"botmon metric {base}"


def with_unit(base: str) -> tuple[str, float]:
    """``poll_p95_ms`` -> (``poll_p95_seconds``, 0.001); base units, as Prometheus wants."""
    if base.endswith("_ms"):
        return base[:-3] + "_seconds", 0.001
    if base.endswith("_s"):
        return base[:-2] + "_seconds", 1.0
    if base.endswith("_pct"):
        return base[:-4] + "_ratio", 0.01
    if base.endswith("_per_min"):
        return base[:-8] + "_per_minute", 1.0
    return base, 1.0


def series_for(base: str, window: str) -> Series:
    """The Prometheus series of store metric ``base`` (no exchange suffix) in ``window``."""
    help_text = _description(base)
    if base in counters():
        if base in _POINT or window == "all_time":
            return Series(f"{PREFIX}{base}_total", "counter", None, True, 1.0,
                          f"{help_text}; counter: the run's total (all_time)")
        return Series(f"{PREFIX}{base}_in_window", "gauge", window, True, 1.0,
                      f"{help_text}; in botmon's window named by the window label")
    name, scale = with_unit(base)
    if scale == 0.001:
        help_text = help_text.replace("(ms)", "(seconds)")
    elif scale == 0.01:
        help_text = help_text.replace("in percent", "as a ratio 0..1")
    if base in _POINT:
        return Series(f"{PREFIX}{name}", "gauge", None, False, scale, help_text)
    additive = base in GAUGES or base in _SIGNED
    return Series(f"{PREFIX}{name}", "gauge", window, additive, scale,
                  f"{help_text}; in botmon's window named by the window label")
