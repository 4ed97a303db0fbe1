"""Running a monitor to its end: signals, the headless loop, and the final report on any exit."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import contextmanager
from typing import Iterator

from tui.monitor import MinuteWritten, Monitor
from tui.outputs.console import ConsolePrinter

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
                       received: list[str]) -> int:
    """Print a block per written minute until the duration ends or a signal (recorded in
    ``received`` by :func:`stop_on_signals`) sets ``stop``."""
    minutes: list[MinuteWritten] = []
    monitor.on_minute.append(minutes.append)

    def on_view(view) -> None:
        if minutes:
            alerts = _alert_lines(monitor)
            minutes.clear()
            printer.block(view, alerts)

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
    printer.say(f"run directory: {monitor.run_dir.path}")
    return 0


def _alert_lines(monitor: Monitor) -> list[str]:
    lines_of = getattr(monitor.alerts, "console_lines", None)
    return list(lines_of()) if callable(lines_of) else []
