"""CPU cost of a Prometheus scrape of botmon's /metrics, and of handing it a view.

Builds a realistic view with the real MetricStore (70 open positions over N exchanges, the
bot's event mix at 10x its rate for 10 minutes, the log counters on, 5 alert episodes
active), then measures:

- the poll loop's share: ``MetricsExporter.take(view)`` per tick;
- one scrape's work in the server thread: the view converted to metric families and encoded
  (``generate_latest``), as CPU time;
- whole HTTP scrapes of the running exporter (client in the same process, so the CPU figure
  includes urllib's side too: an upper bound).

    python bench/metrics_scrape.py [--exchanges 2] [--scrapes 500]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import time
import urllib.request
from datetime import datetime, timedelta, timezone

from prometheus_client import generate_latest

from tui.alerts.model import AlertItem
from tui.config import load_config
from tui.outputs.prometheus import MetricsExporter
from tui.sources.samples import DbSample, EventRow, OpenPosition
from tui.store.store import MetricStore

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
TYPES = (["position_updated"] * 90 + ["trailing_stop_updated"] * 4 + [
    "position_created", "position_closed", "trailing_stop_activated", "trailing_stop_sl_updated",
    "health_check_failed", "websocket_disconnected", "zombie_order_cancelled", "order_error"])


def build_view(exchanges: int):
    names = [f"ex{i}" for i in range(exchanges)] if exchanges > 2 else ["binance", "bybit"]
    store = MetricStore(load_config(environ={}), run_start=T0)
    store.log_enabled = True
    rng = random.Random(1)
    positions = tuple(
        OpenPosition(i, f"S{i}USDT", names[i % len(names)], "long", "active",
                     T0 - timedelta(hours=rng.random() * 5), 1.0, 1.0, 0.5, 0.1, i % 17 != 0,
                     0.9, True, "waiting", False, None) for i in range(70))
    next_id = 1
    for second in range(0, 600, 2):  # 10 minutes of 2-second polls, 70 events a poll
        now = T0 + timedelta(seconds=second)
        events = []
        for _ in range(70):
            events.append(EventRow(next_id, now - timedelta(seconds=rng.random() * 5),
                                   rng.choice(TYPES), rng.choice(names + [None]), "XUSDT",
                                   "INFO", rng.randrange(70)))
            next_id += 1
        store.ingest(DbSample(now, 2.0 + rng.random(), positions, tuple(events), now))
    view = store.view(T0 + timedelta(seconds=601))
    alerts = tuple(AlertItem(f"r{i}#1", f"rule_{i}", "warning", "firing", "m", 1, 0, T0)
                   for i in range(5))
    return dataclasses.replace(view, alerts=alerts)


def cpu_per_call(fn, n: int) -> float:
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=2)
    parser.add_argument("--scrapes", type=int, default=500)
    args = parser.parse_args()
    view = build_view(args.exchanges)
    exporter = MetricsExporter("prod", {"version": "bench"})
    exporter.take(view)
    body = generate_latest(exporter.registry)
    series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    take_us = cpu_per_call(lambda: exporter.take(view), 100_000) * 1e6
    encode_ms = cpu_per_call(lambda: generate_latest(exporter.registry), args.scrapes) * 1e3
    port = exporter.start("127.0.0.1", 0)
    url = f"http://127.0.0.1:{port}/metrics"

    def scrape() -> None:
        with urllib.request.urlopen(url, timeout=5) as response:
            response.read()

    scrape()
    wall = time.perf_counter()
    http_ms = cpu_per_call(scrape, args.scrapes) * 1e3
    wall_ms = (time.perf_counter() - wall) / args.scrapes * 1e3
    exporter.close()
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
          f"({os.cpu_count()} cores); {args.exchanges} exchanges, {series} series, "
          f"{len(body) / 1024:.1f} KiB per scrape")
    print(f"poll loop, take(view) per tick:          {take_us:8.3f} µs CPU")
    print(f"server thread, build + encode a scrape:  {encode_ms:8.3f} ms CPU")
    print(f"whole HTTP scrape (server + client):     {http_ms:8.3f} ms CPU, "
          f"{wall_ms:.3f} ms wall")
    print(f"at a 15 s scrape interval: {encode_ms / 15_000 * 100:.4f} % of one core")


if __name__ == "__main__":
    main()
