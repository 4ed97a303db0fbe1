"""The app during a database outage: keys answer at once, `s` and `q` still work.

These tests stop or freeze a PostgreSQL server, so they start their own (the session server is
shared with every other test). The monitor runs for real, on its recorder thread.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.test_ui_support import make_monitor, seed_positions, static_text
from tests.conftest import embedded_server
from tui.demo.embedded import create_bot_database
from tui.recorder import Recorder
from tui.ui.app import BotmonApp
from tui.ui.header import StatusHeader
from tui.ui.messages import ViewUpdated

KEYS = ("p", "p", "question_mark", "escape", "tab", "shift+tab", "z", "z")
_names = itertools.count(1)


@pytest.fixture(scope="module")
def own_pg():
    with embedded_server("botmon-ui-") as server:
        try:
            yield server
        finally:
            if server.process is not None:  # a test may leave it frozen (SIGSTOP)
                signal_server(server_pids(server), signal.SIGCONT)


@pytest.fixture
def own_db(own_pg) -> str:
    if not own_pg.running:
        own_pg.start()
    return create_bot_database(own_pg, f"ui_{next(_names)}")


def server_pids(server) -> list[int]:
    """The postmaster and every backend (backends run in their own sessions: setsid)."""
    root = server.process.pid
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [root], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found.extend(children)
        frontier = children
    return found


def signal_server(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def header_text(app) -> str:
    return "\n".join(static_text(s) for s in app.query_one(StatusHeader).query("Static"))


class Views:
    """Waits for views by database state, from the app's message hook (no sleeping)."""

    def __init__(self) -> None:
        self.up = asyncio.Event()
        self.down = asyncio.Event()

    def hook(self, message) -> None:
        if isinstance(message, ViewUpdated):
            (self.up if message.view.db_up else self.down).set()


class ActionClock:
    """When each key's action started running: the latency the operator feels.

    (``pilot.press`` itself also waits for the whole screen to settle, which says nothing
    about how fast the key was handled.)
    """

    def __init__(self, app) -> None:
        self.ran: list[tuple[str, float]] = []
        run_action = app.run_action

        async def timed(action, *args, **kwargs):
            self.ran.append((str(action), time.perf_counter()))
            return await run_action(action, *args, **kwargs)

        app.run_action = timed

    async def latency(self, pilot, key: str) -> float:
        count = len(self.ran)
        started = time.perf_counter()
        await pilot.press(key)
        assert len(self.ran) > count, f"{key} ran no action"
        return self.ran[count][1] - started


async def test_keys_s_and_q_work_while_the_database_is_stopped(own_pg, own_db, tmp_path):
    await seed_positions(own_db)
    monitor = make_monitor(own_db, tmp_path, wall=time.time,
                           **{"poll.interval_s": 0.2, "poll.max_backoff_s": 0.5})
    recorder = Recorder.in_thread(monitor)
    first = await recorder.request("open")
    app = BotmonApp(recorder, first)
    views = Views()
    try:
        async with app.run_test(size=(120, 40), message_hook=views.hook) as pilot:
            await asyncio.wait_for(views.up.wait(), 30)
            own_pg.stop()
            await asyncio.wait_for(views.down.wait(), 30)
            await pilot.pause()
            assert "DB DOWN" in header_text(app)
            clock = ActionClock(app)
            times = {key: await clock.latency(pilot, key) for key in KEYS}
            slowest = max(times.values())
            assert slowest < 0.1, f"keys answered in {times} during the outage"
            await pilot.press("s")
            await pilot.press("q", "n")
            await app.workers.wait_for_complete()
        assert app.return_value == "quit"
        lines = monitor.snapshots.last_path.read_text().splitlines()
        assert any(json.loads(line).get("kind") == "manual" for line in lines)
        report = json.loads(monitor.finished.read_text())
        assert report["finished_by"] == "quit"
    finally:
        await recorder.shutdown()
        if not own_pg.running:
            own_pg.start()


async def test_keys_answer_while_a_poll_hangs_on_a_frozen_database(own_pg, own_db, tmp_path):
    await seed_positions(own_db)
    # A long statement timeout: the poll hangs on the frozen server for the whole test (with
    # the default 2 s the client gives up after 2.5 s, which is its own test in test_monitor).
    monitor = make_monitor(own_db, tmp_path, wall=time.time, **{
        "poll.interval_s": 0.2, "database.statement_timeout_ms": 60_000})
    recorder = Recorder.in_thread(monitor)
    first = await recorder.request("open")
    # Set on the recorder's thread, read here: threading events, not asyncio ones.
    hanging, hanging_done = threading.Event(), threading.Event()
    frozen = False
    poll = monitor.poller.poll

    async def watched_poll():
        if not frozen:
            return await poll()
        hanging.set()
        try:
            return await poll()
        finally:
            hanging_done.set()

    monitor.poller.poll = watched_poll
    app = BotmonApp(recorder, first)
    views = Views()
    pids: list[int] = []
    try:
        async with app.run_test(size=(120, 40), message_hook=views.hook) as pilot:
            await asyncio.wait_for(views.up.wait(), 30)
            pids = server_pids(own_pg)
            signal_server(pids, signal.SIGSTOP)  # the server stops answering: a hung database
            frozen = True
            assert await asyncio.to_thread(hanging.wait, 30)
            clock = ActionClock(app)
            times = {key: await clock.latency(pilot, key) for key in KEYS}
            assert max(times.values()) < 0.1, f"keys answered in {times} during a hung poll"
            assert not hanging_done.is_set()  # the poll was still hanging throughout
            assert app.query_one("#pane-current").has_focus or app.focused is not None
            signal_server(pids, signal.SIGCONT)
            frozen = False
            await pilot.press("q", "n")
            await app.workers.wait_for_complete()
        assert app.return_value == "quit"
        assert monitor.finished is not None and monitor.finished.exists()
    finally:
        signal_server(pids, signal.SIGCONT)
        await recorder.shutdown()
