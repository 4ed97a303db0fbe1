"""The `n` screen: the current audit hour's note (tui.outputs.notes.HourNote).

The hour's figures and alerts are read-only (Markdown); anomalies and free notes are two text
areas pre-filled with what was saved before. ctrl+s saves (on the recorder, which rewrites the
file atomically off the event loop) and closes with the path. escape closes without saving but
never throws typed text away: it closes with a :class:`Draft` that the app keeps and offers the
next time the hour's note is opened. A save that fails keeps the screen open.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class Draft:
    """What was typed into an hour's note and not saved."""

    anomalies: str
    notes: str


class NoteScreen(ModalScreen["Path | Draft | None"]):
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="note.save", priority=True),
        Binding("escape", "cancel", "Cancel", id="note.cancel", priority=True),
    ]

    def __init__(self, note: Any, save: Callable[[Any], Awaitable[Path | str]],
                 draft: Draft | None = None) -> None:
        super().__init__(id="note-screen")
        self.note = note
        self._save = save
        self.draft = draft
        self.saving = False

    def compose(self) -> ComposeResult:
        with Vertical(id="note-body") as body:
            body.border_title = self.note.hour.title()
            body.border_subtitle = "ctrl+s saves · escape closes (a draft is kept)"
            with VerticalScroll(id="note-figures"):
                yield Markdown(figures_markdown(self.note))
            draft = self.draft
            yield Label("Anomalies", classes="note-label")
            yield TextArea(draft.anomalies if draft else self.note.anomalies,
                           id="note-anomalies", soft_wrap=True)
            yield Label("Notes", classes="note-label")
            yield TextArea(draft.notes if draft else self.note.notes, id="note-notes",
                           soft_wrap=True)
            yield Static("[$text-warning]▲ unsaved draft restored: ctrl+s saves it[/]"
                         if draft else "", id="note-status")

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

    def typed(self) -> Draft:
        return Draft(self.query_one("#note-anomalies", TextArea).text,
                     self.query_one("#note-notes", TextArea).text)

    def action_cancel(self) -> None:
        """Close without saving; typed text that differs from the saved note is a draft."""
        if self.saving:
            return
        typed = self.typed()
        unchanged = (typed.anomalies, typed.notes) == (self.note.anomalies, self.note.notes)
        self.dismiss(None if unchanged else typed)
