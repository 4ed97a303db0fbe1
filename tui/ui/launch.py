"""Entry point for the CLI: open the monitor, run the app (and any helpers), print the report."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Iterable

from tui.config import Config
from tui.errors import BotmonError
from tui.monitor import Monitor
from tui.outputs.console import ConsolePrinter
from tui.outputs.rundir import RunDir

log = logging.getLogger(__name__)


async def app_main(config: Config, run_dir: RunDir, duration_s: float | None,
                   extra_tasks: Iterable[Awaitable[Any]] = (), *, alerts: Any = None,
                   title: str = "botmon", printer: ConsolePrinter | None = None) -> int:
    """Monitor in the full-screen app until `q`, a signal or the end of ``duration_s``.

    ``extra_tasks`` (e.g. the demo's simulated bot) run alongside on the same loop and are
    cancelled when the app ends. Raises BotmonError (one line for the CLI) when the database
    cannot be reached at start; the empty run directory is removed then.
    """
    from tui.ui.app import run_app

    printer = printer or ConsolePrinter()
    helpers = [asyncio.ensure_future(task) for task in extra_tasks]
    for helper in helpers:
        helper.add_done_callback(_log_helper_end)
    monitor = Monitor(config, run_dir, duration_s=duration_s, alerts=alerts)
    try:
        try:
            view = await monitor.open()
        except BotmonError:
            run_dir.discard()  # nothing was monitored: leave no empty run behind
            raise
        finished_by = await run_app(monitor, view, title=title)
    finally:
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        await monitor.close()
    printer.say(f"finished: {finished_by}")
    printer.say(f"final report: {monitor.finished}", "bold")
    printer.say(f"run directory: {run_dir.path}")
    return 1 if finished_by.startswith("error") else 0


def _log_helper_end(task: asyncio.Future) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.error("background task failed", exc_info=error)
