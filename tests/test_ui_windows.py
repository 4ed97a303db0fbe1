"""Windows a newcomer understands: each pane says what it covers, minutes before the run are
said to be so, trends draw no data as no data, stale gauges say they are stale, and a figure
without a source shows "—" with its reason within reach."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

import pytest

from tests.test_ui_support import T0, static_text, synthetic_store
from tui.config import load_config
from tui.monitor import Monitor
from tui.outputs.rundir import RunDir
from tui.recorder import Recorder
from tui.sources.samples import DbSample, EventRow, OpenPosition, PositionChange
from tui.store.store import MetricStore
from tui.ui.app import BotmonApp
from tui.ui.help import HelpScreen
from tui.ui.metric_lines import current_lines, last_minute_lines, subtitle
from tui.ui.metric_pane import MetricPane
from tui.ui.positions import PositionsTable
from tui.ui.trend import NO_DATA, Trend, trend_text

NOW = T0 + timedelta(minutes=14, seconds=20)


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def app_for(view, tmp_path: Path) -> BotmonApp:
    store = synthetic_store()
    monitor = Monitor(store.config, RunDir(tmp_path / "run"), duration_s=8 * 3600)
    return BotmonApp(Recorder.here(monitor), view, autostart=False)


def early_store() -> MetricStore:
    """A run 2.5 minutes old whose start snapshot read 8 minutes of history: 12 opens before
    the run, 2 during it."""
    config = load_config(environ={}, overrides={"database.dsn": "postgresql://x@127.0.0.1/x"})
    store = MetricStore(config, run_start=T0, run_end=T0 + timedelta(hours=8))
    position = OpenPosition(id=1, symbol="BTCUSDT", exchange="binance", side="long",
                            status="active", opened_at=T0 - timedelta(hours=1), entry_price=1.0,
                            current_price=1.0, pnl_percent=0.0, unrealized_pnl=0.0,
                            has_stop_loss=True, stop_loss_price=0.9, has_trailing_stop=True,
                            ts_state=None, ts_activated=False, ts_stop_price=None)

    def opened(n: int, at) -> PositionChange:
        return PositionChange("opened", dataclasses.replace(position, id=100 + n, opened_at=at),
                              at)

    history = [opened(n, T0 - timedelta(minutes=8) + timedelta(seconds=30 * n))
               for n in range(12)]
    store.ingest(DbSample(db_now=T0, latency_ms=1.0, positions=(position,), events=(),
                          last_event_at=T0, changes=tuple(history)), history=True)
    for second in (30, 90, 150):
        at = T0 + timedelta(seconds=second)
        changes = (opened(20 + second, at - timedelta(seconds=5)),) if second < 150 else ()
        store.ingest(DbSample(db_now=at, latency_ms=1.0, positions=(position,),
                              events=(EventRow(second, at, "position_updated", "binance",
                                               "BTCUSDT", "INFO", 1),),
                              last_event_at=at, changes=changes))
        for due in store.due_minutes(at, 10.0):
            store.seal(due)
    return store


def test_each_window_says_what_it_covers():
    view = synthetic_store().view(NOW)
    assert subtitle("current", view) == "at 11:14:20"
    # The store's last poll was at 11:13:30: rows stamped in 11:13 may still be on their way.
    assert subtitle("last_minute", view) == "11:13–11:14 · may grow"
    assert subtitle("last_10_minutes", view) == "11:04–11:14"
    assert subtitle("all_time", view) == "11:00:00 (run start) → 11:14:20"


def test_early_in_a_run_the_windows_say_what_lies_before_it():
    store = early_store()
    view = store.view(T0 + timedelta(minutes=2, seconds=30))
    ten, everything = view.windows["last_10_minutes"], view.windows["all_time"]
    # The 10-minute window holds the history the run started with; all time does not.
    assert ten["positions_opened"] > everything["positions_opened"] == 2
    assert subtitle("last_10_minutes", view) == "10:52–11:02 · 8 min before start"
    assert subtitle("all_time", view) == "11:00:00 (run start) → 11:02:30"
    first_minute = store.view(T0 + timedelta(seconds=40))
    assert subtitle("last_minute", first_minute) == "10:59–11:00 · before the start"
    # A run that starts mid-minute: its first whole minute holds seconds before the start.
    late = dataclasses.replace(first_minute, run_start=T0 + timedelta(seconds=20),
                               now=T0 + timedelta(seconds=70), spans=MappingProxyType({}))
    assert subtitle("last_minute", late).startswith("11:00–11:01 · 20 s before start")


def test_trends_draw_minutes_before_the_run_and_gaps_as_no_data():
    store = synthetic_store()
    view = store.view(NOW)
    trend = next(line for line in current_lines(view) if line.key == "open").series
    # 60 minutes up to 11:13; the run started at 11:00: 46 minutes without data, then 14.
    assert trend[:46] == (None,) * 46 and None not in trend[46:]
    assert view.series["open_positions"][:46] == (0.0,) * 46  # what used to be drawn
    gap = dataclasses.replace(view, gaps=((T0 + timedelta(minutes=5), "database down"),))
    minute_trend = next(line for line in last_minute_lines(gap) if line.key == "price_updates")
    assert minute_trend.series[46 + 5] is None and minute_trend.series[46 + 4] is not None
    from rich.style import Style

    text = trend_text((None, None, 0.0, 3.0, 3.0), 5, Style(), Style(dim=True)).plain
    assert text == f"{NO_DATA}{NO_DATA}▁██"  # no data, a real zero, a flat 3 (not nothing)


async def test_panes_show_their_windows_and_trends_on_screen(tmp_path):
    view = synthetic_store().view(NOW)
    app = app_for(view, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        subtitles = {pane.id: pane.border_subtitle for pane in app.query(MetricPane)}
        assert subtitles == {"pane-current": "at 11:14:20",
                             "pane-last-minute": "11:13–11:14 · may grow",
                             "pane-last-10": "11:04–11:14",
                             "pane-all-time": "11:00:00 (run start) → 11:14:20"}
        row = app.query_one("#pane-current", MetricPane).row("open")
        drawn = row.query_one(Trend).render().plain
        assert drawn.startswith(NO_DATA) and drawn.endswith("█")  # before the run: no bars


async def test_while_the_database_is_down_the_gauges_are_marked_stale(tmp_path):
    store = synthetic_store()
    store.record_failure(NOW - timedelta(seconds=48), "database unreachable")
    view = store.view(NOW)
    app = app_for(view, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = app.query_one("#pane-current", MetricPane)
        assert pane.has_class("-stale")
        assert pane.border_subtitle == "▲ last poll, before 11:13:32"
        assert pane.values()["open"] == "6"  # kept, not blanked
        assert all(line.stale for line in current_lines(view))
        positions = app.query_one(PositionsTable)
        assert positions.border_subtitle.startswith("▲ last poll, before 11:13:32")
        # Back up: the marks go.
        fresh = synthetic_store().view(NOW)
        app.apply_view(fresh, force=True)
        await pilot.pause()
        assert not pane.has_class("-stale") and not positions.border_subtitle.startswith("▲")


async def test_a_figure_without_a_source_shows_a_dash_and_its_reason(tmp_path):
    view = synthetic_store().view(NOW)
    reason = view.unavailable["emergency_closes"]
    app = app_for(view, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        pane = app.query_one("#pane-all-time", MetricPane)
        row = pane.row("emergency_closes")
        assert pane.values()["emergency_closes"] == "—"
        assert reason in str(row.tooltip)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = static_text(app.screen.query_one("#help-sources"))
        assert "emergency_closes" in text and reason in text


def test_unavailable_gauges_are_dashes_too():
    view = synthetic_store().view(NOW)
    windows = {name: {k: v for k, v in values.items() if not k.startswith("aged")}
               for name, values in view.windows.items()}
    view = dataclasses.replace(view, windows=MappingProxyType(windows),
                               unavailable=MappingProxyType({"aged": "no opened_at column"}))
    aged = next(line for line in current_lines(view) if line.key == "aged")
    assert aged.text == "—" and aged.quiet and aged.note == "no opened_at column"


def test_a_fresh_position_without_a_stop_loss_is_new_as_the_gauge_counts_it():
    """The gauge gives a fresh position positions.unprotected_grace_s to get its stop-loss
    recorded; the table agrees with it instead of marking ▲ no while the gauge says 0."""
    from tui.ui.positions import position_cells
    from tui.ui.table import Palette

    view = synthetic_store().view(NOW)
    naked = next(p for p in view.positions if not p.has_stop_loss)
    fresh = dataclasses.replace(naked, opened_at=NOW - timedelta(seconds=30))
    palette = Palette({})
    cells = position_cells(fresh, NOW, view.aged_after_s, "flag", palette, grace_s=180)
    assert cells[5].text.plain == "new" and cells[5].text.style == palette.muted
    old = position_cells(naked, NOW, view.aged_after_s, "flag", palette, grace_s=180)
    assert old[5].text.plain == "▲ no"
    assert old[5].sort_key < cells[5].sort_key  # past the grace sorts first
