"""Pure parts of the UI (formatting, pane lines, focus geometry) and panes fed by hand-built views."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from pathlib import Path

import pytest
from textual.geometry import Region

from tests.test_ui_support import T0, static_text, synthetic_store
from tui.alerts.model import AlertItem
from tui.monitor import Monitor
from tui.outputs.console import minute_block
from tui.outputs.rundir import RunDir
from tui.recorder import Recorder
from tui.store.metrics import EVENT_COUNTERS
from tui.ui import format as fmt
from tui.ui.alerts_pane import AlertsPane, AlertTable, severity_counts
from tui.ui.app import BotmonApp
from tui.ui.focus import neighbour
from tui.ui.header import log_silent_s, status_line
from tui.ui.messages import ViewUpdated
from tui.ui.metric_lines import (BAD, PANES, WARN, all_time_lines, current_lines,
                                 last_10_minutes_lines, last_minute_lines, problems)


@pytest.mark.parametrize("value, expected", [
    (None, "–"), (0, "0"), (3.0, "3"), (1234.4, "1,234"), (1_000_000, "1,000,000")])
def test_count(value, expected):
    assert fmt.count(value) == expected


@pytest.mark.parametrize("seconds, expected", [
    (None, "–"), (5, "5s"), (59.9, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h00m"),
    (3 * 3600 + 5 * 60, "3h05m"), (50 * 3600, "2d02h"), (-4, "0s")])
def test_age(seconds, expected):
    assert fmt.age(seconds) == expected


@pytest.mark.parametrize("seconds, expected", [
    (None, "–"), (0, "0:00:00"), (61, "0:01:01"), (8 * 3600 + 1, "8:00:01"), (-1, "0:00:00")])
def test_hms(seconds, expected):
    assert fmt.hms(seconds) == expected


def test_since_and_paths():
    assert fmt.since(None) == "never"
    assert fmt.since(4.2) == "4 s ago"
    assert fmt.since(600) == "10m ago"
    assert fmt.shorten_path("/a/b/c", 10) == "/a/b/c"
    assert fmt.shorten_path("/very/long/botmon-runs/20251015_110000", 16) == "…20251015_110000"
    assert fmt.avg_max(67.36, 71) == "67.4 / 71"
    assert fmt.percent(-0.8) == "-0.80%"


# -- focus geometry ------------------------------------------------------------------------------
GRID = {  # the 120-column layout: current over last minute, then the two windows
    "current": Region(0, 0, 40, 7), "minute": Region(0, 7, 40, 12),
    "ten": Region(40, 0, 40, 15), "all": Region(80, 0, 40, 17),
}


@pytest.mark.parametrize("start, direction, expected", [
    ("current", "down", "minute"), ("minute", "up", "current"), ("current", "right", "ten"),
    ("minute", "right", "ten"), ("ten", "right", "all"), ("all", "left", "ten"),
    ("ten", "left", "current"), ("current", "left", None), ("all", "right", None),
    ("current", "up", None),
])
def test_neighbour(start, direction, expected):
    assert neighbour(GRID, start, direction) == expected


def test_neighbour_prefers_overlap_then_distance():
    regions = {"a": Region(0, 0, 10, 5), "diag": Region(11, 6, 10, 5),
               "far": Region(40, 0, 10, 5)}
    assert neighbour(regions, "a", "right") == "far"  # in line beats diagonal-but-closer
    assert neighbour({"a": regions["a"], "diag": regions["diag"]}, "a", "right") == "diag"


# -- pane lines: the same numbers as the headless console ---------------------------------------
def test_pane_lines_match_the_console_block():
    view = synthetic_store().view(T0 + timedelta(minutes=14, seconds=20))
    block = "\n".join(line.plain for line in minute_block(view))
    for lines, window in ((last_minute_lines(view), "last_minute"),
                          (last_10_minutes_lines(view), "last_10_minutes"),
                          (all_time_lines(view), "all_time")):
        shown = {line.key: line.text for line in lines}
        values = view.windows[window]
        for metric in ("positions_opened", "positions_closed", "price_updates",
                       "ts_activations", "sl_updates", "zombies", "emergency_closes", "errors",
                       "ws_reconnects"):
            if metric in view.unavailable:  # no event of its types in this store: no source
                assert shown[metric] == "—" and metric not in values, (window, metric)
                continue
            assert shown[metric] == fmt.count(values[metric]), (window, metric)
        if window != "last_minute":
            assert shown["open_positions_avg_max"] == fmt.avg_max(
                values["open_positions_avg"], values["open_positions_max"])
    # The console prints the same figures (all-time opened and price updates, e.g.).
    everything = view.windows["all_time"]
    assert f"opened {fmt.count(everything['positions_opened'])}" in block
    assert f"price updates {fmt.count(everything['price_updates'])}" in block
    current = {line.key: line for line in current_lines(view)}
    assert current["open"].text == "6" and current["open.binance"].text == "3"
    assert current["unprotected"].level == BAD and current["unprotected"].text == "1"
    assert f"without SL ! {current['unprotected'].text}" in block


def test_quiet_zero_and_marked_problems():
    store = synthetic_store(unprotected=False)
    view = store.view(T0 + timedelta(minutes=14, seconds=20))
    current = {line.key: line for line in current_lines(view)}
    assert current["unprotected"].quiet and not current["unprotected"].level
    assert all(level in (BAD, WARN) for level, _ in problems(view))
    assert "without SL" not in " ".join(text for _, text in problems(view))


def test_every_counter_has_a_row_and_a_trend_in_the_last_minute():
    view = synthetic_store().view(T0 + timedelta(minutes=14, seconds=20))
    lines = {line.key: line for line in last_minute_lines(view)}
    for metric in EVENT_COUNTERS:
        # Detections are not panes' rows; the events twins of opened/closed show only when
        # they disagree with the positions table.
        if metric in ("aged_detected", "unprotected_detected", "events",
                      "positions_opened_events", "positions_closed_events"):
            continue
        assert metric in lines
        if metric in view.unavailable:
            assert lines[metric].text == "—" and lines[metric].series == ()
            continue
        assert lines[metric].series is not None and len(lines[metric].series) == 60
    assert [spec.id for spec in PANES] == ["pane-current", "pane-last-minute", "pane-last-10",
                                           "pane-all-time"]


def test_log_staleness_in_the_header():
    view = synthetic_store().view(T0 + timedelta(minutes=14, seconds=20))
    assert log_silent_s(view) is None and "log line" not in status_line(view)
    with_log = dataclasses.replace(view, extra={"log": {"last_line_at": view.now -
                                                        timedelta(seconds=5)}})
    assert log_silent_s(with_log) == pytest.approx(5.0)
    assert "log line 5 s ago" in status_line(with_log)
    assert log_silent_s(dataclasses.replace(view, extra={"log": {"silent_s": 2.0}})) == 2.0


# -- the alerts pane ------------------------------------------------------------------------------
def alert(key, severity, state, message, minutes=3, acknowledged=False):
    start = T0 + timedelta(minutes=14, seconds=20) - timedelta(minutes=minutes)
    return AlertItem(key=key, rule=key.split("#")[0], severity=severity, state=state,
                     message=message, value=1, threshold=0, started_at=start,
                     fired_at=start if state != "pending" else None,
                     resolved_at=start + timedelta(minutes=1) if state == "resolved" else None,
                     acknowledged=acknowledged)


ALERTS = (
    alert("unprotected#1", "critical", "firing", "1 open position without a stop-loss"),
    alert("errors#2", "warning", "firing", "7 errors in the last minute", 1),
    alert("aged#1", "info", "pending", "6 positions older than 3 h", 0),
    alert("ws#1", "warning", "resolved", "WebSocket reconnects: 2", 20),
)


def offline_app(tmp_path: Path, alerts=None) -> tuple[BotmonApp, object]:
    store = synthetic_store()
    view = store.view(T0 + timedelta(minutes=14, seconds=20))
    monitor = Monitor(store.config, RunDir(tmp_path / "run"), duration_s=8 * 3600,
                      alerts=alerts)
    return BotmonApp(Recorder.here(monitor), view, autostart=False), view


async def test_alerts_pane_lists_the_engine_items_in_its_order(tmp_path):
    class Engine:  # an engine is loaded; the recorder sends its bell with the frame
        pass

    app, view = offline_app(tmp_path, alerts=Engine())
    rang: list[bool] = []
    app.bell = lambda: rang.append(True)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(AlertsPane)
        assert "none firing" in static_text(pane.query_one(".alerts-idle"))
        app.post_message(ViewUpdated(dataclasses.replace(view, alerts=ALERTS), bell=True))
        await pilot.pause()
        table = pane.query_one(AlertTable)
        assert table.keys == [item.key for item in ALERTS]
        first = table.cells("unprotected#1")
        assert first[0].text.plain == "▲ CRITICAL" and first[1].text.plain == "firing"
        assert table.cells("ws#1")[0].text.style.dim  # resolved: greyed
        assert pane.has_class("-has-alerts") and pane.border_subtitle.startswith("2 firing")
        assert rang == [True]  # a new critical alert rings once
        assert app.query_one("#header").has_class("-flash")
        header = static_text(app.query_one("#header-problems"))
        assert "alerts: 1 critical, 1 warning" in header
        table.focus()
        table.move_cursor(row=1)
        assert pane.selected.key == "errors#2"  # for the `a` key of the rules-engine issue
    assert severity_counts(ALERTS) == {"critical": 1, "warning": 1, "info": 0}


class AckEngine:
    """The bits of tui.alerts.engine.AlertEngine the alert keys touch."""

    def __init__(self, items):
        self._items = tuple(items)
        self.acked: list[str] = []

    def take_bell(self):
        return False

    def items(self):
        return self._items

    def acknowledge(self, key):
        item = next((i for i in self._items if i.key == key), None)
        if item is None or item.acknowledged:
            return False
        self.acked.append(key)
        self._items = tuple(dataclasses.replace(i, acknowledged=True) if i.key == key else i
                            for i in self._items)
        return True


async def test_a_acknowledges_the_selected_alert_and_A_shows_firing_only(tmp_path):
    engine = AckEngine(ALERTS)
    app, view = offline_app(tmp_path, alerts=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(AlertsPane)
        app.post_message(ViewUpdated(dataclasses.replace(view, alerts=engine.items())))
        await pilot.pause()
        table = pane.query_one(AlertTable)
        assert not table.has_focus
        await pilot.press("a")  # a stray a: focuses the alerts, acknowledges nothing
        await pilot.pause()
        assert table.has_focus and engine.acked == []
        table.move_cursor(row=0)
        await pilot.press("a")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert engine.acked == ["unprotected#1"]
        # Still listed, no longer loud: greyed, marked (ack), out of the header's count.
        assert table.keys == [item.key for item in ALERTS]
        cells = table.cells("unprotected#1")
        assert cells[1].text.plain == "firing (ack)" and cells[0].text.style.dim
        assert not cells[0].text.plain.startswith("▲")
        header = static_text(app.query_one("#header-problems"))
        assert "1 warning" in header and "critical" not in header
        await pilot.press("a")  # again: nothing to do, no second acknowledgement
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert engine.acked == ["unprotected#1"]

        await pilot.press("A")  # firing only: the pending and resolved ones leave the table
        await pilot.pause()
        assert table.keys == ["unprotected#1", "errors#2"]
        assert "firing only" in pane.border_subtitle
        # A later frame keeps the filter.
        app.post_message(ViewUpdated(dataclasses.replace(view, alerts=engine.items(),
                                                         version=view.version + 1)))
        await pilot.pause()
        assert table.keys == ["unprotected#1", "errors#2"]
        await pilot.press("A")
        await pilot.pause()
        assert table.keys == [item.key for item in ALERTS]


async def test_without_an_engine_the_pane_says_so(tmp_path):
    app, view = offline_app(tmp_path)
    async with app.run_test(size=(120, 40)):
        text = static_text(app.query_one(AlertsPane).query_one(".alerts-idle"))
        assert "no rules engine" in text


async def test_light_theme_repaints_the_tables(tmp_path):
    app, view = offline_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        from tui.ui.positions import PositionsTable

        table = app.query_one(PositionsTable)
        dark = table.palette.bad.color
        app.theme = "textual-light"
        await pilot.pause()
        await pilot.pause()
        assert table.palette.bad.color != dark
        key = table.keys[0]
        assert table.cells(key)[5].text.style == table.palette.bad  # rebuilt with new colours
        assert re.search(r"\d", static_text(app.query_one("#header-run")))


async def test_a_new_risky_position_shows_at_the_top(tmp_path):
    """A cursor on the first row follows the top: a new unprotected position is seen at once."""
    from tui.ui.positions import PositionsTable

    app, view = offline_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.query_one(PositionsTable)
        protected = tuple(dataclasses.replace(p, has_stop_loss=True, stop_loss_price=9.0)
                          for p in view.positions)
        app.post_message(ViewUpdated(dataclasses.replace(view, positions=protected, version=90)))
        await pilot.pause()
        assert table.cursor_row == 0
        new = dataclasses.replace(protected[0], id=77, symbol="TONUSDT", has_stop_loss=False,
                                  stop_loss_price=None, opened_at=view.now - timedelta(seconds=40))
        app.post_message(ViewUpdated(dataclasses.replace(view, positions=protected + (new,),
                                                         version=91)))
        await pilot.pause()
        assert table.keys[0] == "77" and table.selected_key() == "77"
        assert table.scroll_y == 0


async def test_resizing_under_the_help_screen_relayouts_the_main_screen(tmp_path):
    app, _view = offline_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        main = app.screen
        assert main.has_class("-medium")
        await pilot.press("question_mark")
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert main.has_class("-narrow") and not main.has_class("-medium")
        assert not app.screen.has_class("-narrow")  # the help screen keeps its own look
