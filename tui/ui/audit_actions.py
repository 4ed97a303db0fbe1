"""The audit workflow's keys on the app: the hourly note (`n`), export (`e`), `q`'s prompt.

A mixin of :class:`tui.ui.app.BotmonApp`, kept apart so that app.py stays wiring. It uses the
app's ``monitor``, ``header_state``, ``_paint_header`` and ``request_stop``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from tui.ui.export import QuitPrompt, export_report, progress_text
from tui.ui.note_screen import NoteScreen, reminder

if TYPE_CHECKING:
    from tui.monitor import Monitor
    from tui.ui.header import HeaderState

log = logging.getLogger(__name__)


class AuditActions:
    monitor: Monitor
    header_state: HeaderState
    finished_by: str | None

    def _init_audit(self) -> None:
        self.export_options: dict = {}  # to build_audit_report (use_db, use_logs)
        self.export_paths: tuple[Path, Path] | None = None  # the last export (Markdown, JSON)
        self._exporting = False
        self._quit_after_export = False

    # -- n: the hourly note ------------------------------------------------------------------
    def _check_notes(self) -> None:
        try:
            missing = self.monitor.missing_notes()
        except Exception:  # noqa: BLE001 - a reminder is never worth a crash
            log.exception("checking the hourly notes failed")
            missing = []
        self.header_state.reminder = reminder(missing)

    def action_note(self) -> None:
        if isinstance(self.screen, NoteScreen) or self.monitor.store is None:
            return
        try:
            note = self.monitor.hour_note()
        except Exception as exc:  # noqa: BLE001 - shown to the operator, logged
            log.exception("hourly note failed")
            self.notify(f"{type(exc).__name__}: {exc}", title="Note", severity="error")
            return
        self.push_screen(NoteScreen(note, self.monitor.save_note), self._note_saved)

    def _note_saved(self, path: Path | None) -> None:
        if path is None:
            return
        self.notify(str(path), title="Note saved")
        self._check_notes()
        self._paint_header()

    # -- e: export; q: export first? ---------------------------------------------------------
    def action_export(self) -> None:
        if self._exporting:
            self.notify("The audit report is being exported…", timeout=3)
            return
        self._exporting = True
        self.header_state.progress = progress_text("starting", 0.0)
        self._paint_header()
        self.run_worker(self._export(), name="export", group="export", exit_on_error=False)

    def _export_progress(self, step: str, fraction: float) -> None:
        if self._exporting and self.is_running:
            self.header_state.progress = progress_text(step, fraction)
            self._paint_header()

    async def _export(self) -> None:
        try:
            self.export_paths = await export_report(self, self.monitor, self._export_progress,
                                                    **self.export_options)
        except Exception as exc:  # noqa: BLE001 - shown to the operator, logged
            log.exception("audit report export failed")
            self.notify(f"{type(exc).__name__}: {exc}"
                        + (" · q then n quits without it" if self._quit_after_export else ""),
                        title="Export failed", severity="error", timeout=15)
            self._quit_after_export = False  # stay: the operator decides
            return
        finally:
            self._exporting = False
            self.header_state.progress = ""
            if self.is_running:  # not when the app ended (a signal) during the export
                self._paint_header()
        log.info("audit report exported: %s", self.export_paths[0])
        self.notify(str(self.export_paths[0]), title="Audit report exported")
        if self._quit_after_export:
            self.request_stop("quit")

    async def action_quit(self) -> None:
        """`q`: offer the export first (enter = yes), then the final report and exit."""
        if self.finished_by is not None or self._quit_after_export:
            self.notify("Quitting after the export and the final report…", timeout=3)
            return
        if isinstance(self.screen, QuitPrompt):
            return
        self.push_screen(QuitPrompt(), self._quit_answered)

    def _quit_answered(self, export_first: bool | None) -> None:
        if export_first is None:  # escape: keep running
            return
        if not export_first:
            self.request_stop("quit")
            return
        self._quit_after_export = True
        if not self._exporting:  # else the running export quits when it is done
            self.action_export()
