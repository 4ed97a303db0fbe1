"""Exporting the audit report from the app (`e`, and `q`'s prompt).

:func:`export_report` builds it with :func:`tui.outputs.audit_report.build_audit_report` in a
thread (it reads the run directory, analyses the log and queries the database: seconds to
minutes), so the app keeps answering; the report's progress callback runs in that thread and is
handed to the app's loop with ``call_from_thread``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Callable

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.monitor import Monitor

QUESTION = "Export the audit report before quitting? [Y/n]"


def progress_text(step: str, fraction: float) -> str:
    return f"exporting the audit report: {step} {fraction:.0%}"


async def export_report(app: App, monitor: Monitor, on_progress: Callable[[str, float], None],
                        **options: Any) -> tuple[Path, Path]:
    """Markdown and JSON paths of a fresh audit report of the running monitor.

    ``options`` go to ``build_audit_report`` (``use_db``, ``use_logs``: tests skip the slow
    parts). The live totals are read on the loop; only the building runs in the thread.
    """
    from tui.outputs.audit_report import build_audit_report

    report = monitor.live_report()

    def progress(step: str, fraction: float) -> None:  # in the worker thread
        if not app.is_running:  # the app ended (a signal) while the export goes on
            return
        try:
            app.call_from_thread(on_progress, step, fraction)
        except Exception:  # noqa: BLE001 - a progress line is never worth the export
            pass

    return await asyncio.to_thread(build_audit_report, monitor.run_dir.path, monitor.config,
                                   report=report, progress=progress, **options)


class QuitPrompt(ModalScreen[bool | None]):
    """`q`: export first? enter or y = yes (the default), n = no, escape = keep running."""

    BINDINGS = [
        Binding("enter", "answer(True)", "Yes, export", id="quit.yes"),
        Binding("y", "answer(True)", "Yes", show=False, id="quit.y"),
        Binding("n", "answer(False)", "No, just quit", id="quit.no"),
        Binding("escape", "answer(None)", "Keep running", id="quit.cancel"),
    ]

    def __init__(self) -> None:
        super().__init__(id="quit-prompt")

    def compose(self) -> ComposeResult:
        with Vertical(id="quit-body") as body:
            body.border_title = "Quit"
            body.border_subtitle = "enter: yes · n: no · escape: keep running"
            yield Static(QUESTION, id="quit-question")
            yield Static("[$text-muted]The final report is written either way.[/]")

    def action_answer(self, answer: bool | None) -> None:
        self.dismiss(answer)
