"""Poll latency and poll spacing while the full-screen app's event loop is busy.

The app runs headless (Textual's test driver) on an embedded PostgreSQL with the bot's schema
and a few open positions; a "slow repaint" blocks the app's event loop for BLOCK ms every
PERIOD ms on average, at a random phase to the polls (what a resize storm or a big table redraw
does). Two arrangements are measured:

- ``thread``: the monitor on its own recorder thread and event loop (tui/recorder.py, the app's
  arrangement since issue 11);
- ``shared``: the monitor on the app's event loop (the arrangement before issue 11).

For each: the number of polls, the recorded poll latency (p50 / p95 / max, what the header's
``DB OK … ms`` and the report's poll percentiles show) and the largest gap between two poll
starts (the poll interval is 0.2 s). With one shared loop a poll waits for the repaint and the
wait is measured as database latency.

With ``--busy`` the block computes instead of sleeping: it holds the GIL as Python rendering
does, and the recorder thread then shares the interpreter with it (Python switches threads every
5 ms), which a separate process (issue 13) would not.

    python bench/ui_poll_latency.py [--seconds 10] [--block-ms 300] [--period-ms 500] [--busy]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tui.config import load_config
from tui.demo.embedded import EmbeddedPostgres, create_bot_database
from tui.monitor import Monitor
from tui.outputs.rundir import RunDir
from tui.recorder import Recorder
from tui.ui.app import BotmonApp


def spin(seconds: float) -> None:
    """Hold the CPU and the GIL like Python rendering code does (time.sleep would release it)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sum(range(1000))


async def measure(dsn: str, out: Path, arrangement: str, seconds: float, block_s: float,
                  period_s: float, busy: bool) -> dict:
    config = load_config(environ={}, overrides={"database.dsn": dsn, "poll.interval_s": 0.2})
    monitor = Monitor(config, RunDir.create(config, out=str(out)), duration_s=None)
    polls: list[tuple[float, float]] = []  # (started, recorded latency ms)
    poll = monitor.poller.poll

    async def timed():
        started = time.perf_counter()
        sample = await poll()
        polls.append((started, sample.latency_ms))
        return sample

    if arrangement == "thread":
        recorder = Recorder.in_thread(monitor)
        view = await recorder.request("open")
    else:
        recorder = Recorder.here(monitor)
        view = await monitor.open()
    monitor.poller.poll = timed
    app = BotmonApp(recorder, view)
    async with app.run_test(size=(120, 40)) as pilot:
        end = time.perf_counter() + seconds
        rng = random.Random(7)
        while time.perf_counter() < end:
            # The slow repaint: nothing else runs on this loop.
            (spin if busy else time.sleep)(block_s)
            # At a random phase to the polls, as a resize or a redraw comes.
            await asyncio.sleep(rng.uniform(0.0, 2 * (period_s - block_s)))
        await pilot.press("q", "n")
        await app.workers.wait_for_complete()
    if arrangement == "thread":
        await recorder.shutdown()
    else:
        await monitor.close()
    latencies = sorted(ms for _, ms in polls)
    starts = [t for t, _ in polls]
    return {"polls": len(polls),
            "p50": statistics.median(latencies),
            "p95": latencies[int(0.95 * (len(latencies) - 1))],
            "max": latencies[-1],
            "gap": max(b - a for a, b in zip(starts, starts[1:]))}


async def main(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="botmon-uibench-", dir="/tmp"))
    server = EmbeddedPostgres(root / "data")
    server.start()
    try:
        dsn = create_bot_database(server, "uibench")
        print(f"uptime: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
              f"{os.getloadavg()[2]:.2f} (load 1/5/15 min), {os.cpu_count()} cores")
        how = "busy (CPU, holding the GIL)" if args.busy else "asleep (GIL released)"
        print(f"the app's loop blocked {args.block_ms} ms every {args.period_ms} ms for "
              f"{args.seconds:.0f} s, {how}; poll interval 0.2 s")
        print(f"{'arrangement':<12} {'polls':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
              f"{'max gap s':>10}")
        for arrangement in ("thread", "shared"):
            found = await measure(dsn, root / arrangement, arrangement, args.seconds,
                                  args.block_ms / 1000, args.period_ms / 1000, args.busy)
            print(f"{arrangement:<12} {found['polls']:>6} {found['p50']:>8.1f} "
                  f"{found['p95']:>8.1f} {found['max']:>8.1f} {found['gap']:>10.2f}")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--block-ms", type=int, default=300)
    parser.add_argument("--period-ms", type=int, default=500)
    parser.add_argument("--busy", action="store_true",
                        help="block by computing (holds the GIL) instead of sleeping")
    asyncio.run(main(parser.parse_args()))
