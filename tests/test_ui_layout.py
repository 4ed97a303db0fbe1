"""Layout at the sizes an operator uses: every table keeps all its columns, the bot log shows
more than a few lines, a resize re-lays out the log, and ctrl+c asks like q."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.test_ui_support import T0, synthetic_store
from tui.monitor import Monitor
from tui.outputs.rundir import RunDir
from tui.recorder import Recorder
from tui.sources.samples import LogEntry
from tui.ui.app import BotmonApp
from tui.ui.events import EventStream
from tui.ui.export import QuitPrompt
from tui.ui.log_pane import LogPane
from tui.ui.positions import PositionsTable

NOW = T0 + timedelta(minutes=14, seconds=20)
TAIL_END = "…and the end of a long message"


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def log_tail(count: int = 40) -> tuple[LogEntry, ...]:
    return tuple(
        LogEntry(NOW - timedelta(seconds=count - n), "WARNING" if n % 7 == 0 else "INFO",
                 "core.position_manager",
                 f"📊 SYMBOL{n}USDT (binance): price=0.85367, PnL=-0.33% " + "x" * 80 + TAIL_END,
                 (), (), True, "bot.log", n + 1)
        for n in range(count))


def crowded(view):
    """40 open positions with wide values (more than a table shows: its scrollbar takes a
    column), 60 events."""
    positions = tuple(dataclasses.replace(
        view.positions[n % len(view.positions)], id=1000 + n, pnl_percent=-12.34,
        status="pending_sl" if n % 3 else "active",
        opened_at=NOW - timedelta(hours=n)) for n in range(40))
    events = tuple(dataclasses.replace(view.recent_events[0], id=5000 + n,
                                       event_type="position_not_found_on_exchange",
                                       severity="WARNING") for n in range(60))
    return dataclasses.replace(view, positions=positions, recent_events=events,
                               log_tail=log_tail())


def app_for(tmp_path: Path, view=None) -> BotmonApp:
    store = synthetic_store()
    view = view or crowded(store.view(NOW))
    monitor = Monitor(store.config, RunDir(tmp_path / "run"), duration_s=8 * 3600)
    return BotmonApp(Recorder.here(monitor), view, autostart=False)


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (160, 45), (170, 45), (200, 50)])
async def test_tables_keep_every_column_and_the_log_shows_its_lines(tmp_path, size):
    app = app_for(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        for table in (app.query_one(PositionsTable), app.query_one(EventStream)):
            needed = table.virtual_size.width
            room = table.scrollable_content_region.width
            assert needed <= room, f"{type(table).__name__} at {size}: {needed} > {room}"
            assert table.scrollable_content_region.height >= 8
        pane = app.query_one(LogPane)
        pane.scroll_visible(animate=False)
        await pilot.pause()
        assert pane.query_one("#log-lines").scrollable_content_region.height >= 9


async def test_a_resize_re_lays_out_the_log_lines_already_drawn(tmp_path):
    app = app_for(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = app.query_one(LogPane)
        assert not any(TAIL_END in line for line in pane.lines)  # cut at 120 columns
        await pilot.resize_terminal(240, 50)
        await pilot.pause()
        await pilot.pause()
        assert all(line.rstrip().endswith(TAIL_END) for line in pane.lines[-5:])
        await pilot.resize_terminal(100, 40)
        await pilot.pause()
        await pilot.pause()
        widths = {len(line) for line in pane.lines}
        assert max(widths) <= 100


async def test_ctrl_c_asks_like_q_instead_of_a_hint(tmp_path):
    app = app_for(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert isinstance(app.screen, QuitPrompt)
        await pilot.press("escape")  # keep running: an 8-hour audit never ends on a reflex
        await pilot.pause()
        assert not isinstance(app.screen, QuitPrompt) and app.finished_by is None
