"""Alerts say what to do: enter on an alert opens its runbook and the affected items."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from tests.test_ui_support import static_text
from tests.test_ui_units import ALERTS, AckEngine, offline_app
from tui.ui.alert_screen import AlertScreen
from tui.ui.alerts_pane import AlertsPane, AlertTable
from tui.ui.messages import ViewUpdated

RUNBOOK = """
Open the positions pane (sorted: unprotected first) and note symbol, exchange and status.
If the bot does not set one within minutes, set it by hand and record it in the hourly notes.
"""
UNPROTECTED = dataclasses.replace(
    ALERTS[0], message="1 open position(s) without a stop-loss: ETHUSDT/bybit 45m30s",
    condition="current.unprotected > 0 for 3m", runbook=RUNBOOK.strip())
ERRORS = dataclasses.replace(ALERTS[1], condition="last_minute.errors > 5")
ITEMS = (UNPROTECTED, ERRORS)


async def open_alert(app, pilot, row: int) -> AlertScreen:
    table = app.query_one(AlertsPane).query_one(AlertTable)
    table.focus()
    table.move_cursor(row=row)
    await pilot.press("enter")
    await pilot.pause()
    assert isinstance(app.screen, AlertScreen)
    return app.screen


async def test_enter_on_an_alert_shows_its_runbook_and_the_affected_items(tmp_path):
    engine = AckEngine(ITEMS)
    app, view = offline_app(tmp_path, alerts=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        app.post_message(ViewUpdated(dataclasses.replace(view, alerts=engine.items())))
        await pilot.pause()
        assert "enter: what to do" in app.query_one(AlertsPane).border_subtitle
        screen = await open_alert(app, pilot, 0)
        text = static_text(screen.query_one("#alert-text"))
        assert "Affected now" in text and "• ETHUSDT/bybit 45m30s" in text
        assert "Open the positions pane" in text and "set it by hand" in text
        assert "current.unprotected > 0 for 3m" in text

        # The items follow the live view while the screen is open.
        later = dataclasses.replace(view, alerts=engine.items(), details=MappingProxyType(
            {"unprotected": ("ETHUSDT/bybit 46m30s", "SOLUSDT/binance 3m01s")}))
        app.post_message(ViewUpdated(later))
        await pilot.pause()
        text = static_text(screen.query_one("#alert-text"))
        assert "ETHUSDT/bybit 46m30s" in text and "SOLUSDT/binance 3m01s" in text

        await pilot.press("a")  # acknowledge from the runbook screen
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not isinstance(app.screen, AlertScreen)
        assert engine.acked == ["unprotected#1"]

        screen = await open_alert(app, pilot, 1)  # no items for errors, no runbook: dashes
        text = static_text(screen.query_one("#alert-text"))
        assert "Affected now\n  —" in text and "What to do (runbook)\n  —" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, AlertScreen)


async def test_an_alert_on_a_metric_without_a_source_says_so(tmp_path):
    item = dataclasses.replace(ERRORS, condition="last_minute.zombies > 0")
    engine = AckEngine((item,))
    app, view = offline_app(tmp_path, alerts=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        app.post_message(ViewUpdated(dataclasses.replace(view, alerts=engine.items())))
        await pilot.pause()
        screen = await open_alert(app, pilot, 0)
        text = static_text(screen.query_one("#alert-text"))
        assert f"no source: {view.unavailable['zombies']}" in text
