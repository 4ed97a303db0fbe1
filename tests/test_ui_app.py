"""Pilot tests of the full-screen app against the embedded PostgreSQL with a seeded database.

The app runs with ``autostart=False``: each test drives ``monitor.step()`` itself and posts the
view, so nothing depends on timing and nothing sleeps.
"""

from __future__ import annotations

import json
from datetime import timedelta

import asyncpg
import pytest
from rich.cells import cell_len

from tests.test_ui_support import (ALL_TIME, CURRENT, NOTABLE_RUN_EVENTS, db_now,
                                   history_events, insert_events, make_monitor, open_in_run,
                                   run_events, seed_positions, static_text)
from tui.recorder import Recorder
from tui.store.buckets import minute_of
from tui.ui.app import BotmonApp
from tui.ui.events import EventStream
from tui.ui.header import StatusHeader
from tui.ui.help import HelpScreen
from tui.ui.messages import ViewUpdated
from tui.ui.metric_pane import MetricPane, MetricRow
from tui.ui.positions import PositionsTable


@pytest.fixture
async def scenario(bot_db, tmp_path):
    """A monitor over a seeded database: history before the run, events during it."""
    ids = await seed_positions(bot_db)
    await insert_events(bot_db, history_events(await db_now(bot_db)))
    monitor = make_monitor(bot_db, tmp_path)
    first = await monitor.open()
    await open_in_run(bot_db)
    await insert_events(bot_db, run_events(ids))
    view = await monitor.step()
    try:
        yield monitor, first, view, ids
    finally:
        await monitor.close()


async def show(app, pilot, view) -> None:
    app.post_message(ViewUpdated(view))
    await pilot.pause()


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def header_text(app) -> str:
    header = app.query_one(StatusHeader)
    return "\n".join(static_text(s) for s in header.query("Static"))


async def test_panes_show_what_the_database_implies(scenario, bot_db):
    monitor, first, view, ids = scenario
    app = BotmonApp(Recorder.here(monitor), first, autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await show(app, pilot, view)
        current = app.query_one("#pane-current", MetricPane).values()
        assert {key: current[key] for key in CURRENT} == CURRENT
        assert app.query_one("#pane-current", MetricPane).row("unprotected").has_class("-bad")
        assert app.query_one("#pane-current", MetricPane).row("aged").has_class("-warn")

        all_time = app.query_one("#pane-all-time", MetricPane).values()
        assert {key: all_time[key] for key in ALL_TIME} == ALL_TIME
        # Problem counters at zero are quiet; non-zero ones carry the marker.
        assert not app.query_one("#pane-all-time", MetricPane).row("emergency_closes") \
            .has_class("-bad")
        assert app.query_one("#pane-all-time", MetricPane).row("errors").has_class("-warn")

        # The windows follow each event's own minute on the database clock.
        expected_10 = {"positions_opened": 0, "errors": 0}
        expected_1 = {"positions_opened": 0, "errors": 0}
        current_minute = minute_of(view.now)
        conn = await asyncpg.connect(bot_db)
        rows = await conn.fetch("SELECT event_type, created_at FROM monitoring.events")
        opens = await conn.fetch("SELECT opened_at FROM monitoring.positions")
        await conn.close()
        found = [("positions_opened", r["opened_at"]) for r in opens] + [
            ({"stop_loss_error": "errors", "health_check_failed": "errors"}.get(r["event_type"]),
             r["created_at"]) for r in rows]
        for metric, at in found:
            if metric is None:
                continue
            minute = minute_of(at)
            if current_minute - timedelta(minutes=10) <= minute < current_minute:
                expected_10[metric] += 1
            if minute == current_minute - timedelta(minutes=1):
                expected_1[metric] += 1
        last_10 = app.query_one("#pane-last-10", MetricPane).values()
        last_1 = app.query_one("#pane-last-minute", MetricPane).values()
        for metric in expected_10:
            assert last_10[metric] == str(expected_10[metric])
            assert last_1[metric] == str(expected_1[metric])

        table = app.query_one(PositionsTable)
        ada = next(k for k in table.keys if table.cells(k)[0].text.plain.endswith("ADAUSDT"))
        assert sorted(table.keys) == sorted([ada] + [str(ids[s]) for s in (
            "BTCUSDT", "ETHUSDT", "SOLUSDT")])
        eth = table.cells(str(ids["ETHUSDT"]))
        assert eth[5].text.plain == "▲ no" and eth[2].text.plain == "short"
        sol = table.cells(str(ids["SOLUSDT"]))
        assert sol[3].text.plain.startswith("▲ 4h")  # aged row marked
        assert sol[6].text.plain == "active ✓"  # trailing_stop_state
        assert table.keys[0] == str(ids["ETHUSDT"])  # risk order: missing SL first

        stream = app.query_one(EventStream)
        types = [stream.cells(key)[1].text.plain.lstrip("✖▲ ") for key in stream.keys]
        assert "position_updated" not in types
        assert len(types) == NOTABLE_RUN_EVENTS + 3  # + the notable history events
        times = [stream.cells(key)[0].sort_key for key in stream.keys]
        assert times == sorted(times, reverse=True)  # newest first

        header = header_text(app)
        assert "DB OK" in header and str(monitor.run_dir.path.name) in header
        assert "▲ 1 without SL" in header


async def test_s_writes_a_manual_snapshot_and_shows_the_path(scenario):
    monitor, first, view, _ids = scenario
    app = BotmonApp(Recorder.here(monitor), first, autostart=False)
    toasts: list[str] = []
    notify = app.notify
    app.notify = lambda message, **kw: (toasts.append(f"{kw.get('title')}: {message}"),
                                        notify(message, **kw))[1]
    async with app.run_test(size=(120, 40)) as pilot:
        await show(app, pilot, view)
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        path = monitor.snapshots.last_path
        assert path is not None
        records = [json.loads(line) for line in path.read_text().splitlines()]
        assert records[-1]["kind"] == "manual"
        assert records[-1]["metrics"]["positions"]["total"] == 4
        assert toasts == [f"Snapshot written: {path}"]


async def test_q_writes_the_report_then_exits(scenario):
    monitor, first, view, _ids = scenario
    app = BotmonApp(Recorder.here(monitor), first, autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await show(app, pilot, view)
        await pilot.press("q", "n")  # no export: the final report only
        await app.workers.wait_for_complete()
    assert app.return_value == "quit"
    assert monitor.finished is not None and monitor.finished.exists()
    report = json.loads(monitor.finished.read_text())
    assert report["finished_by"] == "quit"


async def test_p_freezes_the_display_while_recording_continues(scenario, bot_db):
    monitor, first, view, ids = scenario
    app = BotmonApp(Recorder.here(monitor), first, autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await show(app, pilot, view)
        pane = app.query_one("#pane-all-time", MetricPane)
        assert pane.values()["positions_opened"] == "2"
        await pilot.press("p")
        assert "PAUSED" in header_text(app)
        assert app.active_bindings["p"].binding.action == "resume"
        conn = await asyncpg.connect(bot_db)
        await conn.execute("UPDATE monitoring.positions SET status = 'closed_by_sync', "
                           "closed_at = now() WHERE symbol = 'BTCUSDT'")
        await conn.close()
        newer = await monitor.step()
        assert newer.windows["all_time"]["positions_closed"] == 2  # recording continued
        await show(app, pilot, newer)
        assert pane.values()["positions_closed"] == "1"  # display frozen
        await pilot.press("p")
        assert "PAUSED" not in header_text(app)
        assert pane.values()["positions_closed"] == "2"
        assert app.active_bindings["p"].binding.action == "pause"


async def test_tables_update_in_place_and_keep_the_selection(scenario, bot_db):
    monitor, first, view, ids = scenario
    app = BotmonApp(Recorder.here(monitor), first, autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await show(app, pilot, view)
        table = app.query_one(PositionsTable)
        table.focus()
        eth = str(ids["ETHUSDT"])
        table.move_cursor(row=table.get_row_index(str(ids["BTCUSDT"])))
        calls: list[str] = []
        for name in ("add_row", "remove_row", "clear"):
            original = getattr(table, name)

            def spy(*args, _name=name, _original=original, **kwargs):
                calls.append(_name)
                return _original(*args, **kwargs)

            setattr(table, name, spy)
        conn = await asyncpg.connect(bot_db)
        await conn.execute("UPDATE monitoring.positions SET pnl_percentage = -2.5 "
                           "WHERE symbol = 'BTCUSDT'")
        await conn.close()
        await show(app, pilot, await monitor.step())
        assert calls == []  # no row added, removed or cleared: cells updated in place
        assert table.cells(str(ids["BTCUSDT"]))[4].text.plain == "-2.50"
        assert table.selected_key() == str(ids["BTCUSDT"])

        await pilot.press("o")  # sort by symbol: the selection follows its row
        assert table.sort_name == "symbol"
        assert table.selected_key() == str(ids["BTCUSDT"])
        ada = next(k for k in table.keys if table.cells(k)[0].text.plain.endswith("ADAUSDT"))
        assert table.keys == [ada] + [str(ids[s]) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")]
        await pilot.press("r")
        assert table.keys == [str(ids[s]) for s in ("SOLUSDT", "ETHUSDT", "BTCUSDT")] + [ada]
        assert table.selected_key() == str(ids["BTCUSDT"])
        assert eth in table.keys


async def test_help_palette_focus_and_remapped_keys(scenario):
    monitor, first, view, _ids = scenario
    app = BotmonApp(Recorder.here(monitor), first, autostart=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await show(app, pilot, view)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_text = "\n".join(static_text(s) for s in app.screen.query("Static"))
        for word in ("Snapshot", "Pause", "Quit", "ctrl+p", "tab"):
            assert word in help_text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)

        # Arrows move between metric panes by position; tab goes on to the tables.
        assert app.focused.id == "pane-current"
        await pilot.press("down")
        assert app.focused.id == "pane-last-minute"
        await pilot.press("right")
        assert app.focused.id == "pane-last-10"
        await pilot.press("right")
        assert app.focused.id == "pane-all-time"
        await pilot.press("left", "left")
        assert app.focused.id in ("pane-current", "pane-last-minute")
        await pilot.press("tab", "tab", "tab", "tab")
        assert app.focused.id == "positions"

        # The command palette offers the app's actions.
        await pilot.press("ctrl+p")
        await pilot.press(*"snapshot now")
        await pilot.pause()
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert monitor.snapshots.last_path is not None

        # Binding ids let users remap keys.
        app.set_keymap({"pause": "x", "resume": "x"})
        await pilot.press("x")
        assert "PAUSED" in header_text(app)


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 50)])
async def test_layouts_never_cut_a_value(scenario, size):
    monitor, first, view, _ids = scenario
    app = BotmonApp(Recorder.here(monitor), first, autostart=False)
    async with app.run_test(size=size) as pilot:
        await show(app, pilot, view)
        width = size[0]
        for row in app.query(MetricRow):
            value = row.query_one(".value")
            text = row.value_text
            shown = static_text(value).strip()
            assert shown.endswith(text), (row.key, shown, text)
            assert value.size.width >= cell_len(shown), (row.key, value.size, shown)
            assert value.region.right <= width if value.region.width else True
            row.scroll_visible(animate=False)
        # Each pane fits the screen's width.
        for pane in app.query(MetricPane):
            assert pane.size.width <= width
            assert pane.region.right <= width or not pane.region.width
        text = screen_text(app)
        assert "Current state" in text and "Last minute" in text
        if size == (80, 24):
            # The header's one-glance line names the problems even when panes scroll.
            assert "▲ 1 without SL" in text
            assert "s Snapshot" in text.replace("  ", " ")
