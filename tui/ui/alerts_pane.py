"""Alerts pane: what the rules engine reports in ``view.alerts`` (tui.alerts.model.AlertItem).

The rules engine (tui/alerts) fills it, already ordered: firing and pending first (by severity,
oldest first), then recently resolved (greyed). Without an engine the pane says so quietly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui.alerts.model import SEVERITIES, AlertItem
from tui.ui import format as fmt
from tui.ui.table import Cell, KeyedTable, Palette

def alert_cells(item: AlertItem, now: datetime, palette: Palette,
                position: int = 0) -> tuple[Cell, ...]:
    resolved = item.state == "resolved"
    if resolved or item.acknowledged:
        style = palette.muted
    elif item.severity == "critical":
        style = palette.bad
    elif item.severity == "warning":
        style = palette.warn
    else:
        style = palette.plain
    duration = item.duration_s(now)
    state = item.state + (" (ack)" if item.acknowledged else "")
    mark = ("▲ " if item.state == "firing" and not item.acknowledged
            and item.severity in ("critical", "warning") else "")
    return (
        Cell(Text(mark + item.severity.upper(), style=style), sort_key=position),
        Cell(Text(state, style=style)),
        Cell(Text(fmt.age(duration), style=palette.muted if resolved else palette.plain),
             sort_key=duration or 0.0),
        Cell(Text(item.message, style=style)),
    )


def severity_counts(items: Iterable[AlertItem]) -> dict[str, int]:
    """Firing, unacknowledged alerts per severity (for the header)."""
    counts = {name: 0 for name in SEVERITIES}
    for item in items:
        if item.state == "firing" and not item.acknowledged:
            counts[item.severity] = counts.get(item.severity, 0) + 1
    return counts


class AlertTable(KeyedTable):
    COLUMNS = (("severity", "Severity"), ("state", "State"), ("duration", "For"),
               ("message", "Alert"))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._items: tuple[AlertItem, ...] = ()
        self._now: datetime | None = None

    def show(self, items: tuple[AlertItem, ...], now: datetime) -> None:
        self._items, self._now = items, now
        rows = [(item.key, alert_cells(item, now, self.palette, index))
                for index, item in enumerate(items)]
        self.sync(rows, lambda cells: cells[0].sort_key)

    def restyle(self) -> None:
        self.reset()
        if self._now is not None:
            self.show(self._items, self._now)


class AlertsPane(Vertical):
    """A quiet line when nothing fires; the table when the engine reports anything.

    ``A`` (on the app) toggles firing only / all; ``a`` acknowledges the selected alert, which
    stays listed but greyed and leaves the header's count; enter opens its runbook and the
    affected items (tui/ui/alert_screen.py).
    """

    def __init__(self, engine_loaded: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine_loaded = engine_loaded
        self.border_title = "Alerts"
        self.items: tuple[AlertItem, ...] = ()  # what the table lists (after the filter)
        self.all_items: tuple[AlertItem, ...] = ()  # what the engine reported
        self.firing_only = False
        self._now: datetime | None = None

    def compose(self) -> ComposeResult:
        yield Static(self._idle_text(), classes="alerts-idle")
        yield AlertTable(id="alert-table")

    def _idle_text(self) -> str:
        if not self.engine_loaded:
            return "[$text-muted]Alerts: no rules engine loaded[/]"
        if self.firing_only and self.all_items:
            return (f"[$text-muted]Alerts: none firing ({len(self.all_items)} more listed "
                    f"· A shows all)[/]")
        return "[$text-muted]Alerts: none firing[/]"

    def show(self, items: tuple[AlertItem, ...], now: datetime) -> None:
        if items == self.all_items and items == ():
            return
        self.all_items, self._now = items, now
        shown = tuple(item for item in items
                      if not self.firing_only or item.state == "firing")
        self.items = shown
        table = self.query_one(AlertTable)
        table.show(shown, now)
        self.set_class(bool(shown), "-has-alerts")
        self.query_one(".alerts-idle", Static).update(self._idle_text())
        counts = severity_counts(items)
        firing = sum(counts.values())
        scope = " · firing only" if self.firing_only else ""
        self.border_subtitle = ((f"{firing} firing" if firing else
                                 f"{len(shown)} listed" if shown else "")
                                + scope + (" · enter: what to do · a ack · A all/firing" if shown
                                          else ""))

    def toggle_firing_only(self) -> bool:
        """The `A` key: list firing alerts only, or everything; returns the new setting."""
        self.firing_only = not self.firing_only
        if self._now is not None:
            items, self.all_items = self.all_items, ()
            self.show(items, self._now)
        return self.firing_only

    @property
    def selected(self) -> AlertItem | None:
        """The selected alert (the `a` key acknowledges it)."""
        key = self.query_one(AlertTable).selected_key()
        return next((item for item in self.items if item.key == key), None)
