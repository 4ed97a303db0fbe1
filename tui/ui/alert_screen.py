"""Enter on an alert: what it is, what it is about right now, and what to do (its runbook).

The runbook comes from the rule file (rules/*.toml, carried by the alert item); the affected
items from ``view.details`` of the rule's metric ("ALLUSDT/bybit 4m12s"), refreshed with every
view while the screen is open. A metric this bot gives no source for says so.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.outputs.console import affected_items, alert_metric
from tui.store.view import MetricsView
from tui.ui import format as fmt

NONE = "—"


def alert_text(item, view: MetricsView) -> str:
    where = alert_metric(item)
    metric = where[1] if where else None
    state = item.state + (" (acknowledged)" if item.acknowledged else "")
    lines = [f"[b]{escape(item.message)}[/b]", "",
             f"{item.severity.upper()} · {state} for {fmt.age(item.duration_s(view.now))}"
             f" · since {fmt.clock(item.started_at)}",
             f"[$text-muted]rule {escape(item.rule)}: {escape(item.condition or NONE)}[/]"]
    if item.peak is not None:
        lines.append(f"[$text-muted]peak {fmt.decimal(item.peak, 0)}[/]")
    lines += ["", "[b]Affected now[/b]"]
    affected = affected_items(item, view)
    if metric and metric in view.unavailable:
        lines.append(f"  {NONE} [$text-muted]no source: {escape(view.unavailable[metric])}[/]")
    elif affected:
        lines += [f"  • {escape(entry)}" for entry in affected]
    else:
        lines.append(f"  {NONE} [$text-muted](the rule's metric lists no items)[/]")
    lines += ["", "[b]What to do[/b] (runbook)"]
    runbook = (item.runbook or "").strip()
    lines += [f"  {escape(line.strip())}" for line in runbook.splitlines()] if runbook \
        else [f"  {NONE} [$text-muted](the rule has no runbook)[/]"]
    return "\n".join(lines)


class AlertScreen(ModalScreen[str | None]):
    """Dismissed with "ack" when `a` is pressed (the app acknowledges), else None."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="alert.close"),
        Binding("enter", "close", "Close", show=False, id="alert.close2"),
        Binding("a", "ack", "Acknowledge", id="alert.ack"),
    ]

    def __init__(self, item, view: MetricsView) -> None:
        super().__init__(id="alert-screen")
        self.item = item
        self.view = view

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="alert-body") as body:
            body.border_title = f"{self.item.severity.upper()} · {self.item.key}"
            body.border_subtitle = "a acknowledges · escape closes"
            yield Static(alert_text(self.item, self.view), id="alert-text")

    def show(self, view: MetricsView) -> None:
        """A new view: the same alert's latest state and items."""
        self.view = view
        item = next((i for i in view.alerts if i.key == self.item.key), self.item)
        self.item = item
        self.query_one("#alert-text", Static).update(alert_text(item, view))

    def action_close(self) -> None:
        self.dismiss(None)

    def action_ack(self) -> None:
        self.dismiss("ack")
