"""The `?` screen: keys in effect (after any keymap) and how to read the panes."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Static

READING = """\
[b]Reading the screen[/b]
• [b]Header[/b]: database status and poll latency, seconds since the bot's last event (and last
  log line when a log is tailed), run clock and directory, then every non-zero problem.
• [b]Current state[/b]: the latest poll's gauges. [b]Last minute[/b]: the last complete minute,
  with a 60-minute trend per counter. [b]Last 10 minutes[/b] and [b]All time[/b]: totals, and
  average / maximum for the gauges. Windows follow the database clock.
• Problem counters at zero are dim; non-zero ones are marked [b]▲[/b] (red: act now, yellow: look).
• [b]Positions[/b]: open positions; ▲ marks aged rows and missing stop-losses.
  [b]o[/b] cycles the sort, [b]r[/b] reverses it (or click a column header).
• [b]Events[/b]: the bot's notable events, newest first (price ticks left out); ✖ errors.
• [b]Bot log[/b] (when a log is followed): its latest lines, errors ✖ and warnings ▲;
  [b]l[/b] cycles ALL / WARNING+ / ERROR+. Counters from both sources say (db) or (log).
• [b]n[/b]: this audit hour's note (figures and alerts filled in); ctrl+s saves, escape cancels.
  The header reminds quietly of an hour that ended without one.
• [b]p[/b] freezes the display only: polling, snapshots and alerts continue.
• [b]e[/b] exports the audit report (Markdown and JSON) in the background; the header shows
  its progress and a toast its path.
• [b]q[/b] asks whether to export the audit report first (enter: yes, n: no, escape: stay),
  then writes the final report (exact recount) before it exits and prints where it is.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("question_mark", "dismiss", "Close", show=False, id="help.close2"),
    ]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__(id="help-screen")
        self.keys = keys

    def compose(self) -> ComposeResult:
        width = max((len(key) for key, _ in self.keys), default=4)
        lines = ["[b]Keys[/b]"]
        for key, description in self.keys:
            lines.append(f"  [b $accent]{escape(key).ljust(width)}[/]  {escape(description)}")
        with VerticalScroll(id="help-body") as body:
            body.border_title = "botmon help"
            body.border_subtitle = "escape or ? closes"
            yield Static("\n".join(lines), id="help-keys")
            yield Static(READING, id="help-reading")
