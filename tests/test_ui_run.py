"""run_app end to end (headless): signals, the planned duration, a crashing source, bursts."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import pytest

from tests.test_ui_support import (FakeClock, insert_events, make_monitor, seed_positions,
                                   static_text)
from tui.store.store import STREAM_CAP
from tui.ui import app as app_module
from tui.ui.app import BotmonApp, run_app
from tui.ui.events import EventStream
from tui.ui.header import StatusHeader
from tui.ui.messages import ViewUpdated
from tui.ui.metric_pane import MetricPane


class TickingClock(FakeClock):
    """Every reading moves time on: the planned duration passes within a few loop turns."""

    def __init__(self, step: float) -> None:
        super().__init__()
        self.step = step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
async def test_a_signal_ends_the_run_like_q(bot_db, tmp_path, monkeypatch, sig):
    await seed_positions(bot_db)
    monitor = make_monitor(bot_db, tmp_path, wall=time.time)
    first = await monitor.open()
    post_view = BotmonApp._post_view
    sent: list[bool] = []

    def post_then_signal(self, view):
        post_view(self, view)
        if not sent:  # the app runs and the loop feeds it: now the operator's shell sends it
            sent.append(True)
            os.kill(os.getpid(), sig)

    monkeypatch.setattr(BotmonApp, "_post_view", post_then_signal)
    try:
        finished_by = await asyncio.wait_for(run_app(monitor, first, headless=True), 60)
    finally:
        await monitor.close()
    assert finished_by == f"signal {sig.name}"
    report = json.loads(monitor.finished.read_text())
    assert report["finished_by"] == f"signal {sig.name}"
    # The handlers are gone with the app: the default action is back.
    assert signal.getsignal(sig) in (signal.SIG_DFL, signal.default_int_handler)


async def test_the_planned_duration_ends_the_app_with_the_report(bot_db, tmp_path):
    await seed_positions(bot_db)
    monitor = make_monitor(bot_db, tmp_path, duration_s=1.0, wall=TickingClock(0.5),
                           **{"run.snapshot_grace_s": 0.0})
    first = await monitor.open()
    try:
        finished_by = await asyncio.wait_for(run_app(monitor, first, headless=True), 60)
    finally:
        await monitor.close()
    assert finished_by == "duration"
    assert json.loads(monitor.finished.read_text())["finished_by"] == "duration"


async def test_a_crashing_source_shows_red_and_restarts(bot_db, tmp_path, monkeypatch):
    monkeypatch.setattr(app_module, "RESTART_DELAY_S", 600.0)  # the test restarts it itself
    await seed_positions(bot_db)
    monitor = make_monitor(bot_db, tmp_path, wall=time.time, **{"poll.interval_s": 0.2})
    first = await monitor.open()
    tick = monitor.tick
    crashes: list[bool] = []

    async def flaky_tick(now=None):
        if not crashes:
            crashes.append(True)
            raise RuntimeError("disk full")
        return await tick(now)

    monitor.tick = flaky_tick
    app = BotmonApp(monitor, first)
    failed, recovered = asyncio.Event(), asyncio.Event()

    def hook(message):
        if isinstance(message, app_module.Worker.StateChanged) and message.state.name == "ERROR":
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
            app._restart_monitor()  # what the timer does after RESTART_DELAY_S
            await asyncio.wait_for(recovered.wait(), 30)
            await pilot.pause()
            assert "SOURCE FAILED" not in static_text(app.query_one("#header-problems"))
            assert app.restarts == 1
            await pilot.press("q", "n")
            await app.workers.wait_for_complete()
        assert app.return_value == "quit" and monitor.finished.exists()
    finally:
        await monitor.close()


async def test_an_app_crash_still_writes_the_report(bot_db, tmp_path, monkeypatch):
    await seed_positions(bot_db)
    monitor = make_monitor(bot_db, tmp_path, wall=time.time)
    first = await monitor.open()

    def broken(self, message):
        raise ValueError("a bug in a pane")

    monkeypatch.setattr(BotmonApp, "on_view_updated", broken)
    try:
        finished_by = await asyncio.wait_for(run_app(monitor, first, headless=True), 60)
    finally:
        await monitor.close()
    assert finished_by.startswith("error")
    assert monitor.finished is not None and monitor.finished.exists()


async def test_a_burst_of_5000_events_renders_without_stalling(bot_db, tmp_path):
    ids = await seed_positions(bot_db)
    monitor = make_monitor(bot_db, tmp_path)
    first = await monitor.open()
    app = BotmonApp(monitor, first, autostart=False)
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
