"""Memory over an 8-hour audit: 480 simulated minutes at 10x the bot's event rate.

Drives the real Monitor (store, rules hook, snapshot writer, final report) with a synthetic
poller and an explicit clock: no database and no real waiting, so 8 hours take seconds.
The bot writes ~300k events a day (~3.5/s); at 10x that is ~2,100 events a minute, 70 per
2-second poll, over ~70 open positions. Prints RSS at checkpoints.
Target (issue 2): under 100 MB RSS, flat after the first 10 minutes.

    python bench/memory_soak.py [--minutes 480] [--rate 10]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tui.cli import alert_engine
from tui.config import load_config
from tui.monitor import Monitor
from tui.outputs.rundir import RunDir
from tui.sources.cursor import IdCursor
from tui.sources.db import Started
from tui.sources.samples import DbSample, EventRow, OpenPosition

BASE_RATE_PER_S = 300_000 / 86_400
TYPES = (["position_updated"] * 90 + ["trailing_stop_updated"] * 4 + ["order_placed",
         "order_filled", "stop_loss_placed", "position_created", "position_closed",
         "trailing_stop_activated", "trailing_stop_sl_updated", "health_check_failed",
         "websocket_disconnected", "zombie_order_cancelled"])


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class SyntheticPoller:
    """Stands in for DbPoller: the database clock is the bench's explicit clock."""

    def __init__(self, clock: list[float], rate_per_s: float, interval: float) -> None:
        self.clock = clock
        self.per_poll = rate_per_s * interval
        self.rng = random.Random(1)
        self.next_id = 1
        self.positions = [self._position(i) for i in range(1, 71)]

    def _position(self, pid: int) -> OpenPosition:
        now = datetime.fromtimestamp(self.clock[0], timezone.utc)
        return OpenPosition(pid, f"S{pid}USDT", ("binance", "bybit")[pid % 2], "long", "active",
                            now - timedelta(minutes=self.rng.randint(1, 300)), 1.0, 1.01, 1.0,
                            0.01, True, 0.97, True, "waiting", False, 0.97)

    async def connect(self) -> datetime:
        return datetime.fromtimestamp(self.clock[0], timezone.utc)

    async def start(self, history_start: datetime, recount_from: datetime | None = None):
        now = datetime.fromtimestamp(self.clock[0], timezone.utc)
        sample = DbSample(now, 0.0, (), (), None, ts_orphans=None)
        return Started(sample, None, {t: True for t in TYPES})

    async def db_now(self) -> datetime:
        return datetime.fromtimestamp(self.clock[0], timezone.utc)

    cursor = IdCursor(timedelta(seconds=60))

    async def poll(self) -> DbSample:
        now = datetime.fromtimestamp(self.clock[0], timezone.utc)
        n = int(self.per_poll) + (self.rng.random() < self.per_poll % 1)
        events = []
        for _ in range(n):
            event_type = self.rng.choice(TYPES)
            events.append(EventRow(self.next_id, now - timedelta(seconds=self.rng.random() * 5),
                                   event_type, self.rng.choice(("binance", "bybit")), "XUSDT",
                                   "INFO", self.rng.randint(1, 70)))
            self.next_id += 1
        if self.rng.random() < 0.01:  # positions turn over
            self.positions[self.rng.randrange(70)] = self._position(self.next_id)
        return DbSample(now, 1.5 + self.rng.random(), tuple(self.positions), tuple(events),
                        now)

    async def recount(self, start, end):
        raise RuntimeError("no database in this bench: the report uses streamed totals")

    async def close(self) -> None:
        pass


async def main(minutes: int, rate: float) -> None:
    root = Path(tempfile.mkdtemp(prefix="botmon-soak-"))
    clock = [time.time()]
    config = load_config(environ={})
    run_dir = RunDir.create(config, out=str(root))
    monitor = Monitor(config, run_dir, duration_s=minutes * 60.0, wall=lambda: clock[0],
                      alerts=alert_engine(config, run_dir))
    monitor.poller = SyntheticPoller(clock, BASE_RATE_PER_S * rate, config.poll.interval_s)
    started = time.perf_counter()
    await monitor.open()
    print(f"start: RSS {rss_mb():.1f} MB (alerts engine: "
          f"{'yes' if monitor.alerts is not None else 'not installed'})")
    interval = config.poll.interval_s
    polls_per_minute = int(60 / interval)
    checkpoints = {1, 10, 30, 60, 120, 240, 360, minutes}
    rss_at: dict[int, float] = {}
    for minute in range(1, minutes + 1):
        for _ in range(polls_per_minute):
            clock[0] += interval
            await monitor.step()
        if minute in checkpoints:
            rss_at[minute] = rss_mb()
            print(f"minute {minute:>3}: RSS {rss_at[minute]:6.1f} MB, "
                  f"events {monitor.poller.next_id - 1:>9,}, "
                  f"snapshots {monitor.store.snapshots_written}", flush=True)
    clock[0] += config.run.snapshot_grace_s + 1
    await monitor.tick()
    path = await monitor.finish("duration")
    elapsed = time.perf_counter() - started
    lines = sum(1 for p in run_dir.path.glob("monitoring_snapshots_*.jsonl")
                for _ in p.open())
    growth = rss_at[minutes] - rss_at[10]
    print(f"done in {elapsed:.1f} s wall: {lines} snapshot lines, report {path.name}")
    print(f"RSS peak {max(rss_at.values()):.1f} MB; growth minute 10 -> {minutes}: "
          f"{growth:+.1f} MB (target: < 100 MB, flat after 10 minutes)")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=int, default=480)
    parser.add_argument("--rate", type=float, default=10.0, help="multiple of the bot's rate")
    args = parser.parse_args()
    asyncio.run(main(args.minutes, args.rate))
