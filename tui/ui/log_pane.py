"""The bot's log: the latest lines of ``view.log_tail``, coloured by level, appended in place.

The store keeps the tail bounded (500 records); this pane keeps at most ``MAX_LINES`` lines and
only writes the records it has not shown yet, so a frame never redraws the whole log. ``l``
cycles the level filter (all / warnings and worse / errors and worse), and a change of width
re-lays out the lines already drawn (a RichLog keeps them at the width they were drawn at):
both rewrite it.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import RichLog

from tui.sources.samples import LogEntry
from tui.ui import format as fmt

MAX_LINES = 300
LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "WARN": 30, "ERROR": 40, "CRITICAL": 50,
          "FATAL": 50}
FILTERS = (("ALL", 0), ("WARNING+", 30), ("ERROR+", 40))


def level_no(level: str) -> int:
    return LEVELS.get((level or "").upper(), 20)


def entry_key(entry: LogEntry) -> tuple[str, int]:
    return (entry.source, entry.line)


def entry_text(entry: LogEntry) -> Text:
    """One record: time, level, logger, message; errors reversed so they stand out."""
    number = level_no(entry.level)
    if number >= 40:
        style, mark = "bold red", "✖ "
    elif number >= 30:
        style, mark = "yellow", "▲ "
    elif number <= 10:
        style, mark = "dim", ""
    else:
        style, mark = "", ""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(fmt.clock(entry.at) + " ", style="dim")
    text.append(mark or "  ")
    text.append(f"{(entry.level or '?').upper():<8}", style=(
        "bold reverse red" if number >= 40 else style))
    text.append(f" {entry.logger}: ", style="dim")
    text.append(entry.message, style=style)
    if entry.traceback:
        text.append(f"  ({entry.traceback[-1].strip()})", style="red" if number >= 40 else "dim")
    return text


class LogPane(Vertical):
    """Hidden while no log is followed; the coloured tail otherwise."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = "Bot log"
        self.filter_index = 0
        self._entries: tuple[LogEntry, ...] | None = None
        self._last_key: tuple[str, int] | None = None  # the newest record written
        self.written = 0  # lines written since the last rewrite (tests, subtitle)
        self._width = 0

    def compose(self) -> ComposeResult:
        yield RichLog(max_lines=MAX_LINES, wrap=False, markup=False, auto_scroll=True,
                      id="log-lines")

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._width:
            first = not self._width
            self._width = event.size.width
            if not first and self._entries:
                self._rewrite()

    @property
    def min_level(self) -> int:
        return FILTERS[self.filter_index][1]

    def _keep(self, entry: LogEntry) -> bool:
        return level_no(entry.level) >= self.min_level

    def show(self, entries: tuple[LogEntry, ...] | None) -> None:
        if entries is self._entries or entries == self._entries:
            return
        self._entries = entries
        self.set_class(entries is not None, "-followed")
        if entries is None:
            return
        new = self._new_since_last(entries)
        if new is None:  # the last written record left the tail: start over
            self._rewrite()
            return
        self._write(new)

    def _new_since_last(self, entries: tuple[LogEntry, ...]) -> tuple[LogEntry, ...] | None:
        if self._last_key is None:
            return entries
        for index in range(len(entries) - 1, -1, -1):
            if entry_key(entries[index]) == self._last_key:
                return entries[index + 1:]
        return None

    def _write(self, entries: tuple[LogEntry, ...]) -> None:
        lines = self.query_one(RichLog)
        for entry in entries:
            if self._keep(entry):
                lines.write(entry_text(entry), expand=True)  # the pane's width, not 80
                self.written += 1
        if entries:
            self._last_key = entry_key(entries[-1])
        self._subtitle()

    def _rewrite(self) -> None:
        self.query_one(RichLog).clear()
        self.written = 0
        self._last_key = None
        self._write(self._entries or ())

    def _subtitle(self) -> None:
        total = len(self._entries or ())
        self.border_subtitle = f"{FILTERS[self.filter_index][0]} · l filter · {total} in tail"

    def cycle_filter(self) -> str:
        """The `l` key (bound on the app, so it works from any pane)."""
        self.filter_index = (self.filter_index + 1) % len(FILTERS)
        self._rewrite()
        return FILTERS[self.filter_index][0]

    @property
    def lines(self) -> list[str]:
        """The plain text of the lines on screen (tests)."""
        return [strip.text for strip in self.query_one(RichLog).lines]
