"""``botmon demo``: a real PostgreSQL server, a simulated bot, and the monitor, in one command.

The server runs from the pip-installed wheel and keeps its data directory between runs (the
second start takes a fraction of a second); the demo database itself is recreated each time so
every demo starts from a believable bot state. Whatever way the demo ends (q, Ctrl+C, SIGTERM,
an error, or its parent being killed) the server and the simulator stop with it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
from datetime import datetime
from pathlib import Path
from typing import Any, AsyncIterator, Callable

from tui.demo.embedded import EmbeddedPostgres, create_bot_database, psql

DEMO_DATABASE = "botmon_demo"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "botmon" / "demo"


async def _prepare(dsn: str, log_path: Path, args: argparse.Namespace) -> None:
    """The bot's state at start: it has been trading for hours (open positions, a few closed,
    the startup lines in its log), and two hours of its past (closed positions and their events),
    so the minute windows, trends and recent trades have history from the first second."""
    from tui.demo.simulator import BotSimulator

    bot = BotSimulator(dsn, log_path, speed=args.speed, seed=args.seed,
                       bot_version=args.bot_version)
    try:
        await bot.seed()
        await bot.backfill(2.0)
    finally:
        await bot.stop()


def run_demo(args: argparse.Namespace, overrides: dict[str, Any],
             duration_of: Callable[[argparse.Namespace, float], float | None]) -> int:
    from tui.cli import start_monitor
    from tui.config import load_config

    data_dir = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    server = EmbeddedPostgres(data_dir / "pg")
    print(f"starting the embedded PostgreSQL server ({data_dir / 'pg'}) ...", flush=True)
    server.start()  # main thread: the server dies with this process (PR_SET_PDEATHSIG)
    try:
        psql(server, f'DROP DATABASE IF EXISTS "{DEMO_DATABASE}" WITH (FORCE)')
        dsn = create_bot_database(server, DEMO_DATABASE)
        log_dir = data_dir / "monitoring_logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"bot_{datetime.now():%Y%m%d_%H%M%S}.log"
        asyncio.run(_prepare(dsn, log_path, args))
        overrides = dict(overrides)
        overrides["database.dsn"] = dsn
        overrides["logs.paths"] = [str(log_dir / "bot_*.log")]
        config = load_config(args.config, overrides=overrides)
        duration = duration_of(args, config.run.duration_hours)

        @contextlib.asynccontextmanager
        async def simulated_bot() -> AsyncIterator[None]:
            from tui.demo.simulator import BotSimulator

            # a new seed: the running bot must not replay the preparation's random draws
            seed = None if args.seed is None else args.seed + 1
            bot = BotSimulator(dsn, log_path, speed=args.speed, seed=seed,
                               bot_version=args.bot_version)
            task = asyncio.create_task(bot.run(), name="simulated-bot")
            try:
                yield
            finally:
                await bot.stop()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

        banner = (f"demo: database {server.dsn(DEMO_DATABASE)}, bot log {log_path}, "
                  f"rhythm x{args.speed:g}, bot version {args.bot_version}")
        return start_monitor(config, duration, headless=args.headless, out=args.out,
                             background=simulated_bot, banner=banner)
    finally:
        server.stop()
