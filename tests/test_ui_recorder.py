"""The recorder / viewer split (tui/recorder.py): the monitor on its own thread and event loop.

The poll latency is the database's, whatever the UI does: a test blocks the app's event loop for
a second and checks that polls went on during it with their usual latency.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import pytest

from tests.test_ui_support import make_monitor, seed_positions, static_text
from tui.recorder import ACTIONS, Recorder, RunFinished, ViewFrame
from tui.ui.app import BotmonApp
from tui.ui.messages import ViewUpdated

BLOCK_S = 1.0


async def test_a_blocked_ui_loop_neither_delays_polls_nor_inflates_their_latency(bot_db,
                                                                                 tmp_path):
    await seed_positions(bot_db)
    monitor = make_monitor(bot_db, tmp_path, wall=time.time, **{"poll.interval_s": 0.1})
    recorder = Recorder.in_thread(monitor)
    first = await recorder.request("open")
    polls: list[tuple[float, float, float]] = []  # (started, ended, recorded latency ms)
    poll = monitor.poller.poll

    async def timed():
        started = time.perf_counter()
        sample = await poll()
        polls.append((started, time.perf_counter(), sample.latency_ms))
        return sample

    monitor.poller.poll = timed
    app = BotmonApp(recorder, first)
    views = asyncio.Event()

    def hook(message):
        if isinstance(message, ViewUpdated):
            views.set()

    try:
        async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
            await asyncio.wait_for(views.wait(), 30)
            before = len(polls)
            # The UI loop is busy (a slow repaint, a resize storm): nothing else runs on it.
            blocked_at = time.perf_counter()
            time.sleep(BLOCK_S)
            unblocked_at = time.perf_counter()
            views.clear()
            await asyncio.wait_for(views.wait(), 30)
            await pilot.pause()
            shown = static_text(app.query_one("#header-status"))
            await pilot.press("q", "n")
            await app.workers.wait_for_complete()
    finally:
        await recorder.shutdown()
    during = [p for p in polls[before:] if blocked_at <= p[0] and p[1] <= unblocked_at]
    latencies = sorted(p[2] for p in during)
    print(f"\npolls while the UI loop was blocked {BLOCK_S:.0f} s: {len(during)}; recorded "
          f"latency ms min {latencies[0]:.1f} median {latencies[len(latencies) // 2]:.1f} "
          f"max {latencies[-1]:.1f}; header after: {shown.split('│')[0].strip()}")
    # Polls went on at their interval while the UI was blocked (with one shared loop: none)...
    assert len(during) >= 3
    # ...and each recorded the database's round trip, not the UI's second.
    assert latencies[-1] < 250.0
    report = json.loads(monitor.finished.read_text())
    assert report["finished_by"] == "quit"


async def test_frames_and_results_are_plain_data(bot_db, tmp_path):
    """What crosses the boundary could cross a socket (issue 13): views, strings, tuples."""
    await seed_positions(bot_db)
    monitor = make_monitor(bot_db, tmp_path, wall=time.time, **{"poll.interval_s": 0.1})
    recorder = Recorder.in_thread(monitor)
    frames: list[object] = []
    got_view = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_frame(frame):  # on the recorder's thread
        frames.append(frame)
        if isinstance(frame, ViewFrame):
            loop.call_soon_threadsafe(got_view.set)

    recorder.subscribe(on_frame)
    try:
        first = await recorder.request("open")
        await recorder.request("start")
        await asyncio.wait_for(got_view.wait(), 30)
        snapshot = await recorder.request("snapshot", note="test")
        missing = await recorder.request("missing_notes")
        note = await recorder.request("hour_note")
        note = dataclasses.replace(note, anomalies="calm")
        saved = await recorder.request("save_note", note=note)
        done, items = await recorder.request("acknowledge", key="nothing#1")
        report = await recorder.request("finish", finished_by="quit")
        again = await recorder.request("finish", finished_by="quit")
        md, js = await recorder.request("export", use_db=False, use_logs=False)
        with pytest.raises(ValueError):
            await recorder.request("drop_tables")
    finally:
        await recorder.shutdown()
    assert first.run_start == monitor.store.run_start
    assert all(isinstance(x, str) for x in (snapshot, saved, report, md, js))
    assert missing == [] and (done, items) == (False, ())
    assert again == report  # closing twice is one close
    assert isinstance(frames[0], ViewFrame)
    ends = [f for f in frames if isinstance(f, RunFinished)]
    assert ends == [RunFinished("quit", report)]
    assert set(ACTIONS) >= {"open", "start", "finish", "export"}
    # The export after the close is built from the final report.
    assert json.loads(open(js).read())["run"]["final_report"] == monitor.finished.name
