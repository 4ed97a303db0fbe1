"""Minute buckets: everything the monitor knows about one minute of the database clock."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

MINUTE = timedelta(minutes=1)
_MAX_LATENCIES = 600  # one minute of polls at 0.1 s: a cap, not a sample


def minute_of(ts: datetime) -> datetime:
    """The UTC minute that contains ``ts`` (naive datetimes are taken as UTC)."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=timezone.utc)
    return ts.astimezone(timezone.utc).replace(second=0, microsecond=0)


@dataclass(slots=True)
class Gauge:
    """Running aggregate of one gauge's samples."""

    total: float = 0.0
    count: int = 0
    peak: float = -math.inf
    last: float = 0.0

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1
        self.peak = max(self.peak, value)
        self.last = value

    def merge(self, other: "Gauge") -> None:
        self.total += other.total
        self.count += other.count
        self.peak = max(self.peak, other.peak)
        self.last = other.last

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0


@dataclass(slots=True)
class MinuteBucket:
    start: datetime
    counters: Counter = field(default_factory=Counter)
    price_positions: set = field(default_factory=set)
    gauges: dict = field(default_factory=dict)  # name -> Gauge
    latencies: list = field(default_factory=list)
    polls_ok: int = 0
    polls_failed: int = 0
    failure: str | None = None
    sealed: bool = False
    late: int = 0
    corrected: bool = True  # False: rows arrived after its line was written, no correction yet
    last_ok: datetime | None = None  # database time of its last successful poll

    @property
    def end(self) -> datetime:
        return self.start + MINUTE

    @property
    def is_gap(self) -> bool:
        return self.polls_ok == 0

    def add_gauge(self, name: str, value: float) -> None:
        gauge = self.gauges.get(name)
        if gauge is None:
            gauge = self.gauges[name] = Gauge()
        gauge.add(value)

    def add_latency(self, ms: float) -> None:
        if len(self.latencies) < _MAX_LATENCIES:
            self.latencies.append(ms)


class LatencyHistogram:
    """All-run latency percentiles in constant memory: log-spaced bins, ~2 % resolution."""

    _BASE = math.log(1.02)

    def __init__(self) -> None:
        self.bins: Counter = Counter()
        self.count = 0
        self.peak = 0.0

    def add(self, ms: float) -> None:
        self.bins[int(math.log(max(ms, 0.01)) / self._BASE)] += 1
        self.count += 1
        self.peak = max(self.peak, ms)

    def percentile(self, q: float) -> float | None:
        if not self.count:
            return None
        rank = q * (self.count - 1)
        seen = 0
        for key in sorted(self.bins):
            seen += self.bins[key]
            if seen > rank:
                return min(math.exp((key + 0.5) * self._BASE), self.peak)
        return self.peak


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = q * (len(ordered) - 1)
    low = math.floor(index)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (index - low)
