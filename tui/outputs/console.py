"""The headless per-minute block, like the old console monitor, without its defects.

Everything in one block is read from one view: the gauges, the counters and the alert lines are
one moment's numbers. An alert kept firing after its condition cleared (``keep_firing_for``)
says so next to the value it now sees, so "without SL 0" above "3 open positions without a
stop-loss" is never left unexplained.
"""

from __future__ import annotations

import operator
import re
from datetime import datetime
from typing import Any, Iterable, Mapping

from rich.console import Console
from rich.text import Text

from tui.store.view import MetricsView


def _n(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    if digits:
        return f"{value:,.{digits}f}"
    return f"{int(round(value)):,}"


def _hm(seconds: float | None) -> str:
    if seconds is None:
        return "open-ended"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


NO_SOURCE = "—"  # a figure this bot gives no source for (the footnote says why)


def _counter_line(values: Mapping[str, float], exchanges: tuple[str, ...],
                  missing: Mapping[str, str] = {}) -> Text:
    def n(metric: str) -> str:
        return NO_SOURCE if metric in missing else _n(values.get(metric))

    def cross_check(metric: str, twin: str, label: str) -> str:
        # Opens and closes come from the positions table; the events only cross-check them.
        if twin in missing or values.get(twin, 0) == values.get(metric, 0):
            return ""
        return f" · {label} events {_n(values.get(twin))}"

    opened = _n(values.get("positions_opened"))
    per_exchange = ", ".join(f"{x} {_n(values.get(f'positions_opened.{x}', 0))}"
                             for x in exchanges if values.get(f"positions_opened.{x}"))
    if per_exchange:
        opened += f" ({per_exchange})"
    opened += cross_check("positions_opened", "positions_opened_events", "position_created")
    closed = n("positions_closed") + cross_check("positions_closed", "positions_closed_events",
                                                 "position_closed")
    parts = [
        ("opened", opened, False), ("closed", closed, False),
        ("price updates", f"{_n(values.get('price_updates'))} "
                          f"({_n(values.get('positions_price_updated'))} pos)", False),
        ("TS activations", n("ts_activations"), False),
        ("SL moves", n("sl_updates"), False),
        ("zombies", n("zombies"), bool(values.get("zombies"))),
        ("emergency", n("emergency_closes"), bool(values.get("emergency_closes"))),
        ("errors", n("errors"), bool(values.get("errors"))),
        ("WS reconnects", n("ws_reconnects"), bool(values.get("ws_reconnects"))),
    ]
    if "log_ws_reconnects" in values:
        parts.append(("WS reconnects (log)", _n(values["log_ws_reconnects"]),
                      bool(values["log_ws_reconnects"])))
    return _join(parts)


def _join(parts: list[tuple[str, str, bool]]) -> Text:
    text = Text()
    for index, (label, value, bad) in enumerate(parts):
        if index:
            text.append(" · ", style="dim")
        text.append(f"{label} ")
        text.append(("! " if bad else "") + value, style="bold red" if bad else "bold")
    return text


def _gauges(values: Mapping[str, float], exchanges: tuple[str, ...], window: bool,
            missing: Mapping[str, str] = {}) -> Text:
    def g(name: str) -> str:
        if name in missing:
            return NO_SOURCE
        if window:
            return f"avg {_n(values.get(name + '_avg'), 1)} max {_n(values.get(name + '_max'))}"
        return _n(values.get(name))

    total = g("open_positions")
    per = ", ".join(f"{x} {_n(values.get(f'open_positions.{x}'))}" for x in exchanges)
    if per and not window:
        total += f" ({per})"
    unprotected, aged = values.get("unprotected"), values.get("aged")
    return _join([("open", total, False),
                  ("without SL", g("unprotected"), bool(unprotected)),
                  ("aged", g("aged"), bool(aged))])


def minute_block(view: MetricsView, alerts: Iterable[str | Text] | None = None) -> list[Text]:
    cur = view.windows["current"]
    stamp = view.now.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    db = (f"db OK {_n(cur.get('poll_ms'), 1)} ms" if view.db_up
          else f"db DOWN since {_time(view.db_down_since)}: {view.db_error}")
    silent = cur.get("bot_silent_s")
    head = Text(f"=== {stamp} · elapsed {_hm(view.elapsed_s)}"
                f" · remaining {_hm(view.remaining_s)} · ", style="bold")
    head.append(db, style="bold green" if view.db_up else "bold red")
    head.append(f" · last bot event {_n(silent)} s ago" if silent is not None else "")
    lines = [head]
    current = Text("CURRENT STATE    ", style="cyan").append_text(
        _gauges(cur, view.exchanges, window=False, missing=view.unavailable))
    if not view.db_up:  # the gauges are the last poll's: say how old, never pass them as now
        current.append(f"  (last values, from before {_time(view.db_down_since)}: "
                       f"database down)", style="bold red")
    lines.append(current)
    for label, window in (("LAST MINUTE      ", "last_minute"),
                          ("LAST 10 MINUTES  ", "last_10_minutes"),
                          ("ALL TIME         ", "all_time")):
        values = view.windows[window]
        line = Text(label, style="cyan").append_text(
            _counter_line(values, view.exchanges, view.unavailable))
        lines.append(line)
        if window != "last_minute":
            lines.append(Text(" " * len(label)).append_text(
                _gauges(values, view.exchanges, window=True, missing=view.unavailable)))
    everything = view.windows["all_time"]
    lines.append(Text(f"HEALTH           polls {_n(everything.get('polls'))}"
                      f" (failed {_n(everything.get('failed_polls'))}) · poll p50"
                      f" {_n(everything.get('poll_p50_ms'), 1)} ms p95"
                      f" {_n(everything.get('poll_p95_ms'), 1)} ms max"
                      f" {_n(everything.get('poll_max_ms'), 1)} ms · snapshots"
                      f" {view.snapshots_written} · gaps {len(view.gaps)}", style="dim"))
    if view.unavailable:
        lines.append(Text("NO SOURCE        " + "; ".join(
            f"{name}: {reason}" for name, reason in sorted(view.unavailable.items())),
            style="dim"))
    for alert in alerts or []:
        lines.append(alert if isinstance(alert, Text) else Text(alert, style="bold yellow"))
    return lines


def _time(ts: datetime | None) -> str:
    return ts.astimezone().strftime("%H:%M:%S") if ts else "?"


# -- alerts -------------------------------------------------------------------------------------
_CONDITION = re.compile(r"^(?P<window>\w+)\.(?P<metric>[\w.]+) (?P<op>>=|<=|==|!=|>|<) "
                        r"(?P<threshold>-?[\d.,]+)")
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
        "==": operator.eq, "!=": operator.ne}


def alert_metric(item: Any) -> tuple[str, str] | None:
    """(window, metric) of an alert item's first condition ("current.unprotected > 0 for 3m")."""
    metric = getattr(item, "metric", None)
    if metric:
        return getattr(item, "window", "current"), metric
    found = _CONDITION.match(getattr(item, "condition", "") or "")
    return (found["window"], found["metric"]) if found else None


def still_holds(item: Any, view: MetricsView) -> tuple[bool, float | None] | None:
    """Whether the item's first condition holds in ``view``, and the value it sees there;
    None when the condition cannot be read."""
    found = _CONDITION.match(getattr(item, "condition", "") or "")
    if found is None:
        return None
    value = view.value(found["metric"], found["window"])
    if value is None:
        return False, None
    return _OPS[found["op"]](value, float(found["threshold"].replace(",", ""))), value


def affected_items(item: Any, view: MetricsView) -> tuple[str, ...]:
    """What the alert is about (view.details of its metric): "ALLUSDT/bybit 4m12s", ..."""
    where = alert_metric(item)
    if where is None:
        return ()
    return tuple(view.details.get(where[1], ()))


def _duration(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class AlertLines:
    """The alert lines under a block, from the same view as the block.

    Every block lists the pending and firing alerts. When an episode fires, its runbook and the
    affected items follow once; when it resolves, one line says so.
    """

    def __init__(self) -> None:
        self._fired: set[str] = set()
        self._resolved: set[str] = set()

    def lines(self, view: MetricsView) -> list[Text]:
        out: list[Text] = []
        for item in view.alerts:
            if item.state == "resolved":
                if item.key not in self._resolved:
                    self._resolved.add(item.key)
                    out.append(Text(f"{item.severity.upper():<8} resolved after "
                                    f"{_duration(item.duration_s(view.now))}: {item.rule} "
                                    f"(peak {_n(item.peak, 0) if item.peak is not None else '–'})",
                                    style="dim"))
                continue
            style = "bold red" if item.severity == "critical" and item.state == "firing" \
                else "bold yellow"
            ack = " (acknowledged)" if item.acknowledged else ""
            line = Text(f"{item.severity.upper():<8} {item.state} "
                        f"{_duration(item.duration_s(view.now))}: {item.message}"
                        f"  [{item.rule}: {item.condition}]{ack}", style=style)
            seen = still_holds(item, view)
            if item.state == "firing" and seen is not None and not seen[0]:
                now = NO_SOURCE if seen[1] is None else _n(seen[1], 0)
                line.append(f"  · cleared: now {now}, firing a little longer before it "
                            f"resolves", style="dim")
            out.append(line)
            if item.state == "firing" and item.key not in self._fired:
                self._fired.add(item.key)
                out.extend(self._what_to_do(item, view))
        return out

    @staticmethod
    def _what_to_do(item: Any, view: MetricsView) -> list[Text]:
        lines = []
        affected = affected_items(item, view)
        lines.append(Text("    affected: " + (", ".join(affected) if affected else NO_SOURCE)))
        runbook = (item.runbook or "").strip()
        if runbook:
            for index, text in enumerate(runbook.splitlines()):
                lines.append(Text(("    runbook:  " if index == 0 else "              ")
                                  + text.strip()))
        else:
            lines.append(Text(f"    runbook:  {NO_SOURCE}"))
        return lines


class ConsolePrinter:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)

    def block(self, view: MetricsView, alerts: list[str] | None = None) -> None:
        for line in minute_block(view, alerts):
            self.console.print(line)
        self.console.print()

    def say(self, text: str, style: str | None = None) -> None:
        self.console.print(text, style=style)
