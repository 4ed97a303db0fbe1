"""Running a monitor to its end: signals, the headless loop, and the final report on any exit.

At the planned end the headless run writes both reports, the final JSON and then the audit
report built from it, and prints their paths. Stopped early (Ctrl+C, a signal) it writes the final
report only and says how to build the audit report.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import contextmanager
from typing import Any, Iterator

from tui.monitor import MinuteWritten, Monitor
from tui.outputs.console import AlertLines, ConsolePrinter

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[list[str]]:
    """Ctrl+C, SIGTERM and SIGHUP end the run cleanly (final report first)."""
    loop = asyncio.get_running_loop()
    received: list[str] = []

    def handler(sig: signal.Signals) -> None:
        received.append(sig.name)
        stop.set()

    installed = []
    for sig in STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, handler, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        yield received
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


async def run_headless(monitor: Monitor, printer: ConsolePrinter, stop: asyncio.Event,
                       received: list[str], export_options: dict[str, Any] | None = None) -> int:
    """Print a block per written minute until the duration ends or a signal (recorded in
    ``received`` by :func:`stop_on_signals`) sets ``stop``. ``export_options`` go to the audit
    report written at the planned end (tests leave out the slow parts)."""
    minutes: list[MinuteWritten] = []
    monitor.on_minute.append(minutes.append)
    alert_lines = AlertLines()

    def on_view(view) -> None:
        if minutes:  # the block and its alert lines from this one view: one moment
            minutes.clear()
            printer.block(view, alert_lines.lines(view))

    try:
        finished_by = await monitor.run(stop, on_view=on_view)
    except Exception as exc:
        log.exception("unexpected error")
        path = await monitor.finish(f"error: {type(exc).__name__}: {exc}")
        printer.say(f"botmon: unexpected error: {type(exc).__name__}: {exc}", "bold red")
        printer.say(f"final report: {path}")
        return 1
    if received:
        finished_by = f"signal {received[0]}"
    path = await monitor.finish(finished_by)
    printer.say(f"final report: {path}", "bold")
    status = 0
    if finished_by == "duration":
        status = await _audit_report(monitor, printer, export_options or {})
    else:
        printer.say(f"audit report: not written (stopped early); botmon report "
                    f"{monitor.run_dir.path} builds it", "dim")
    printer.say(f"run directory: {monitor.run_dir.path}")
    return status


async def _audit_report(monitor: Monitor, printer: ConsolePrinter,
                        options: dict[str, Any]) -> int:
    """The audit report of the closed run (from the final report just written)."""
    from tui.outputs.audit_report import build_audit_report

    printer.say("writing the audit report (log and database analysis)…", "dim")
    try:
        md, js = await asyncio.to_thread(build_audit_report, monitor.run_dir.path,
                                         monitor.config, **options)
    except Exception as exc:  # noqa: BLE001 - the final report is out; say how to retry
        log.exception("audit report failed")
        printer.say(f"audit report failed: {type(exc).__name__}: {exc} (botmon report "
                    f"{monitor.run_dir.path} builds it again)", "bold red")
        return 1
    printer.say(f"audit report: {md}", "bold")
    printer.say(f"audit report (JSON): {js}")
    return 0
