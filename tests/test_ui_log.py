"""Pilot tests of the bot-log pane: a monitor following a log file in tmp_path."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.test_ui_support import make_monitor, static_text
from tui.recorder import Recorder
from tui.ui.app import BotmonApp
from tui.ui.log_pane import LogPane
from tui.ui.messages import ViewUpdated
from tui.ui.metric_pane import MetricPane


@pytest.fixture
async def followed(bot_db, tmp_path):
    logs = tmp_path / "monitoring_logs"
    logs.mkdir()
    log = logs / "bot_20261123_090000.log"
    log.write_text("")
    monitor = make_monitor(bot_db, tmp_path, **{"logs.paths": [str(logs / "bot_*.log")]})
    view = await monitor.open()
    assert monitor.poll_log() == 0  # the feed finds the file (and follows it from its end)
    try:
        yield monitor, view, log
    finally:
        await monitor.close()


def append(log, *records: tuple[str, str, str]) -> None:
    stamp = (datetime.now() + timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S,123")
    with log.open("a", encoding="utf-8") as handle:
        for level, logger, message in records:
            handle.write(f"{stamp} - {logger} - {level} - {message}\n")


async def feed(monitor) -> object:
    """One round of the log feed, the last record flushed, then a tick (as the loop does)."""
    monitor.poll_log()
    monitor.take_log(monitor.log_feed.entries(monitor.log_feed.tailer.flush(), monitor.now()),
                     False)
    return await monitor.tick()


async def test_new_log_lines_appear_in_place_and_l_filters(followed):
    monitor, first, log = followed
    app = BotmonApp(Recorder.here(monitor), first, autostart=False)
    async with app.run_test(size=(120, 50)) as pilot:
        pane = app.query_one(LogPane)
        assert pane.has_class("-followed") and pane.display
        assert "log line" in static_text(app.query_one("#header-status"))
        append(log, ("INFO", "core.position_manager", "opened BTCUSDT"),
               ("ERROR", "websocket.binance_stream", "Connection failed: boom"))
        app.post_message(ViewUpdated(await feed(monitor)))
        await pilot.pause()
        await pilot.pause()
        text = "\n".join(pane.lines)
        assert "opened BTCUSDT" in text and "✖ ERROR" in text and "Connection failed" in text
        assert pane.written == 2

        # A new line is appended; the two already shown are not written again.
        append(log, ("WARNING", "core.position_manager", "Stop Loss already exists"))
        app.post_message(ViewUpdated(await feed(monitor)))
        await pilot.pause()
        await pilot.pause()
        assert pane.written == 3
        assert "Stop Loss already exists" in pane.lines[-1]

        # The counters both sources give are labelled by source.
        labels = [static_text(row.query_one(".label"))
                  for row in app.query_one("#pane-all-time", MetricPane).query("MetricRow")]
        assert "errors (db)" in labels and "errors (log)" in labels
        assert "WS reconn. (db)" in labels and "WS reconn. (log)" in labels
        assert app.query_one("#pane-all-time", MetricPane).values()["log_errors"] == "1"

        await pilot.press("l")  # WARNING+
        await pilot.pause()
        text = "\n".join(pane.lines)
        assert "opened BTCUSDT" not in text and "Stop Loss" in text
        await pilot.press("l")  # ERROR+
        await pilot.pause()
        assert pane.written == 1 and "Connection failed" in "\n".join(pane.lines)
        await pilot.press("l")  # ALL again
        await pilot.pause()
        assert pane.written == 3


async def test_without_a_log_the_pane_is_hidden(bot_db, tmp_path):
    monitor = make_monitor(bot_db, tmp_path)
    view = await monitor.open()
    app = BotmonApp(Recorder.here(monitor), view, autostart=False)
    try:
        async with app.run_test(size=(120, 40)):
            assert not app.query_one(LogPane).has_class("-followed")
            assert "log line" not in static_text(app.query_one("#header-status"))
            labels = [static_text(row.query_one(".label"))
                      for row in app.query_one("#pane-all-time", MetricPane).query("MetricRow")]
            assert "errors" in labels and "errors (db)" not in labels
    finally:
        await monitor.close()


def test_log_lines_by_level():
    from datetime import timezone

    from tui.sources.samples import LogEntry
    from tui.ui.log_pane import entry_text, level_no

    def entry(level, traceback=()):
        return LogEntry(datetime(2026, 1, 1, tzinfo=timezone.utc), level, "core.x", "msg", (),
                        traceback, True, "bot.log", 1)

    error = entry_text(entry("ERROR", ("Traceback", "ValueError: boom")))
    assert "✖ ERROR" in error.plain and error.plain.endswith("(ValueError: boom)")
    assert any("reverse" in str(span.style) for span in error.spans)
    assert "▲ WARNING" in entry_text(entry("WARNING")).plain
    info = entry_text(entry("INFO")).plain
    assert "  INFO" in info and "✖" not in info and "▲" not in info
    assert level_no("critical") > level_no("error") > level_no("warning") > level_no("info")
