"""The `?` screen: keys in effect (after any keymap) and how to read the panes."""

from __future__ import annotations

from typing import Mapping

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
• Each metric pane's bottom border says what it covers, in local time. [b]Current state[/b]:
  the latest poll's gauges. [b]Last minute[/b]: the last complete minute ("may grow" for the
  first seconds after it: the bot inserts its events in batches). [b]Last 10 minutes[/b]
  and [b]All time[/b] (since the run start): totals, and average / maximum for the gauges.
  At the start botmon reads the minutes just before the run, so early on Last 10 minutes can
  be larger than All time: its border says how many minutes lie before the run.
• Trends: one column per minute (up to 60), oldest left; [b]·[/b] is a minute without data
  (before the run, or a gap), [b]▁[/b] a real zero. Bars are scaled from zero.
• While the database is down the gauges keep the last poll's values, greyed, and the border
  says from when (▲ last poll, before hh:mm:ss); the positions table says the same.
• Problem counters at zero are dim; non-zero ones are marked [b]▲[/b] (red: act now, yellow: look).
• [b]—[/b] is a figure this bot gives no source for (never a confident 0): the list below,
  and the row's tooltip, say why.
• [b]Alerts[/b]: enter on an alert shows its runbook and the affected items (which symbols,
  for how long); [b]a[/b] acknowledges it.
• [b]Positions[/b]: open positions; ▲ marks aged rows and missing stop-losses ("new": a fresh
  position still within the stop-loss grace, not yet counted as without SL).
  [b]o[/b] cycles the sort, [b]r[/b] reverses it (or click a column header).
• [b]Events[/b]: the bot's notable events, newest first (price ticks left out); ✖ errors.
• [b]Bot log[/b] (when a log is followed): its latest lines, errors ✖ and warnings ▲;
  [b]l[/b] cycles ALL / WARNING+ / ERROR+. Counters from both sources say (db) or (log).
• [b]n[/b]: this audit hour's note (figures and alerts filled in); ctrl+s saves; escape closes
  and keeps what you typed as a draft for the next [b]n[/b]. The header reminds quietly of an
  hour that ended without a note.
• [b]p[/b] freezes the display only: polling, snapshots and alerts continue.
• [b]e[/b] exports the audit report (Markdown and JSON) in the background; the header shows
  its progress and a toast its path.
• [b]q[/b] (or ctrl+c, ctrl+q) asks whether to export the audit report (enter: yes, n: no,
  escape: stay), closes the run (final report, exact recount), exports from it, and exits.
  At the planned end the run closes by itself, the same offer appears, and the final state
  stays on screen until a key.
"""


def sources_text(unavailable: Mapping[str, str]) -> str:
    if not unavailable:
        return "[b]Figures without a source[/b]: none, every figure has one."
    lines = ["[b]Figures without a source[/b] (shown —)"]
    lines += [f"  [b]{escape(name)}[/b]: {escape(reason)}"
              for name, reason in sorted(unavailable.items())]
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("question_mark", "dismiss", "Close", show=False, id="help.close2"),
    ]

    def __init__(self, keys: list[tuple[str, str]],
                 unavailable: Mapping[str, str] | None = None) -> None:
        super().__init__(id="help-screen")
        self.keys = keys
        self.unavailable = dict(unavailable or {})

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
            yield Static(sources_text(self.unavailable), id="help-sources")
