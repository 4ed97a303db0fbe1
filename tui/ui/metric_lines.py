"""What each metric pane shows, as plain lines computed from a MetricsView (no Textual).

Keeping this pure lets a test compare a pane's lines with the headless console block
(tui/outputs/console.py): both read the same windows of the same view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Mapping

from tui.store.buckets import MINUTE, minute_of
from tui.store.view import MetricsView
from tui.ui import format as fmt

# How a non-zero problem value is shown: "bad" (red) or "warn" (yellow), always with a marker.
BAD, WARN = "bad", "warn"


@dataclass(frozen=True)
class Line:
    key: str  # stable per pane: rows are matched by key and updated in place
    label: str
    text: str
    level: str = ""  # "", BAD or WARN; set only when the value is non-zero
    quiet: bool = False  # a problem counter at zero, or a figure without a source: dim
    # Per-minute trend, oldest first; None for a minute without data (before the run, a gap).
    series: tuple[float | None, ...] | None = None
    sub: bool = False  # a per-exchange breakdown row
    stale: bool = False  # the last poll's value while the database is down: dim
    note: str = ""  # why a figure is "—" (its tooltip)


@dataclass(frozen=True)
class PaneSpec:
    id: str
    title: str
    window: str
    build: Callable[[MetricsView], list[Line]]
    sparklines: bool = False


# (metric, label, problem level or "") in the order the old console printed them.
COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("positions_opened", "opened", ""),
    ("positions_closed", "closed", ""),
    ("price_updates", "price updates", ""),
    ("positions_price_updated", "pos. with price", ""),
    ("ts_activations", "TS activations", ""),
    ("sl_updates", "SL moves", ""),
    ("sl_failures", "SL failures", WARN),
    ("zombies", "zombie orders", WARN),
    ("emergency_closes", "emergency", BAD),
    ("errors", "errors", WARN),
    ("ws_reconnects", "WS reconnects", WARN),
)
GAUGE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("open_positions", "open avg/max", ""),
    ("unprotected", "no-SL avg/max", BAD),
    ("aged", "aged avg/max", WARN),
)


def _problem(key: str, label: str, value: float | None, text: str, level: str,
             series: tuple[float | None, ...] | None = None, sub: bool = False,
             stale: bool = False) -> Line:
    if not level:
        return Line(key, label, text, series=series, sub=sub, stale=stale)
    if value:
        return Line(key, label, text, level=level, series=series, sub=sub, stale=stale)
    return Line(key, label, text, quiet=True, series=series, sub=sub, stale=stale)


def series_minutes(view: MetricsView, points: int) -> list[datetime]:
    """The minute of each trend point: the store's series end with the last complete minute."""
    end = minute_of(view.now)
    return [end - MINUTE * i for i in range(points, 0, -1)]


def _series(view: MetricsView, metric: str, with_series: bool
            ) -> tuple[float | None, ...] | None:
    """The metric's trend with the minutes that have no data as None: before the run (the
    store reads its start snapshot's history for the windows, not for trends) and gaps."""
    if not with_series:
        return None
    points = tuple(view.series.get(metric, ()))
    first = minute_of(view.run_start)
    gaps = {minute for minute, _ in view.gaps}
    return tuple(None if minute < first or minute in gaps else value
                 for minute, value in zip(series_minutes(view, len(points)), points))


def current_lines(view: MetricsView) -> list[Line]:
    values = view.windows.get("current", {})
    stale = not view.db_up  # the last poll's gauges: kept, but marked (subtitle, dim)
    hours = view.aged_after_s / 3600
    aged_label = f"aged > {hours:g}h"
    lines = [Line("open", "open positions", fmt.count(values.get("open_positions")),
                  series=_series(view, "open_positions", True), stale=stale)]
    for exchange in view.exchanges:
        lines.append(Line(f"open.{exchange}", exchange,
                          fmt.count(values.get(f"open_positions.{exchange}", 0)), sub=True,
                          stale=stale))
    for metric, label, level in (("unprotected", "without SL", BAD), ("aged", aged_label, WARN)):
        if metric in view.unavailable:
            lines.append(Line(metric, label, NO_SOURCE, quiet=True, series=(),
                              note=view.unavailable[metric]))
            continue
        value = values.get(metric)
        lines.append(_problem(metric, label, value, fmt.count(value), level,
                              _series(view, metric, True), stale=stale))
    return lines


# Counters that both the database and the bot's log give: labelled by source when a log is
# followed, the log's figure on the next row.
FROM_LOG = {"errors": "log_errors", "ws_reconnects": "log_ws_reconnects"}
SHORT = {"ws_reconnects": "WS reconn."}


def log_followed(view: MetricsView) -> bool:
    return view.log_tail is not None


# Opens and closes come from the positions table; their events only cross-check them, shown
# under the figure when the two disagree ("opened 12 · position_created events 0").
CROSS_CHECK = {"positions_opened": ("positions_opened_events", "created events"),
               "positions_closed": ("positions_closed_events", "closed events")}
NO_SOURCE = "—"  # a figure this bot gives no source for (view.unavailable says why)


def _counter_lines(view: MetricsView, values: Mapping[str, float], with_series: bool,
                   per_exchange: bool) -> list[Line]:
    lines = []
    both = log_followed(view)
    for metric, label, level in COUNTERS:
        value = values.get(metric)
        log_metric = FROM_LOG.get(metric) if both else None
        short = SHORT.get(metric, label)  # the source suffix must fit the trend panes' labels
        shown = f"{short} (db)" if log_metric else label
        if metric in view.unavailable:
            lines.append(Line(metric, shown, NO_SOURCE, quiet=True,
                              series=() if with_series else None,
                              note=view.unavailable[metric]))
        else:
            lines.append(_problem(metric, shown, value, fmt.count(value), level,
                                  _series(view, metric, with_series)))
        if log_metric:
            log_value = values.get(log_metric)
            lines.append(_problem(log_metric, f"{short} (log)", log_value, fmt.count(log_value),
                                  level, _series(view, log_metric, with_series)))
        twin, twin_label = CROSS_CHECK.get(metric, (None, ""))
        if twin and twin not in view.unavailable and values.get(twin, 0) != (value or 0):
            lines.append(Line(twin, twin_label, fmt.count(values.get(twin)), level=WARN,
                              sub=True))
        if metric == "positions_opened" and per_exchange:
            for exchange in view.exchanges:
                lines.append(Line(f"{metric}.{exchange}", exchange,
                                  fmt.count(values.get(f"{metric}.{exchange}", 0)), sub=True))
    return lines


def _gauge_lines(view: MetricsView, values: Mapping[str, float]) -> list[Line]:
    lines = []
    for metric, label, level in GAUGE_ROWS:
        if metric in view.unavailable:
            lines.append(Line(f"{metric}_avg_max", label, NO_SOURCE, quiet=True,
                              note=view.unavailable[metric]))
            continue
        avg, peak = values.get(f"{metric}_avg"), values.get(f"{metric}_max")
        lines.append(_problem(f"{metric}_avg_max", label, peak, fmt.avg_max(avg, peak), level))
    return lines


def last_minute_lines(view: MetricsView) -> list[Line]:
    return _counter_lines(view, view.windows.get("last_minute", {}), True, False)


def last_10_minutes_lines(view: MetricsView) -> list[Line]:
    values = view.windows.get("last_10_minutes", {})
    return _counter_lines(view, values, False, False) + _gauge_lines(view, values)


def all_time_lines(view: MetricsView) -> list[Line]:
    values = view.windows.get("all_time", {})
    return _counter_lines(view, values, False, True) + _gauge_lines(view, values)


# -- what each window covers (the panes' subtitles) ---------------------------------------------
def _hm(ts: datetime) -> str:
    return ts.astimezone().strftime("%H:%M")


def _span(view: MetricsView, window: str) -> tuple[datetime, datetime]:
    span = view.spans.get(window) if view.spans else None
    if span is not None:
        return span
    last = minute_of(view.now) - MINUTE  # the store's definition, for views built without spans
    return {"current": (minute_of(view.now), view.now), "last_minute": (last, last + MINUTE),
            "last_10_minutes": (last - 9 * MINUTE, last + MINUTE),
            "all_time": (view.run_start, view.now)}[window]


def _before_run(view: MetricsView, start: datetime, end: datetime) -> str:
    """How much of [start, end) lies before the run started ("" when none)."""
    if start >= view.run_start:
        return ""
    if end <= view.run_start:
        return "before the start"
    lead = view.run_start - start
    if lead < timedelta(minutes=1):
        return f"{int(lead.total_seconds())} s before start"
    return f"{int(lead.total_seconds() // 60)} min before start"


def subtitle(window: str, view: MetricsView) -> str:
    """What the pane of ``window`` covers, in the operator's local time: "10:41–10:42",
    "since 09:00:12 (run start)"; and what of it lies before the run ("8 min before start":
    the start snapshot's history, in the windows but never in all time) or is stale. Short:
    it must fit a pane's border at 120 columns."""
    if window == "current":
        if not view.db_up:
            return f"▲ last poll, before {fmt.clock(view.db_down_since)}"  # the header: DB DOWN
        return f"at {fmt.clock(view.now)}"
    if window == "all_time":  # to now: it holds the minute in progress, Last 10 minutes not
        return f"{fmt.clock(view.run_start)} (run start) → {fmt.clock(view.now)}"
    start, end = _span(view, window)
    text = f"{_hm(start)}–{_hm(end)}"
    before = _before_run(view, start, end)
    if before:
        text += f" · {before}"
    if window == "last_minute" and not view.windows.get(window, {}).get("minute_complete", 1):
        text += " · may grow"  # the bot inserts in batches 0-5 s late
    return text


PANES: tuple[PaneSpec, ...] = (
    PaneSpec("pane-current", "Current state", "current", current_lines, sparklines=True),
    PaneSpec("pane-last-minute", "Last minute", "last_minute", last_minute_lines,
             sparklines=True),
    PaneSpec("pane-last-10", "Last 10 minutes", "last_10_minutes", last_10_minutes_lines),
    PaneSpec("pane-all-time", "All time", "all_time", all_time_lines),
)


def problems(view: MetricsView) -> list[tuple[str, str]]:
    """Non-zero problem figures for the header's one-glance summary: (level, text)."""
    cur = view.windows.get("current", {})
    minute = view.windows.get("last_minute", {})
    found: list[tuple[str, str]] = []
    if cur.get("unprotected"):
        found.append((BAD, f"{fmt.count(cur['unprotected'])} without SL"))
    if minute.get("emergency_closes"):
        found.append((BAD, f"{fmt.count(minute['emergency_closes'])} emergency closes/min"))
    if cur.get("aged"):
        found.append((WARN, f"{fmt.count(cur['aged'])} aged"))
    both = log_followed(view)
    for metric, label in (("errors", "errors"), ("ws_reconnects", "WS reconnects"),
                          ("zombies", "zombies"), ("log_errors", "errors"),
                          ("log_ws_reconnects", "WS reconnects")):
        if minute.get(metric):
            source = (" (log)" if metric.startswith("log_") else
                      " (db)" if metric in FROM_LOG and both else "")
            found.append((WARN, f"{fmt.count(minute[metric])} {label}{source}/min"))
    return found
