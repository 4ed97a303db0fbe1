"""Hourly notes: the pre-fill equals the store for a seeded hour; saving twice replaces."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tui.config import load_config
from tui.outputs.notes import HourNote, NotesFile, audit_hour, format_figures
from tui.sources.samples import DbSample, EventRow, OpenPosition, PositionChange
from tui.store.store import MetricStore

T0 = datetime(2026, 11, 23, 9, 49, 0, tzinfo=timezone.utc)


def test_audit_hours_count_from_the_run_start():
    hour = audit_hour(T0, T0 + timedelta(hours=2, minutes=5))
    assert hour.number == 3
    assert hour.start == T0 + timedelta(hours=2) and hour.end == T0 + timedelta(hours=3)
    assert hour.title().startswith("Hour 3 (")


def test_prefilled_figures_equal_the_store_for_a_seeded_hour():
    store = MetricStore(load_config(environ={}), run_start=T0)
    events, opens = [], []
    for minute in range(70):  # 09:49 .. 10:58; hour 1 is 09:49-10:49
        at = T0 + timedelta(minutes=minute, seconds=10)
        row = OpenPosition(minute, f"S{minute}USDT", "bybit", "long", "active", at, 1.0, 1.0,
                           0.0, 0.0, True, 0.9, True, None, None, None)
        opens.append(PositionChange("opened", row, at))
        if minute % 10 == 0:
            events.append(EventRow(minute * 2 + 2, at, "order_error", "binance", "X", "ERROR", 1))
    store.ingest(DbSample(T0 + timedelta(minutes=70), 2.0, (), tuple(events), None,
                          changes=tuple(opens)))
    values = store.between(T0, T0 + timedelta(hours=1))
    assert values["positions_opened"] == 60
    assert values["errors"] == 6
    rows = format_figures(values, ("binance", "bybit"))
    assert "| Positions opened | 60 |" in rows
    assert "| Errors | 6 |" in rows
    assert "| bybit: opened / closed / open (max) | 60 / 0 / – |" in rows


def test_saving_an_hour_twice_replaces_its_section_and_keeps_the_others(tmp_path):
    notes = NotesFile(tmp_path, T0)
    first = HourNote(audit_hour(T0, T0), ["| Figure | Value |"], ["WARNING x#1"], "spike", "ok")
    second = HourNote(audit_hour(T0, T0 + timedelta(hours=1)), [], [], "", "all calm")
    notes.save(first)
    notes.save(second)
    first.notes = "ok, re-checked"
    notes.save(first)
    text = (tmp_path / "hourly_observations.md").read_text()
    assert text.count("## Hour 1 ") == 1 and text.count("## Hour 2 ") == 1
    assert text.index("## Hour 1 ") < text.index("## Hour 2 ")
    assert "ok, re-checked" in text and "all calm" in text
    assert notes.load(1) == ("spike", "ok, re-checked")
    assert notes.load(2) == ("", "all calm")
    assert notes.missing(T0 + timedelta(hours=3, minutes=1)) == [3]
