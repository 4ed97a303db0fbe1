"""The alert engine: operators, `for`, hysteresis, `and`, episodes, alerts.jsonl, and the default
rules on a real database (an unprotected position fires, fixing it resolves)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType

import asyncpg
import pytest

from tui.alerts.conditions import Condition
from tui.alerts.engine import AlertEngine, engine_for
from tui.alerts.journal import Journal
from tui.alerts.rules import Rule, RuleSet, Settings
from tui.config import load_config
from tui.monitor import Monitor
from tui.outputs.rundir import RunDir
from tui.store.view import MetricsView

T0 = datetime(2025, 10, 15, 12, 0, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def make_view(seconds: float, current: dict | None = None, **windows: dict) -> MetricsView:
    data = {"current": current or {}, "last_minute": {}, "last_10_minutes": {}, "all_time": {}}
    data.update(windows)
    return MetricsView(
        now=at(seconds), run_start=T0, run_end=None, version=int(seconds), db_up=True,
        db_down_since=None, db_error=None,
        windows=MappingProxyType({k: MappingProxyType(v) for k, v in data.items()}),
        exchanges=(), positions=(), recent_events=())


def rule(name: str = "r", severity: str = "warning", metric: str = "x", op: str = ">",
         threshold: float = 5, window: str = "current", **kwargs) -> Rule:
    return Rule(name=name, severity=severity, condition=Condition(metric, window, op, threshold),
                **kwargs)


def engine(*rules: Rule, journal: Journal | None = None, **settings) -> AlertEngine:
    return AlertEngine(RuleSet(tuple(rules), Settings(**settings)), journal=journal)


def states(e: AlertEngine) -> dict[str, str]:
    return {item.key: item.state for item in e.items()}


@pytest.mark.parametrize("op,threshold,value,holds", [
    (">", 5, 6, True), (">", 5, 5, False), (">=", 5, 5, True), (">=", 5, 4.9, False),
    ("<", 5, 4, True), ("<", 5, 5, False), ("<=", 5, 5, True), ("<=", 5, 5.1, False),
    ("==", 0, 0, True), ("==", 0, 1, False), ("!=", 0, 1, True), ("!=", 0, 0, False),
    (">", 0, None, False), ("==", 0, None, False), ("!=", 0, None, False),  # missing: no
    ("<", 5, float("nan"), False),
])
def test_every_operator(op, threshold, value, holds):
    e = engine(rule(op=op, threshold=threshold))
    current = {} if value is None else {"x": value}
    transitions = e.evaluate(make_view(0, current))
    assert [t["event"] for t in transitions] == (["firing"] if holds else [])


@pytest.mark.parametrize("window", ["current", "last_minute", "last_10_minutes", "all_time"])
def test_the_rule_reads_its_own_window(window):
    e = engine(rule(window=window))
    other = "all_time" if window != "all_time" else "current"
    assert e.evaluate(make_view(0, **{other: {"x": 9}})) == []
    assert [t["event"] for t in e.evaluate(make_view(1, **{window: {"x": 9}}))] == ["firing"]


def run_timeline(e: AlertEngine, timeline: list[tuple[float, float | None]],
                 metric: str = "x") -> list[tuple[float, str]]:
    """Evaluate (seconds, value) points; return (seconds, event) of every transition."""
    seen = []
    for seconds, value in timeline:
        current = {} if value is None else {metric: value}
        for transition in e.evaluate(make_view(seconds, current)):
            seen.append((seconds, transition["event"]))
    return seen


@pytest.mark.parametrize("kwargs,timeline,expected", [
    # `for`: pending first, firing once it has held long enough.
    ({"for_s": 30}, [(0, 9), (10, 9), (29, 9), (30, 9), (40, 9), (50, 1)],
     [(0, "pending"), (30, "firing"), (50, "resolved")]),
    # `for`: a blip shorter than `for` never fires.
    ({"for_s": 30}, [(0, 9), (20, 1), (25, 9), (50, 9), (55, 9)],
     [(0, "pending"), (20, "cancelled"), (25, "pending"), (55, "firing")]),
    # A missing metric is not evaluable: it does not hold.
    ({"for_s": 30}, [(0, 9), (10, None), (20, 9)],
     [(0, "pending"), (10, "cancelled"), (20, "pending")]),
    # keep_firing_for: a dip shorter than it stays one episode.
    ({"keep_firing_for_s": 60}, [(0, 9), (10, 1), (50, 9), (60, 1), (100, 1), (120, 1)],
     [(0, "firing"), (120, "resolved")]),
    # Without it the same timeline flaps.
    ({}, [(0, 9), (10, 1), (50, 9), (60, 1), (100, 1), (120, 1)],
     [(0, "firing"), (10, "resolved"), (50, "firing"), (60, "resolved")]),
    # Hysteresis: fires above 5, stays firing while above 3.
    ({"resolve_threshold": 3}, [(0, 6), (10, 4), (20, 5), (30, 3.5), (40, 3), (50, 4), (60, 6)],
     [(0, "firing"), (40, "resolved"), (60, "firing")]),
])
def test_for_keep_firing_and_hysteresis(kwargs, timeline, expected):
    assert run_timeline(engine(rule(**kwargs)), timeline) == expected


def test_hysteresis_below_a_threshold():
    # "<" rules: fires below 10, stays firing while below 20.
    e = engine(rule(op="<", threshold=10, resolve_threshold=20))
    assert run_timeline(e, [(0, 5), (10, 15), (20, 19.9), (30, 20), (40, 5)]) == [
        (0, "firing"), (30, "resolved"), (40, "firing")]
    assert e.episodes()[0]["peak"] == 5  # the worst value of a "<" rule is its minimum


@pytest.mark.parametrize("current,holds", [
    ({"x": 9, "y": 1, "z": 0}, True),
    ({"x": 9, "y": 0, "z": 0}, False),
    ({"x": 9, "y": 1, "z": 2}, False),
    ({"x": 1, "y": 1, "z": 0}, False),
    ({"x": 9, "y": 1}, False),  # z missing: the `and` condition is not evaluable
])
def test_and_conditions_must_all_hold(current, holds):
    e = engine(rule(also=(Condition("y", "current", ">", 0), Condition("z", "current", "==", 0))))
    assert bool(e.evaluate(make_view(0, current))) is holds


def test_an_episode_lifecycle_over_a_synthetic_timeline(tmp_path):
    journal = Journal(tmp_path / "alerts.jsonl")
    e = engine(rule(name="errs", for_s=60, keep_firing_for_s=120,
                    message="{value} errors (> {threshold}), peak {peak}"), journal=journal)
    # Errors above 5 from minute 1 to minute 10 (peak 12 at minute 4), a dip in minute 6,
    # quiet after, then again from minute 20: two episodes, not twenty alerts.
    timeline = []
    for minute in range(0, 30):
        value = 12 if minute == 4 else 8 if 1 <= minute <= 10 and minute != 6 else 0
        value = 7 if 20 <= minute <= 24 else value
        timeline.extend([(minute * 60, value), (minute * 60 + 30, value)])
    events = run_timeline(e, timeline)
    # Pending for `for` (60 s), the dip in minute 6 is bridged by keep_firing_for, which also
    # holds it 120 s after it stopped holding (minute 11 -> resolved at 13:00).
    assert events == [(60, "pending"), (120, "firing"), (780, "resolved"),
                      (1200, "pending"), (1260, "firing"), (1620, "resolved")]
    first, second = e.episodes()
    assert first["minutes"] == 9 and first["peak"] == 12
    assert first["start"] == at(60).isoformat() and first["fired"] == at(120).isoformat()
    assert second["minutes"] == 5 and second["peak"] == 7
    assert first["episode"] == "errs#1" and second["episode"] == "errs#2"
    # The message tells what fired (the last value that held); `value` is the latest one.
    assert first["message"] == "8 errors (> 5), peak 12" and first["value"] == 0
    lines = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [line["event"] for line in lines] == [ev for _, ev in events]
    assert lines[1]["state"] == "firing" and lines[1]["at"] == at(120).isoformat()
    summary = e.summary()
    assert (summary.total, summary.warning, summary.critical) == (2, 2, 0)
    per_minute = summary.extra["alerts_per_minute_view"]
    assert per_minute["total"] == 14 and per_minute["by_rule"] == {"errs": 14}
    assert summary.extra["alert_journal"]["transitions"] == 6


def test_keep_firing_resolution_time():
    e = engine(rule(keep_firing_for_s=120))
    assert run_timeline(e, [(0, 9), (60, 0), (120, 0), (179, 0), (180, 0)]) == [
        (0, "firing"), (180, "resolved")]
    assert e.episodes()[0]["end"] == at(180).isoformat()


def test_items_order_resolved_after_active_and_bounded():
    rules = [rule(name=f"old{i}", threshold=0) for i in range(3)] + [
        rule(name="info", severity="info", metric="i", threshold=0),
        rule(name="warn_pending", metric="w", threshold=0, for_s=60),
        rule(name="warn_late", metric="l", threshold=0),
        rule(name="crit", severity="critical", metric="c", threshold=0),
    ]
    e = engine(*rules, keep_resolved=2)
    e.evaluate(make_view(0, {"x": 1, "i": 1, "w": 1}))
    e.evaluate(make_view(10, {"x": 1, "i": 1, "w": 1, "l": 1, "c": 1}))
    e.evaluate(make_view(20, {"i": 1, "w": 1, "l": 1, "c": 1}))  # the three "old" resolve
    keys = [(item.key, item.state) for item in e.items()]
    # Severity first, firing before pending, then at most keep_resolved resolved ones.
    assert keys[:4] == [("crit#1", "firing"), ("warn_late#1", "firing"),
                        ("warn_pending#1", "pending"), ("info#1", "firing")]
    assert len(keys) == 6 and all(state == "resolved" for _, state in keys[4:])
    assert e.counts() == {"critical": 1, "warning": 1, "info": 1}


def test_acknowledge_by_episode_key_or_rule_name(tmp_path):
    journal = Journal(tmp_path / "alerts.jsonl")
    e = engine(rule(name="a", threshold=0), rule(name="b", metric="y", threshold=0),
               journal=journal)
    e.evaluate(make_view(0, {"x": 1, "y": 1}))
    assert e.acknowledge("a#1") and e.acknowledge("b")
    assert not e.acknowledge("a#1")  # already acknowledged
    assert not e.acknowledge("nope")
    assert all(item.acknowledged for item in e.items())
    e.evaluate(make_view(10, {"x": 0, "y": 1}))
    assert {i.key: (i.state, i.acknowledged) for i in e.items()} == {
        "b#1": ("firing", True), "a#1": ("resolved", True)}
    e.evaluate(make_view(20, {"x": 1, "y": 1}))  # a new episode is not acknowledged
    assert {i.key: i.acknowledged for i in e.items()}["a#2"] is False
    events = [json.loads(line)["event"] for line in journal.path.read_text().splitlines()]
    assert events.count("acknowledged") == 2


def test_the_bell_rings_once_per_new_critical_episode():
    e = engine(rule(name="c", severity="critical", threshold=0),
               rule(name="w", metric="y", threshold=0))
    e.evaluate(make_view(0, {"y": 1}))
    assert e.take_bell() is False  # warnings do not ring
    e.evaluate(make_view(1, {"x": 1, "y": 1}))
    assert e.take_bell() is True and e.take_bell() is False
    e.evaluate(make_view(2, {"x": 1, "y": 1}))
    assert e.take_bell() is False  # still the same episode
    quiet = engine(rule(severity="critical", threshold=0), bell=False)
    quiet.evaluate(make_view(0, {"x": 1}))
    assert quiet.take_bell() is False
    muted_rule = engine(rule(severity="critical", threshold=0, bell=False))
    muted_rule.evaluate(make_view(0, {"x": 1}))
    assert muted_rule.take_bell() is False


def test_messages_fill_placeholders():
    e = engine(rule(threshold=0, also=(Condition("y", "current", ">", 0),),
                    message="{value} of {metric} in {window} (> {threshold}); {value2} open, "
                            "{value:.2f}, {rule}/{severity}"))
    e.evaluate(make_view(0, {"x": 3, "y": 70}))
    assert e.items()[0].message == "3 of x in current (> 0); 70 open, 3.00, r/warning"
    e.evaluate(make_view(1, {"x": 2.5, "y": 70}))
    assert e.items()[0].message.startswith("2.5 of x")


def test_console_lines_show_active_alerts_and_what_resolved():
    e = engine(rule(name="a", threshold=0, message="{value} bad"),
               rule(name="b", severity="critical", metric="y", threshold=0, for_s=60))
    e.evaluate(make_view(0, {"x": 2, "y": 1}))
    lines = e.console_lines()
    assert lines[0].startswith("CRITICAL pending 0s:") and "[b: current.y > 0 for 1m]" in lines[0]
    assert lines[1].startswith("WARNING  firing 0s: 2 bad")
    e.evaluate(make_view(90, {"x": 0, "y": 1}))
    lines = e.console_lines()
    assert lines[0].startswith("CRITICAL firing 1m30s:")
    assert lines[1] == "WARNING  resolved after 1m30s: a (peak 2, 1 min)"
    assert e.console_lines() == [e.console_lines()[0]]  # resolved lines are shown once


def test_a_resumed_run_continues_its_episodes(tmp_path):
    path = tmp_path / "alerts.jsonl"
    rules = (rule(name="a", threshold=0), rule(name="b", metric="y", threshold=0))
    first = engine(*rules, journal=Journal(path))
    first.evaluate(make_view(0, {"x": 1, "y": 1}))
    first.evaluate(make_view(60, {"x": 0, "y": 1}))
    first.evaluate(make_view(120, {"x": 1, "y": 1}))
    with open(path, "a") as handle:
        handle.write('{"torn line')  # the crash
    second = engine(*rules, journal=Journal(path))
    assert second.restore() == 3
    assert states(second) == {"a#2": "firing", "b#1": "firing", "a#1": "resolved"}
    second.evaluate(make_view(180, {"x": 0, "y": 1}))
    second.evaluate(make_view(240, {"x": 1, "y": 1}))
    assert "a#3" in states(second) and second.summary().total == 4


async def test_default_rules_fire_on_an_unprotected_position_and_resolve_when_fixed(
        bot_db, tmp_path):
    conn = await asyncpg.connect(bot_db)
    await conn.execute(
        "INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price, status,"
        " has_stop_loss, stop_loss_price, opened_at) VALUES"
        " ('AUSDT','bybit','long',1,1,'active',false,null, now() - interval '10 minutes'),"
        " ('BUSDT','binance','long',1,1,'active',true,0.9, now() - interval '10 minutes'),"
        # Fresh, flag not set yet, but its stop-loss price is written: protected.
        " ('CUSDT','binance','long',1,1,'active',false,0.9, now())")
    await conn.execute("INSERT INTO monitoring.events (event_type, exchange, position_id) "
                       "VALUES ('position_updated', 'bybit', 1)")
    config = load_config(environ={}, overrides={"database.dsn": bot_db})
    run_dir = RunDir.create(config, out=str(tmp_path))
    wall = [1_000_000.0]
    alerts = engine_for(config, alerts_path=run_dir.file("alerts.jsonl"))
    monitor = Monitor(config, run_dir, duration_s=None, wall=lambda: wall[0], alerts=alerts)
    try:
        await monitor.open()
        view = await monitor.step()
        assert view.value("unprotected") == 1
        assert [(a.rule, a.state) for a in view.alerts] == [("unprotected_positions", "pending")]
        wall[0] += 181  # the database clock moves with the injected wall clock between polls
        view = await monitor.tick()
        # (No poll for three minutes: those minutes are gaps, and snapshot_gap fires too.)
        firing = [a for a in view.alerts if a.state == "firing" and a.severity == "critical"]
        assert [(a.rule, a.severity, a.value) for a in firing] == [
            ("unprotected_positions", "critical", 1)]
        assert firing[0].message.startswith("1 open position(s) without a stop-loss: AUSDT/bybit 10m")
        assert alerts.take_bell() is True
        # Fix it: the bot placed the stop-loss.
        await conn.execute("UPDATE monitoring.positions SET has_stop_loss = true, "
                           "stop_loss_price = 0.9 WHERE symbol = 'AUSDT'")
        view = await monitor.step()
        assert view.value("unprotected") == 0
        assert [a.state for a in view.alerts if a.rule == "unprotected_positions"] == ["firing"]
        wall[0] += 31  # keep_firing_for = 30s
        view = await monitor.tick()
        item = next(a for a in view.alerts if a.rule == "unprotected_positions")
        assert item.state == "resolved" and item.peak == 1
        path = await monitor.finish("test")
    finally:
        await monitor.close()
        await conn.close()
    events = [json.loads(line) for line in run_dir.file("alerts.jsonl").read_text().splitlines()]
    assert [(e["rule"], e["event"]) for e in events if e["severity"] == "critical"] == [
        ("unprotected_positions", "pending"), ("unprotected_positions", "firing"),
        ("unprotected_positions", "resolved")]
    report = json.loads(Path(path).read_text())
    assert report["critical_alerts"] == 1
    assert report["alerts"][0]["rule"] == "unprotected_positions"
    assert report["alerts"][0]["items"][0].startswith("AUSDT/bybit")
    assert report["alerts_per_minute_view"]["by_rule"]["unprotected_positions"] >= 1
