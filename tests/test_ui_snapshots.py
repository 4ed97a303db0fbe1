"""SVG snapshots of the main screen (pytest-textual-snapshot): steady, alert firing, source down.

Views are built by hand with a pinned clock (no database), the timezone is pinned to UTC, so the
pictures are stable. Update after a deliberate change: ``pytest tests/test_ui_snapshots.py
--snapshot-update`` and look at the report it writes.
"""

from __future__ import annotations

import dataclasses
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest

from tests.test_ui_support import T0, synthetic_store
from tests.test_ui_units import ALERTS
from tui.monitor import Monitor
from tui.outputs.rundir import RunDir
from tui.recorder import Recorder
from tui.ui.app import BotmonApp

pytest.importorskip("pytest_textual_snapshot")
NOW = T0 + timedelta(minutes=14, seconds=20)


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def app_for(view, theme: str | None = None) -> BotmonApp:
    store = synthetic_store()
    monitor = Monitor(store.config, RunDir(Path("/srv/audit/botmon-runs/20251015_110000")),
                      duration_s=8 * 3600)
    app = BotmonApp(Recorder.here(monitor), view, autostart=False)
    if theme:
        app.theme = theme
    return app


def steady_view():
    return synthetic_store().view(NOW)


def down_view():
    store = synthetic_store()
    store.record_failure(NOW - timedelta(seconds=48),
                         "database unreachable: [Errno 111] Connect call failed")
    store.record_failure(NOW, "database unreachable: [Errno 111] Connect call failed")
    return store.view(NOW)


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 50)])
def test_steady(snap_compare, size):
    assert snap_compare(app_for(steady_view()), terminal_size=size)


def test_alert_firing(snap_compare):
    view = dataclasses.replace(steady_view(), alerts=ALERTS)
    assert snap_compare(app_for(view), terminal_size=(120, 40))


def test_source_down(snap_compare):
    assert snap_compare(app_for(down_view()), terminal_size=(120, 40))


def test_light_theme(snap_compare):
    assert snap_compare(app_for(steady_view(), theme="textual-light"), terminal_size=(120, 40))


def test_help_screen(snap_compare):
    assert snap_compare(app_for(steady_view()), press=["question_mark"], terminal_size=(80, 24))
