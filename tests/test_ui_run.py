"""run_app end to end: signals, the planned end, a crashing source, an app crash, bursts.

The monitor runs on a recorder thread of its own, as in the real app (tui/recorder.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import pytest

from tests.test_ui_support import (FakeClock, insert_events, make_monitor, seed_positions,
                                   static_text)
from tui.recorder import Recorder
from tui.store.store import STREAM_CAP
from tui.recorder import LoopFailed, RunFinished, ViewFrame
from tui.ui.app import BotmonApp, run_app
from tui.ui.events import EventStream
from tui.ui.export import QUESTION_AT_END, FinishedScreen, QuitPrompt
from tui.ui.header import StatusHeader
from tui.ui.messages import RecorderSaid, ViewUpdated
from tui.ui.metric_pane import MetricPane


class TickingClock(FakeClock):
    """Every reading moves time on: the planned duration passes within a few loop turns."""

    def __init__(self, step: float) -> None:
        super().__init__()
        self.step = step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


async def threaded(monitor) -> tuple[Recorder, object]:
    """The app's arrangement: the monitor opened on a recorder thread of its own."""
    recorder = Recorder.in_thread(monitor)
    return recorder, await recorder.request("open")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
async def test_a_signal_ends_the_run_like_q(bot_db, tmp_path, monkeypatch, sig):
    await seed_positions(bot_db)
    monitor = make_monitor(bot_db, tmp_path, wall=time.time)
    recorder, first = await threaded(monitor)
    take_frame = BotmonApp._take_frame
    sent: list[bool] = []

    def frame_then_signal(self, frame):
        take_frame(self, frame)
        if not sent and isinstance(frame, ViewFrame):
            sent.append(True)  # the app runs and the recorder feeds it: now the shell sends it
            os.kill(os.getpid(), sig)

    monkeypatch.setattr(BotmonApp, "_take_frame", frame_then_signal)
    try:
        ending = await asyncio.wait_for(run_app(recorder, first, headless=True), 60)
    finally:
        await recorder.shutdown()
    assert ending.finished_by == f"signal {sig.name}"
    report = json.loads(ending.report.read_text())
    assert report["finished_by"] == f"signal {sig.name}"
    assert ending.export is None  # a signal never waits for an export
    # The handlers are gone with the app: the default action is back.
    assert signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler)


async def test_the_planned_end_closes_the_run_offers_the_export_and_waits_for_a_key(
        bot_db, tmp_path):
    await seed_positions(bot_db)
    monitor = make_monitor(bot_db, tmp_path, duration_s=1.0, wall=TickingClock(0.5),
                           **{"run.snapshot_grace_s": 0.0})
    recorder, first = await threaded(monitor)
    recorder.export_options = {"use_db": False, "use_logs": False}
    app = BotmonApp(recorder, first)
    ended = asyncio.Event()

    def hook(message):
        if isinstance(message, RecorderSaid) and isinstance(message.frame, RunFinished):
            ended.set()

    try:
        async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
            await asyncio.wait_for(ended.wait(), 60)
            await pilot.pause()
            # The run is closed, and the app did not just exit: it offers the export.
            assert monitor.finished is not None and monitor.finished.exists()
            assert isinstance(app.screen, QuitPrompt) and app.screen.at_end
            assert static_text(app.screen.query_one("#quit-question")) == QUESTION_AT_END
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            await pilot.pause()
            # The final state stays on screen under a box that says where everything is.
            assert isinstance(app.screen, FinishedScreen)
            text = static_text(app.screen.query_one("#finished-text"))
            assert str(monitor.finished) in text and str(app.export_paths[0]) in text
            assert app.query_one("#pane-all-time", MetricPane).values()  # still there
            assert app.is_running
            await pilot.press("x")  # any key
            await pilot.pause()
        assert app.return_value == "duration"
    finally:
        await recorder.shutdown()
    assert json.loads(monitor.finished.read_text())["finished_by"] == "duration"
    audit = json.loads(app.export_paths[1].read_text())
    assert audit["run"]["finished_by"] == "duration"
    assert audit["run"]["final_report"] == monitor.finished.name


async def test_a_crashing_source_shows_red_and_restarts(bot_db, tmp_path):
    await seed_positions(bot_db)
    monitor = make_monitor(bot_db, tmp_path, wall=time.time, **{"poll.interval_s": 0.2})
    recorder, first = await threaded(monitor)
    recorder.restart_delay_s = 600.0  # the test restarts it itself
    tick = monitor.tick
    crashes: list[bool] = []

    async def flaky_tick(now=None):
        if not crashes:
            crashes.append(True)
            raise RuntimeError("disk full")
        return await tick(now)

    monitor.tick = flaky_tick
    app = BotmonApp(recorder, first)
    failed, recovered = asyncio.Event(), asyncio.Event()

    def hook(message):
        if isinstance(message, RecorderSaid) and isinstance(message.frame, LoopFailed):
            failed.set()
        if isinstance(message, ViewUpdated) and failed.is_set():
            recovered.set()

    try:
        async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
            await asyncio.wait_for(failed.wait(), 30)
            await pilot.pause()
            problems = static_text(app.query_one("#header-problems"))
            assert "SOURCE FAILED" in problems and "disk full" in problems
            await pilot.press("p", "p")  # the app is alive
            recorder.restart_now()  # what the delay does after RESTART_DELAY_S
            await asyncio.wait_for(recovered.wait(), 30)
            await pilot.pause()
            assert "SOURCE FAILED" not in static_text(app.query_one("#header-problems"))
            assert app.restarts == 1
            await pilot.press("q", "n")
            await app.workers.wait_for_complete()
        assert app.return_value == "quit" and monitor.finished.exists()
    finally:
        await recorder.shutdown()


async def test_an_app_crash_still_writes_the_report(bot_db, tmp_path, monkeypatch):
    await seed_positions(bot_db)
    monitor = make_monitor(bot_db, tmp_path, wall=time.time)
    recorder, first = await threaded(monitor)

    def broken(self, message):
        raise ValueError("a bug in a pane")

    monkeypatch.setattr(BotmonApp, "on_view_updated", broken)
    try:
        ending = await asyncio.wait_for(run_app(recorder, first, headless=True), 60)
    finally:
        await recorder.shutdown()
    assert ending.finished_by.startswith("error")
    assert ending.report is not None and ending.report.exists()
    assert monitor.finished == ending.report


async def test_a_burst_of_5000_events_renders_without_stalling(bot_db, tmp_path):
    ids = await seed_positions(bot_db)
    monitor = make_monitor(bot_db, tmp_path)
    first = await monitor.open()
    app = BotmonApp(Recorder.here(monitor), first, autostart=False)
    kinds = ("position_created", "position_updated", "stop_loss_placed", "order_filled",
             "position_updated", "position_updated", "health_check_failed")
    try:
        async with app.run_test(size=(200, 50)) as pilot:
            for burst in range(3):
                await insert_events(bot_db, [
                    (kinds[i % len(kinds)], "binance", "BTCUSDT", "INFO", ids["BTCUSDT"], None)
                    for i in range(5000)])
                view = await monitor.step()
                started = time.perf_counter()
                app.post_message(ViewUpdated(view))
                await pilot.pause()
                elapsed = time.perf_counter() - started
                assert elapsed < 1.0, f"burst {burst} took {elapsed:.2f} s to render"
                stream = app.query_one(EventStream)
                assert stream.row_count == len(view.recent_events) <= STREAM_CAP
                assert len(stream._cells) <= STREAM_CAP  # the table's own buffer is capped
                all_time = app.query_one("#pane-all-time", MetricPane).values()
                assert all_time["positions_opened_events"] == f"{715 * (burst + 1) :,}"
            assert "DB OK" in static_text(app.query_one(StatusHeader).query_one("Static"))
    finally:
        await monitor.close()
