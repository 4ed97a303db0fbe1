"""A metric pane: one window of the store as rows of label, value and (optionally) a trend."""

from __future__ import annotations

import re

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import Static

from tui.store.view import MetricsView
from tui.ui.metric_lines import BAD, WARN, Line, PaneSpec, subtitle
from tui.ui.trend import Trend

MARKER = "▲ "  # non-zero problems stand out by a marker, not only by colour


def value_markup(line: Line) -> str:
    text = escape(line.text)
    if line.stale:  # kept from the last poll while the database is down (the subtitle says so)
        mark = MARKER if line.level else ""
        return f"[$text-muted]{mark}{text}[/]"
    if line.level == BAD:
        return f"[bold $text-error]{MARKER}{text}[/]"
    if line.level == WARN:
        return f"[bold $text-warning]{MARKER}{text}[/]"
    if line.quiet:
        return f"[$text-muted]{text}[/]"
    return f"[bold]{text}[/]"


def _safe_id(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", key)


class MetricRow(Horizontal):
    """label · value · trend; updated in place."""

    def __init__(self, line: Line, with_spark: bool) -> None:
        super().__init__(classes="metric-row" + (" -sub" if line.sub else ""))
        self.key = line.key
        self.line: Line | None = None
        self._first = line
        self._in_spark_pane = with_spark
        self._with_spark = with_spark and line.series is not None
        self._ready = False

    def compose(self) -> ComposeResult:
        label = ("· " if self._first.sub else "") + self._first.label
        yield Static(label, classes="label", markup=False)
        yield Static(classes="value")
        if self._with_spark:
            yield Trend()
        elif self._in_spark_pane:
            yield Static(classes="spark-pad")  # keeps values aligned with the rows above

    def on_mount(self) -> None:
        self._ready = True
        self.set(self._first)

    @property
    def value_text(self) -> str:
        return self.line.text if self.line else ""

    def set(self, line: Line) -> None:
        if not self._ready:  # not composed yet: on_mount applies the newest line
            self._first = line
            return
        if line != self.line:
            old = self.line
            self.line = line
            if old is None or (old.text, old.level, old.quiet, old.stale) != (
                    line.text, line.level, line.quiet, line.stale):
                self.query_one(".value", Static).update(value_markup(line))
                self.set_class(line.level == BAD, "-bad")
                self.set_class(line.level == WARN, "-warn")
            if old is None or old.note != line.note:
                self.tooltip = f"{line.label}: no source: {line.note}" if line.note else None
            if self._with_spark and (old is None or old.series != line.series):
                self.query_one(Trend).data = tuple(line.series or ())


class MetricPane(Vertical, can_focus=True):
    """One window (current / last minute / last 10 minutes / all time)."""

    BINDINGS = [
        Binding("left", "app.focus_neighbour('left')", "Pane left", show=False),
        Binding("right", "app.focus_neighbour('right')", "Pane right", show=False),
        Binding("up", "app.focus_neighbour('up')", "Pane up", show=False),
        Binding("down", "app.focus_neighbour('down')", "Pane down", show=False),
    ]

    def __init__(self, spec: PaneSpec) -> None:
        super().__init__(id=spec.id, classes="metric-pane" + (" -spark" if spec.sparklines
                                                                  else ""))
        self.spec = spec
        self.border_title = spec.title
        self._keys: tuple[str, ...] = ()

    def show(self, view: MetricsView) -> None:
        self.border_subtitle = subtitle(self.spec.window, view)
        self.set_class(self.spec.window == "current" and not view.db_up, "-stale")
        lines = self.spec.build(view)
        keys = tuple(line.key for line in lines)
        if keys != self._keys:
            # Rows change only when a new exchange appears: rebuild then, update in place always.
            self._keys = keys
            self.remove_children()
            self.mount_all(MetricRow(line, self.spec.sparklines) for line in lines)
            return
        for row, line in zip(self.query_children(MetricRow), lines):
            row.set(line)

    def row(self, key: str) -> MetricRow:
        for row in self.query_children(MetricRow):
            if row.key == key:
                return row
        raise KeyError(key)

    def values(self) -> dict[str, str]:
        """key -> shown text (for tests and the help screen's self-check)."""
        return {row.key: row.value_text for row in self.query_children(MetricRow)}
