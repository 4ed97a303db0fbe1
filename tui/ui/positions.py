"""Open positions: symbol, exchange, side, age, PnL, stop-loss, trailing stop; sortable."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from rich.text import Text
from textual.binding import Binding
from textual.message import Message

from tui.sources.samples import OpenPosition
from tui.store.store import has_stop_loss
from tui.store.view import MetricsView
from tui.ui import format as fmt
from tui.ui.table import Cell, KeyedTable, Palette

MARK = "▲ "

# sort name -> (label, columns read by the key, reverse by default)
SORTS: dict[str, str] = {
    "risk": "risk (no SL, aged, oldest first)",
    "symbol": "symbol",
    "exchange": "exchange",
    "age": "age (oldest first)",
    "pnl": "PnL % (worst first)",
    "sl": "stop-loss (missing first)",
    "ts": "trailing stop",
}
_COLUMN_OF = {"symbol": 0, "exchange": 1, "age": 3, "pnl": 4, "sl": 5, "ts": 6}


# The SL column's order: missing past the grace first, then missing within it, then protected.
MISSING, NEW, PROTECTED = 0, 1, 2


def position_cells(position: OpenPosition, now: datetime, aged_after_s: float, rule: str,
                   palette: Palette, grace_s: float = 0.0) -> tuple[Cell, ...]:
    age_s = (now - position.opened_at).total_seconds() if position.opened_at else None
    aged = age_s is not None and age_s > aged_after_s
    protected = has_stop_loss(position, rule)
    symbol = Text(position.symbol or "?", style=palette.warn if aged else palette.plain)
    age_text = Text((MARK if aged else "") + fmt.age(age_s),
                    style=palette.warn if aged else palette.plain)
    pnl = position.pnl_percent
    pnl_style = palette.plain if not pnl else (palette.good if pnl > 0 else palette.loss)
    if protected:
        sl, rank = Text("✓", style=palette.good), PROTECTED
    elif age_s is not None and age_s < grace_s:
        # As the gauge counts it: a fresh position gets positions.unprotected_grace_s to have
        # its stop-loss recorded (the bot's protection sync runs every 120 s).
        sl, rank = Text("new", style=palette.muted), NEW
    else:
        sl, rank = Text(MARK + "no", style=palette.bad), MISSING
    ts = _trailing(position, palette)
    side = (position.side or "?").lower()
    return (
        Cell(symbol),
        Cell(position.exchange or "?"),
        Cell(side),
        # Oldest first by default: age in seconds, unknown ages last.
        Cell(age_text, sort_key=age_s if age_s is not None else -1.0),
        Cell(Text(fmt.signed(pnl), style=pnl_style),  # the header says %
             sort_key=pnl if pnl is not None else float("inf")),
        Cell(sl, sort_key=(rank, position.stop_loss_price or 0.0)),
        ts,
        Cell(Text(position.status or "?", style=palette.muted if position.status == "active"
                  else palette.warn)),
    )


def _trailing(position: OpenPosition, palette: Palette) -> Cell:
    state = position.ts_state
    if state is None:
        label = "–" if position.has_trailing_stop is not False else "off"
        return Cell(Text(label, style=palette.muted), sort_key=(0, label))
    if position.ts_activated or state == "active":
        return Cell(Text(f"{state} ✓", style=palette.good), sort_key=(2, state))
    if state == "triggered":
        return Cell(Text(state, style=palette.warn), sort_key=(3, state))
    return Cell(Text(state), sort_key=(1, state))


def sort_function(name: str) -> tuple[Callable[[tuple[Cell, ...]], Any], bool]:
    """(key over a row's cells, reverse) for a sort name."""
    if name == "risk":
        # Missing stop-loss first, then aged, then oldest; ties by symbol for a stable order.
        return (lambda c: (c[5].sort_key[0], -c[3].sort_key, c[0].sort_key)), False
    index = _COLUMN_OF[name]
    if name == "age":
        return (lambda c: (c[index].sort_key, c[0].sort_key)), True
    return (lambda c: (c[index].sort_key, c[0].sort_key)), False


class PositionsTable(KeyedTable):
    """Rows keyed by position id; `o` cycles the sort, `r` reverses it."""

    COLUMNS = (("symbol", "Symbol"), ("exchange", "Exch"), ("side", "Side"), ("age", "Age"),
               ("pnl", "PnL %"), ("sl", "SL"), ("ts", "Trailing"), ("status", "Status"))
    # Fits 80 columns with a scrollbar: longer values (a 20-character symbol, "pending_entry",
    # "triggered") end in "…".
    WIDTHS = {"symbol": 12, "exchange": 7, "ts": 8, "status": 10}
    BINDINGS = [
        Binding("o", "cycle_sort", "Sort", id="positions.sort"),
        Binding("r", "reverse_sort", "Reverse", id="positions.reverse"),
    ]

    class SortChanged(Message):
        def __init__(self, sort: str, reverse: bool) -> None:
            super().__init__()
            self.sort = sort
            self.reverse = reverse

    def __init__(self, stop_loss_rule: str = "flag", grace_s: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rule = stop_loss_rule
        self.grace_s = grace_s
        self.sort_name = "risk"
        self.sort_reversed = False
        self._view: MetricsView | None = None

    def show(self, view: MetricsView) -> None:
        self._view = view
        rows = [(str(p.id), position_cells(p, view.now, view.aged_after_s, self.rule,
                                           self.palette, self.grace_s))
                for p in view.positions]
        key, reverse = sort_function(self.sort_name)
        # A cursor left on the first row stays there: a position that sorts to the top (a new
        # one without a stop-loss) must be seen, not hidden above the viewport.
        self.sync(rows, key, reverse=reverse != self.sort_reversed, follow_top=True)
        self._subtitle()

    def restyle(self) -> None:
        self.reset()
        if self._view is not None:
            self.show(self._view)

    def set_sort(self, name: str, reverse: bool = False) -> None:
        if name not in SORTS:
            raise ValueError(name)
        self.sort_name, self.sort_reversed = name, reverse
        key, default_reverse = sort_function(name)
        if self.row_count:
            selected = self.selected_key()
            self.sort(key=key, reverse=default_reverse != reverse)
            if selected is not None:
                self.move_cursor(row=self.get_row_index(selected))
        self._subtitle()
        self.post_message(self.SortChanged(name, reverse))

    def action_cycle_sort(self) -> None:
        names = list(SORTS)
        self.set_sort(names[(names.index(self.sort_name) + 1) % len(names)])

    def action_reverse_sort(self) -> None:
        self.set_sort(self.sort_name, not self.sort_reversed)

    def on_data_table_header_selected(self, event: KeyedTable.HeaderSelected) -> None:
        name = event.column_key.value
        if name not in _COLUMN_OF:
            return
        event.stop()
        if name == self.sort_name:
            self.action_reverse_sort()
        else:
            self.set_sort(name)

    def _subtitle(self) -> None:
        arrow = " (reversed)" if self.sort_reversed else ""
        view = self._view
        stale = ""
        if view is not None and not view.db_up:  # the last poll's rows: say from when
            stale = f"▲ last poll, before {fmt.clock(view.db_down_since)} · "
        self.set_class(bool(stale), "-stale")
        self.border_subtitle = (f"{stale}{self.row_count} open · sort: {self.sort_name}{arrow}"
                                f" · o/r")
