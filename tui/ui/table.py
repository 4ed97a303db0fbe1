"""A DataTable keyed by row, updated in place: changed cells only, selection kept.

Clearing and re-adding rows every tick flickers, loses the selection and re-lays out the whole
table (textual#5273). Here rows are keyed (position id, event id, alert key); a frame adds the
new keys, removes the gone ones, updates the cells that changed and re-sorts only when the
order changed.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable


class Cell:
    """A table cell: what it shows (Rich text) and how it sorts."""

    __slots__ = ("text", "sort_key")

    def __init__(self, text: str | Text, sort_key: Any = None) -> None:
        self.text = text if isinstance(text, Text) else Text(text, no_wrap=True)
        self.sort_key = self.text.plain if sort_key is None else sort_key

    def __rich__(self) -> Text:
        return self.text

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Cell) and self.sort_key == other.sort_key
                and self.text == other.text)

    def __hash__(self) -> int:  # pragma: no cover - cells are compared, not hashed
        return hash((self.text.plain, self.sort_key))

    def __repr__(self) -> str:
        return f"Cell({self.text.plain!r})"


class Palette:
    """Rich styles from the current theme (table cells are Rich text, not Textual markup)."""

    def __init__(self, variables: dict[str, str]) -> None:
        def colour(name: str, fallback: str) -> str:
            value = variables.get(name, fallback)
            return value if value.startswith("#") else fallback

        self.bad = Style(color=colour("text-error", "red"), bold=True)
        self.warn = Style(color=colour("text-warning", "yellow"), bold=True)
        self.good = Style(color=colour("text-success", "green"))
        self.loss = Style(color=colour("text-error", "red"))
        self.muted = Style(dim=True)
        self.plain = Style()


Row = tuple[str, tuple[Cell, ...]]


class KeyedTable(DataTable):
    """Subclasses declare COLUMNS (key, label) and call :meth:`sync` with rows in order.

    WIDTHS caps columns whose content can be long (event types, statuses): a cell wider than
    its column is cut with an ellipsis instead of pushing the last columns off the table.
    """

    COLUMNS: tuple[tuple[str, str], ...] = ()
    WIDTHS: dict[str, int] = {}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cursor_type", "row")
        kwargs.setdefault("zebra_stripes", False)
        super().__init__(**kwargs)
        self._cells: dict[str, tuple[Cell, ...]] = {}
        self._order: list[str] = []
        self._palette: Palette | None = None

    def on_mount(self) -> None:
        for key, label in self.COLUMNS:
            self.add_column(label, key=key, width=self.WIDTHS.get(key))
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    @property
    def palette(self) -> Palette:
        if self._palette is None:
            self._palette = Palette(self.app.get_css_variables())
        return self._palette

    def _theme_changed(self, _theme: object) -> None:
        self._palette = None
        self.restyle()

    def restyle(self) -> None:
        """Rebuild every cell with the new theme's colours (subclasses re-sync)."""

    # -- rows ---------------------------------------------------------------------------------
    @property
    def keys(self) -> list[str]:
        """Row keys in display order."""
        return [row.key.value for row in self.ordered_rows]

    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        rows = self.ordered_rows
        return rows[min(self.cursor_row, len(rows) - 1)].key.value

    def cells(self, key: str) -> tuple[Cell, ...]:
        return self._cells[key]

    def sync(self, rows: Sequence[Row], sort_key: Callable[[tuple[Cell, ...]], Any],
             *, reverse: bool = False, follow_top: bool = False) -> None:
        """Make the table show ``rows``; order by ``sort_key`` of each row's cells.

        The selected row stays selected by key; with ``follow_top`` a cursor on the first row
        stays on the first row (the newest event, like ``tail -f``).
        """
        selected = self.selected_key()
        at_top = self.cursor_row == 0
        wanted = dict(rows)
        columns = [key for key, _ in self.COLUMNS]
        changed = False
        for key in [k for k in self._cells if k not in wanted]:
            self.remove_row(key)
            del self._cells[key]
            changed = True
        for key, cells in rows:
            old = self._cells.get(key)
            if old is None:
                self.add_row(*cells, key=key)
                changed = True
            elif old != cells:
                for column, before, after in zip(columns, old, cells):
                    if before != after:
                        self.update_cell(key, column, after, update_width=True)
                        changed = True
            self._cells[key] = cells
        if not changed:
            return
        order = sorted(wanted, key=lambda k: sort_key(wanted[k]), reverse=reverse)
        if order != self.keys:
            self.sort(key=sort_key, reverse=reverse)
        if follow_top and at_top:
            target = 0
        elif selected in wanted:
            target = self.get_row_index(selected)
        else:
            target = min(self.cursor_row, max(0, self.row_count - 1))
        if self.row_count and target != self.cursor_row:
            self.move_cursor(row=target, animate=False)

    def reset(self) -> None:
        self.clear()
        self._cells.clear()
