"""The `n` screen: the current audit hour's note (tui.outputs.notes.HourNote).

The hour's figures and alerts are read-only (Markdown); anomalies and free notes are two text
areas pre-filled with what was saved before. ctrl+s saves in a worker (the file is rewritten
atomically off the event loop) and closes with the path; escape closes without saving. A save
that fails keeps the screen open, so nothing typed is lost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Awaitable, Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Markdown, Static, TextArea


def figures_markdown(note: Any) -> str:
    lines = list(note.figures) + [""]
    if note.alerts:
        lines.append("**Alerts this hour:**")
        lines.append("")
        lines += [f"- {alert}" for alert in note.alerts]
    else:
        lines.append("**Alerts this hour:** none")
    return "\n".join(lines)


def reminder(missing: list[int] | tuple[int, ...]) -> str:
    """The header's quiet line for audit hours that ended without a note."""
    if not missing:
        return ""
    if len(missing) == 1:
        return f"note for hour {missing[0]} missing — n"
    hours = ", ".join(str(n) for n in missing[:-1]) + f" and {missing[-1]}"
    return f"notes for hours {hours} missing — n"


class NoteScreen(ModalScreen[Path | None]):
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="note.save", priority=True),
        Binding("escape", "cancel", "Cancel", id="note.cancel", priority=True),
    ]

    def __init__(self, note: Any, save: Callable[[Any], Awaitable[Path]]) -> None:
        super().__init__(id="note-screen")
        self.note = note
        self._save = save
        self.saving = False

    def compose(self) -> ComposeResult:
        with Vertical(id="note-body") as body:
            body.border_title = self.note.hour.title()
            body.border_subtitle = "ctrl+s saves · escape cancels"
            with VerticalScroll(id="note-figures"):
                yield Markdown(figures_markdown(self.note))
            yield Label("Anomalies", classes="note-label")
            yield TextArea(self.note.anomalies, id="note-anomalies", soft_wrap=True)
            yield Label("Notes", classes="note-label")
            yield TextArea(self.note.notes, id="note-notes", soft_wrap=True)
            yield Static("", id="note-status")

    def on_mount(self) -> None:
        self.query_one("#note-anomalies", TextArea).focus()

    def action_save(self) -> None:
        if self.saving:
            return
        self.saving = True
        self.note.anomalies = self.query_one("#note-anomalies", TextArea).text
        self.note.notes = self.query_one("#note-notes", TextArea).text
        self.query_one("#note-status", Static).update("[$text-muted]saving…[/]")
        self.run_worker(self._write(), group="note", exit_on_error=False)

    async def _write(self) -> None:
        try:
            path = await self._save(self.note)
        except Exception as exc:  # noqa: BLE001 - shown; the screen stays open
            self.saving = False
            self.query_one("#note-status", Static).update("")
            self.app.notify(f"{type(exc).__name__}: {exc}", title="Note not saved",
                            severity="error")
            return
        self.dismiss(path)

    def action_cancel(self) -> None:
        if not self.saving:
            self.dismiss(None)
