"""The end of a run on screen: `q`'s prompt, the same offer at the planned end, the final state.

The audit report itself is built on the recorder (tui/recorder.py, action ``export``): in a
thread, from the final report once the run is closed.
"""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Static

QUESTION = "Export the audit report before quitting? [Y/n]"
QUESTION_AT_END = "The run reached its planned end. Export the audit report? [Y/n]"


def progress_text(step: str, fraction: float) -> str:
    return f"exporting the audit report: {step} {fraction:.0%}"


def _drafts_line(drafts: list[int]) -> str:
    if not drafts:
        return ""
    hours = ", ".join(str(n) for n in drafts)
    return (f"[$text-warning]▲ unsaved note draft (hour {hours}): escape, then n and ctrl+s "
            f"keep it[/]")


class QuitPrompt(ModalScreen[bool | None]):
    """`q`: export first? enter or y = yes (the default), n = no, escape = keep running.

    At the planned end (``at_end``) the run is already closed: escape means no.
    """

    BINDINGS = [
        Binding("enter", "answer(True)", "Yes, export", id="quit.yes"),
        Binding("y", "answer(True)", "Yes", show=False, id="quit.y"),
        Binding("n", "answer(False)", "No", id="quit.no"),
        Binding("escape", "answer(None)", "Keep running", id="quit.cancel"),
    ]

    def __init__(self, *, at_end: bool = False, drafts: list[int] | None = None) -> None:
        super().__init__(id="quit-prompt")
        self.at_end = at_end
        self.drafts = drafts or []

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-body") as body:
            body.border_title = "Run finished" if self.at_end else "Quit"
            body.border_subtitle = ("enter: yes · n: no" if self.at_end
                                    else "enter: yes · n: no · escape: keep running")
            yield Static(QUESTION_AT_END if self.at_end else QUESTION, id="quit-question")
            yield Static("[$text-muted]The final report is written"
                         + (" (exact recount)." if self.at_end else
                            " first either way; the export is built from it.") + "[/]")
            if self.drafts and not self.at_end:
                yield Static(_drafts_line(self.drafts), id="quit-drafts")

    def action_answer(self, answer: bool | None) -> None:
        if answer is None and self.at_end:
            answer = False
        self.dismiss(answer)


class FinishedScreen(ModalScreen[None]):
    """The run is closed: the final state stays on screen behind this box until a key."""

    def __init__(self, finished_by: str, report: Path | None, report_error: str | None,
                 export: tuple[Path, Path] | None, export_error: str | None) -> None:
        super().__init__(id="finished-screen")
        self.finished_by = finished_by
        self.report = report
        self.report_error = report_error
        self.export = export
        self.export_error = export_error

    def compose(self) -> ComposeResult:
        how = "planned end reached" if self.finished_by == "duration" else self.finished_by
        lines = []
        if self.report is not None:
            lines.append(f"final report  {escape(str(self.report))}")
        else:
            lines.append(f"[$text-error]▲ final report not written: "
                         f"{escape(self.report_error or '?')}[/]")
        if self.export is not None:
            lines.append(f"audit report  {escape(str(self.export[0]))}")
        elif self.export_error:
            lines.append(f"[$text-error]▲ audit report failed: {escape(self.export_error)}[/]"
                         "\n[$text-muted]botmon report RUN_DIR builds it again[/]")
        else:
            lines.append("[$text-muted]audit report: not exported (botmon report RUN_DIR "
                         "builds it)[/]")
        with Vertical(id="finished-body") as body:
            body.border_title = f"Run finished: {escape(how)}"
            body.border_subtitle = "any key exits"
            yield Static("\n".join(lines), id="finished-text")

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        self.dismiss(None)
