"""The bot's notable events (the store leaves out the price-tick flood), newest first."""

from __future__ import annotations

from typing import Any, Callable

from rich.text import Text

from tui.sources.samples import EventRow
from tui.ui import format as fmt
from tui.ui.table import Cell, KeyedTable, Palette

ERROR_SEVERITIES = ("ERROR", "CRITICAL")


def event_cells(event: EventRow, is_error: bool, palette: Palette) -> tuple[Cell, ...]:
    severity = (event.severity or "").upper()
    if is_error or severity in ERROR_SEVERITIES:
        style, mark = palette.bad, "✖ "
    elif severity == "WARNING":
        style, mark = palette.warn, "▲ "
    else:
        style, mark = palette.plain, ""
    return (
        Cell(fmt.clock(event.created_at), sort_key=(event.created_at, event.id)),
        Cell(Text(mark + event.event_type, style=style)),
        Cell(event.symbol or ""),
        Cell(event.exchange or ""),
        Cell(Text(severity or "–", style=style if mark else palette.muted)),
    )


def _newest_first(cells: tuple[Cell, ...]) -> Any:
    return cells[0].sort_key


class EventStream(KeyedTable):
    """Rows keyed by event id; bounded by the store's stream cap (200)."""

    COLUMNS = (("time", "Time"), ("type", "Event"), ("symbol", "Symbol"),
               ("exchange", "Exch"), ("severity", "Severity"))
    # Fits 80 columns: "missing_position_added_with_synthetic_id" (40) ends in "…", so Exch and
    # Severity stay on screen.
    WIDTHS = {"type": 28, "symbol": 12, "exchange": 8}

    def __init__(self, is_error: Callable[[str, str | None], bool] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.is_error = is_error or (lambda _type, _severity: False)
        self._events: tuple[EventRow, ...] = ()

    def show(self, events: tuple[EventRow, ...]) -> None:
        if events == self._events:
            return
        self._events = events
        palette = self.palette
        rows = [(str(e.id), event_cells(e, self.is_error(e.event_type, e.severity), palette))
                for e in events]
        self.sync(rows, _newest_first, reverse=True, follow_top=True)
        self.border_subtitle = f"{len(rows)} shown · newest first"

    def restyle(self) -> None:
        events, self._events = self._events, ()
        self.reset()
        self.show(events)
