"""The headless console (tui/outputs/console.py, tui/runner.py): alerts say what to do, one
moment's numbers per block, both reports at the planned end."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import time
from datetime import timedelta
from types import MappingProxyType

from rich.console import Console

from tests.test_ui_support import T0, FakeClock, make_monitor, seed_positions, synthetic_store
from tui.alerts.engine import engine_for
from tui.outputs.console import AlertLines, ConsolePrinter, minute_block
from tui.runner import run_headless


def with_current(view, now, **values):
    """``view`` at ``now`` with some current gauges replaced."""
    windows = {name: dict(window) for name, window in view.windows.items()}
    windows["current"].update(values)
    return dataclasses.replace(
        view, now=now, windows=MappingProxyType({k: MappingProxyType(v)
                                                 for k, v in windows.items()}))


def evaluated(engine, view):
    engine.evaluate(view)
    return dataclasses.replace(view, alerts=engine.items())


def plain(lines) -> str:
    return "\n".join(line.plain for line in lines)


def test_a_firing_alert_prints_its_runbook_and_affected_items_once():
    store = synthetic_store()
    engine = engine_for(store.config)
    printer = AlertLines()
    base = dataclasses.replace(store.view(T0 + timedelta(minutes=14)), details=MappingProxyType(
        {"unprotected": ("ETHUSDT/bybit 4m12s", "XRPUSDT/binance 3m05s")}))
    start = base.now
    printed = []
    for second in range(0, 240, 10):  # the rule holds for 3 minutes before it fires
        view = evaluated(engine, with_current(base, start + timedelta(seconds=second),
                                              unprotected=2))
        printed.append(plain(printer.lines(view)))
    fired_at = next(i for i, text in enumerate(printed) if "CRITICAL firing" in text)
    text = printed[fired_at]
    assert "affected: ETHUSDT/bybit 4m12s, XRPUSDT/binance 3m05s" in text
    assert "runbook:  Open the positions pane" in text
    assert "set it by hand" in text  # the whole runbook, every line
    later = printed[fired_at + 1]
    assert "CRITICAL firing" in later and "runbook" not in later and "affected" not in later


def test_without_items_the_affected_line_says_so():
    store = synthetic_store()
    engine = engine_for(store.config)
    base = store.view(T0 + timedelta(minutes=14))
    text = ""
    for second in range(0, 240, 10):
        view = evaluated(engine, with_current(base, base.now + timedelta(seconds=second),
                                              unprotected=1))
        text += plain(AlertLines().lines(view))
    assert "affected: —" in text


def test_one_block_is_one_moment_even_while_an_alert_keeps_firing():
    """``without SL 0`` above ``3 open position(s) without a stop-loss`` is explained in the
    same block: the alert line says what it sees now."""
    store = synthetic_store()
    engine = engine_for(store.config)
    printer = AlertLines()
    base = store.view(T0 + timedelta(minutes=14))
    for second in range(0, 200, 10):
        evaluated(engine, with_current(base, base.now + timedelta(seconds=second),
                                       unprotected=3))
    # The positions got their stop-loss: the gauge is 0, the rule keeps firing 30 s more.
    view = evaluated(engine, with_current(base, base.now + timedelta(seconds=205),
                                          unprotected=0))
    block = plain(minute_block(view, printer.lines(view)))
    assert "without SL 0" in block
    firing = next(line for line in block.splitlines() if "CRITICAL firing" in line)
    assert "3 open position(s) without a stop-loss" in firing
    assert "cleared: now 0" in firing


def test_while_the_database_is_down_the_gauges_say_they_are_old():
    store = synthetic_store()
    now = T0 + timedelta(minutes=14, seconds=20)
    store.record_failure(now - timedelta(seconds=48), "database unreachable")
    block = plain(minute_block(store.view(now)))
    current = next(line for line in block.splitlines() if line.startswith("CURRENT STATE"))
    assert "last values, from before" in current and "database down" in current


def test_figures_without_a_source_print_a_dash_not_zero():
    view = synthetic_store().view(T0 + timedelta(minutes=14, seconds=20))
    windows = {name: {k: v for k, v in window.items() if not k.startswith("unprotected")}
               for name, window in view.windows.items()}
    view = dataclasses.replace(view, windows=MappingProxyType(windows),
                               unavailable=MappingProxyType({"unprotected": "no stop-loss data"}))
    block = plain(minute_block(view))
    assert "without SL —" in block and "unprotected: no stop-loss data" in block


class TickingClock(FakeClock):
    def __init__(self, step: float) -> None:
        super().__init__()
        self.step = step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


async def test_headless_at_the_planned_end_writes_both_reports_and_prints_their_paths(
        bot_db, tmp_path):
    await seed_positions(bot_db)
    monitor = make_monitor(bot_db, tmp_path, duration_s=1.0, wall=TickingClock(0.5),
                           **{"run.snapshot_grace_s": 0.0})
    await monitor.open()
    out = io.StringIO()
    printer = ConsolePrinter(Console(file=out, width=200, highlight=False, soft_wrap=True))
    try:
        code = await asyncio.wait_for(run_headless(
            monitor, printer, asyncio.Event(), [],
            export_options={"use_db": False, "use_logs": False}), 60)
    finally:
        await monitor.close()
    text = out.getvalue()
    assert code == 0
    md = next(monitor.run_dir.path.glob("audit_report_*.md"))
    js = next(monitor.run_dir.path.glob("audit_report_*.json"))
    assert f"final report: {monitor.finished}" in text
    assert f"audit report: {md}" in text and str(js) in text
    audit = json.loads(js.read_text())
    assert audit["run"]["finished_by"] == "duration"
    assert audit["run"]["final_report"] == monitor.finished.name


async def test_headless_stopped_early_writes_the_final_report_and_says_how_to_get_the_audit(
        bot_db, tmp_path):
    monitor = make_monitor(bot_db, tmp_path, wall=time.time)
    await monitor.open()
    out = io.StringIO()
    printer = ConsolePrinter(Console(file=out, width=200, highlight=False, soft_wrap=True))
    stop = asyncio.Event()
    stop.set()
    try:
        code = await run_headless(monitor, printer, stop, ["SIGINT"])
    finally:
        await monitor.close()
    text = out.getvalue()
    assert code == 0 and "final report:" in text
    assert f"botmon report {monitor.run_dir.path} builds it" in text
    assert not list(monitor.run_dir.path.glob("audit_report_*"))
