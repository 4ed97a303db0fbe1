"""The audit workflow's keys on the app: the hourly note (`n`), export (`e`), `q`, the run's end.

A mixin of :class:`tui.ui.app.BotmonApp`, kept apart so that app.py stays wiring. It uses the
app's ``recorder``, ``header_state``, ``_paint_header``, ``request_stop`` and ``_close_run``.

The order at the end is the audit's: the run is closed first (final recount, ``finished_by``,
the last minute written), then the audit report is built from that final report, so the report
exported on the way out is the final one and never invents a gap for the minute in progress.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from tui.ui.export import FinishedScreen, QuitPrompt, progress_text
from tui.ui.note_screen import Draft, NoteScreen, reminder

if TYPE_CHECKING:
    from tui.recorder import Recorder
    from tui.ui.header import HeaderState

log = logging.getLogger(__name__)


class AuditActions:
    recorder: Recorder
    header_state: HeaderState
    finished_by: str | None
    report_path: Path | None
    report_error: str | None

    def _init_audit(self) -> None:
        self.export_options: dict = {}  # to build_audit_report (use_db, use_logs)
        self.export_paths: tuple[Path, Path] | None = None  # the last export (Markdown, JSON)
        self.export_error: str | None = None
        self.drafts: dict[int, Draft] = {}  # audit hour -> a note closed without saving
        self._exporting = False

    # -- n: the hourly note ------------------------------------------------------------------
    def _check_notes(self) -> None:
        self.run_worker(self._notes_reminder(), group="notes", exclusive=True,
                        exit_on_error=False)

    async def _notes_reminder(self) -> None:
        try:
            missing = await self.recorder.request("missing_notes")
        except Exception:  # noqa: BLE001 - a reminder is never worth a crash
            log.exception("checking the hourly notes failed")
            missing = []
        self.header_state.reminder = reminder(missing)
        self._paint_header()

    def action_note(self) -> None:
        if isinstance(self.screen, NoteScreen) or self.finished_by is not None:
            return
        self.run_worker(self._open_note(), group="note", exclusive=True, exit_on_error=False)

    async def _open_note(self) -> None:
        try:
            note = await self.recorder.request("hour_note")
        except Exception as exc:  # noqa: BLE001 - shown to the operator, logged
            log.exception("hourly note failed")
            self.notify(f"{type(exc).__name__}: {exc}", title="Note", severity="error")
            return
        if isinstance(self.screen, NoteScreen):
            return
        number = note.hour.number

        def save(note):
            return self.recorder.request("save_note", note=note)

        def closed(result: Path | Draft | None) -> None:
            self._note_closed(number, result)

        self.push_screen(NoteScreen(note, save, draft=self.drafts.get(number)), closed)

    def _note_closed(self, number: int, result: Path | Draft | None) -> None:
        if isinstance(result, Draft):  # escape with typed text: kept, not thrown away
            self.drafts[number] = result
            self.notify("Draft kept (not saved): n reopens it, ctrl+s saves it",
                        title="Note", timeout=6)
            self._paint_header()
            return
        self.drafts.pop(number, None)
        if result is None:  # escape, nothing typed beyond what is saved
            return
        self.notify(str(result), title="Note saved")
        self._check_notes()
        self._paint_header()

    # -- e: export during the run ------------------------------------------------------------
    def action_export(self) -> None:
        if self._exporting:
            self.notify("The audit report is being exported…", timeout=3)
            return
        self.run_worker(self._export(), name="export", group="export", exit_on_error=False)

    def _export_progress(self, step: str, fraction: float) -> None:
        if self._exporting and self.is_running:
            self.header_state.progress = progress_text(step, fraction)
            self._paint_header()

    async def _export(self) -> bool:
        """Build the audit report on the recorder; True when it was written."""
        if self._exporting:
            return False
        self._exporting = True
        self.header_state.progress = progress_text("starting", 0.0)
        self._paint_header()
        try:
            md, js = await self.recorder.request("export", **self.export_options)
        except Exception as exc:  # noqa: BLE001 - shown to the operator, logged
            log.exception("audit report export failed")
            self.export_error = f"{type(exc).__name__}: {exc}"
            self.notify(self.export_error, title="Export failed", severity="error", timeout=15)
            return False
        finally:
            self._exporting = False
            self.header_state.progress = ""
            if self.is_running:  # not when the app ended (a signal) during the export
                self._paint_header()
        self.export_paths = (Path(md), Path(js))
        self.export_error = None
        log.info("audit report exported: %s", md)
        self.notify(md, title="Audit report exported")
        return True

    # -- q, and the planned end ----------------------------------------------------------------
    async def action_quit(self) -> None:
        """`q` (also ctrl+q and ctrl+c): offer the export (enter = yes), then close the run
        (the final report), export from it, and exit."""
        if self.finished_by is not None:
            if isinstance(self.screen, (FinishedScreen, QuitPrompt)):
                return
            if self.report_path is not None or self.report_error is not None:
                self.exit(self.finished_by)  # the run is closed: nothing left to do
                return
            self.notify("Quitting after the final report…", timeout=3)
            return
        if isinstance(self.screen, QuitPrompt):
            return
        self.push_screen(QuitPrompt(drafts=sorted(self.drafts)), self._quit_answered)

    def _quit_answered(self, export_first: bool | None) -> None:
        if export_first is None:  # escape: keep running
            return
        self.request_stop("quit", export=export_first)

    async def _export_after_close(self) -> bool:
        self.header_state.finishing = "run closed · exporting the audit report…"
        self._paint_header()
        return await self._export()

    def _offer_export_at_end(self) -> None:
        self.push_screen(QuitPrompt(at_end=True, drafts=sorted(self.drafts)),
                         self._end_answered)

    def _end_answered(self, export: bool | None) -> None:
        if export:
            self.run_worker(self._export_then_show(), group="export", exit_on_error=False)
        else:
            self._show_finished()

    async def _export_then_show(self) -> None:
        await self._export_after_close()
        self._show_finished()

    def _show_finished(self) -> None:
        """Keep the final state on screen; any key exits."""
        self.header_state.finishing = "run finished · any key exits"
        self._paint_header()
        if isinstance(self.screen, FinishedScreen):
            return
        self.push_screen(FinishedScreen(self.finished_by or "", self.report_path,
                                        self.report_error, self.export_paths,
                                        self.export_error),
                         lambda _: self.exit(self.finished_by))
