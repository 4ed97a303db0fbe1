"""Pilot tests of the audit workflow keys: the hourly note (n), export (e), the quit prompt."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Markdown, TextArea

from tests.test_ui_support import FakeClock, make_monitor, static_text
from tui.recorder import Recorder
from tui.ui.app import BotmonApp
from tui.ui.export import QUESTION, QuitPrompt
from tui.ui.note_screen import NoteScreen, reminder


@pytest.fixture
async def monitor(bot_db, tmp_path):
    clock = FakeClock()
    found = make_monitor(bot_db, tmp_path, wall=clock)
    found.test_clock = clock
    view = await found.open()
    try:
        yield found, view
    finally:
        await found.close()


def with_toasts(app) -> list[str]:
    toasts: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (toasts.append(f"{kw.get('title')}: {message}"),
                                        notify(message, **kw))[1]
    return toasts


async def type_into(pilot, area: TextArea, text: str) -> None:
    area.clear()
    area.insert(text)
    await pilot.pause()


async def test_n_saves_the_hour_note_and_saving_again_replaces_it(monitor):
    monitor, view = monitor
    app = BotmonApp(Recorder.here(monitor), view, autostart=False)
    toasts = with_toasts(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, NoteScreen)
        note = screen.note
        assert screen.query_one("#note-body").border_title == note.hour.title()
        assert screen.query_one(Markdown)  # the figures, read-only
        await type_into(pilot, screen.query_one("#note-anomalies", TextArea), "first look")
        await type_into(pilot, screen.query_one("#note-notes", TextArea), "calm hour")
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, NoteScreen)
        path = monitor.run_dir.path / "hourly_observations.md"
        assert toasts == [f"Note saved: {path}"]
        text = path.read_text()
        assert "first look" in text and "calm hour" in text

        await pilot.press("n")  # pre-filled with what was saved
        await pilot.pause()
        screen = app.screen
        anomalies = screen.query_one("#note-anomalies", TextArea)
        assert anomalies.text == "first look"
        assert screen.query_one("#note-notes", TextArea).text == "calm hour"
        await type_into(pilot, anomalies, "second look")
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = path.read_text()
        assert text.count("## Hour 1 ") == 1  # replaced, not appended
        assert "second look" in text and "first look" not in text and "calm hour" in text

        await pilot.press("n")  # escape cancels: nothing written
        await pilot.pause()
        await type_into(pilot, app.screen.query_one("#note-anomalies", TextArea), "discard")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, NoteScreen)
        assert "discard" not in path.read_text()


async def test_the_header_reminds_of_a_missing_note(monitor):
    monitor, view = monitor
    app = BotmonApp(Recorder.here(monitor), view, autostart=False)
    async with app.run_test(size=(160, 40)) as pilot:
        assert "missing" not in static_text(app.query_one("#header-problems"))
        monitor.test_clock.advance(3600 + 5)  # hour 1 is over, without a note
        app.apply_view(await monitor.tick(), force=True)
        await pilot.pause()
        assert "note for hour 1 missing — n" in static_text(app.query_one("#header-problems"))
        assert isinstance(app.screen, type(app.screen_stack[0]))  # not a modal


def test_reminder_text():
    assert reminder([]) == ""
    assert reminder([2]) == "note for hour 2 missing — n"
    assert reminder([1, 2, 3]) == "notes for hours 1, 2 and 3 missing — n"


# -- e: export, and q's prompt --------------------------------------------------------------------
FAST = {"use_db": False, "use_logs": False}


async def test_e_exports_in_a_worker_with_progress_while_keys_keep_working(monitor,
                                                                          monkeypatch):
    import threading

    import tui.outputs.audit_report as audit_report

    monitor, view = monitor
    app = BotmonApp(Recorder.here(monitor), view, autostart=False)
    app.export_options = dict(FAST)
    toasts = with_toasts(app)
    started, release = threading.Event(), threading.Event()
    build = audit_report.build_audit_report

    def held(*args, **kwargs):  # in the worker thread: hold the export until the keys ran
        kwargs["progress"]("run directory", 0.0)
        started.set()
        release.wait(30)
        return build(*args, **kwargs)

    monkeypatch.setattr(audit_report, "build_audit_report", held)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("e")
        assert await asyncio.to_thread(started.wait, 30)
        await pilot.pause()
        problems = static_text(app.query_one("#header-problems"))
        assert "exporting the audit report: run directory 0%" in problems
        await pilot.press("p")  # the app answers while the report is built
        assert app.header_state.paused_at is not None
        await pilot.press("p")
        await pilot.press("e")  # a second export while one runs: said, not started
        release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        md, js = app.export_paths
        assert md.exists() and js.exists() and md.suffix == ".md"
        assert f"Audit report exported: {md}" in toasts
        assert any("being exported" in toast for toast in toasts)
        assert "exporting" not in static_text(app.query_one("#header-problems"))


async def test_q_asks_to_export_then_writes_the_final_report(monitor):
    monitor, view = monitor
    app = BotmonApp(Recorder.here(monitor), view, autostart=False)
    app.export_options = dict(FAST)
    steps: list[str] = []
    progress = app._export_progress
    app._export_progress = lambda step, fraction: (steps.append(step),
                                                   progress(step, fraction))[1]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitPrompt)
        assert static_text(app.screen.query_one("#quit-question")) == QUESTION
        await pilot.press("enter")  # the default: yes
        await app.workers.wait_for_complete()
        await pilot.pause()
        await app.workers.wait_for_complete()
    assert app.return_value == "quit"
    assert app.export_paths is not None and app.export_paths[0].exists()
    assert steps[0] == "run directory" and steps[-1] == "done"
    assert monitor.finished is not None and monitor.finished.exists()


async def test_q_then_escape_keeps_running(monitor):
    monitor, view = monitor
    app = BotmonApp(Recorder.here(monitor), view, autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, QuitPrompt)
        assert app.finished_by is None and app.export_paths is None
        await pilot.press("q", "n")  # no: the final report only
        await app.workers.wait_for_complete()
    assert app.return_value == "quit" and app.export_paths is None
    assert monitor.finished.exists()


async def test_q_exports_the_audit_report_after_the_run_is_closed(monitor):
    """The report exported on the way out is the final one: finished_by set, the totals
    recounted, the last minute written, no gap invented for the minute in progress."""
    import json

    monitor, view = monitor
    monitor.test_clock.advance(75)  # past a minute boundary: a minute is due, none written yet
    app = BotmonApp(Recorder.here(monitor), view, autostart=False)
    app.export_options = dict(FAST)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await app.workers.wait_for_complete()
    assert app.return_value == "quit"
    doc = json.loads(app.export_paths[1].read_text())
    assert doc["run"]["finished_by"] == "quit"
    assert doc["run"]["final_report"] == monitor.finished.name
    assert doc["run"]["in_progress"] is False
    assert doc["snapshots"]["gaps"] == []
    assert doc["snapshots"]["recorded"] == doc["snapshots"]["expected"]


async def test_escape_keeps_the_typed_note_as_a_draft(monitor):
    monitor, view = monitor
    app = BotmonApp(Recorder.here(monitor), view, autostart=False)
    toasts = with_toasts(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await type_into(pilot, app.screen.query_one("#note-anomalies", TextArea),
                        "SOLUSDT without SL at 10:41")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, NoteScreen)
        assert any("Draft kept" in toast for toast in toasts)
        path = monitor.run_dir.path / "hourly_observations.md"
        assert not path.exists()  # not saved: a draft is no note

        await pilot.press("q")  # quitting now would lose it: the prompt says so
        await pilot.pause()
        assert "unsaved note draft (hour 1)" in static_text(app.screen.query_one("#quit-drafts"))
        await pilot.press("escape")
        await pilot.pause()

        await pilot.press("n")  # the draft comes back, marked as not saved
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert screen.query_one("#note-anomalies", TextArea).text == \
            "SOLUSDT without SL at 10:41"
        assert "unsaved draft restored" in static_text(screen.query_one("#note-status"))
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "SOLUSDT without SL at 10:41" in path.read_text()
        assert app.drafts == {}

        await pilot.press("n")  # saved: nothing typed, escape leaves no draft behind
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.drafts == {}
