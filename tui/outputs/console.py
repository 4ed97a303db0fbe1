"""The headless per-minute block, like the old console monitor, without its defects."""

from __future__ import annotations

from datetime import datetime
from typing import Mapping

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


def _gauges(values: Mapping[str, float], exchanges: tuple[str, ...], window: bool) -> Text:
    def g(name: str) -> str:
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


def minute_block(view: MetricsView, alerts: list[str] | None = None) -> list[Text]:
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
    lines.append(Text("CURRENT STATE    ", style="cyan").append_text(
        _gauges(cur, view.exchanges, window=False)))
    for label, window in (("LAST MINUTE      ", "last_minute"),
                          ("LAST 10 MINUTES  ", "last_10_minutes"),
                          ("ALL TIME         ", "all_time")):
        values = view.windows[window]
        line = Text(label, style="cyan").append_text(
            _counter_line(values, view.exchanges, view.unavailable))
        lines.append(line)
        if window != "last_minute":
            lines.append(Text(" " * len(label)).append_text(
                _gauges(values, view.exchanges, window=True)))
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
        lines.append(Text(alert, style="bold yellow"))
    return lines


def _time(ts: datetime | None) -> str:
    return ts.astimezone().strftime("%H:%M:%S") if ts else "?"


class ConsolePrinter:
    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)

    def block(self, view: MetricsView, alerts: list[str] | None = None) -> None:
        for line in minute_block(view, alerts):
            self.console.print(line)
        self.console.print()

    def say(self, text: str, style: str | None = None) -> None:
        self.console.print(text, style=style)
