"""MetricStore: minute buckets keyed by each event's own timestamp, and the four windows.

Sources call :meth:`ingest` / :meth:`record_failure` on the event loop (no locks); everything
else reads frozen :class:`MetricsView` objects. Memory is bounded: minute buckets older than the
retention are dropped (all-time figures are plain counters), the event stream is a capped deque.
"""

from __future__ import annotations

from collections import Counter, deque
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Iterable

from tui.config import Config
from tui.sources.samples import DbSample, EventRow, LogEntry, OpenPosition, PositionChange
from tui.store.buckets import MINUTE, Gauge, LatencyHistogram, MinuteBucket, minute_of, percentile
from tui.store.gauges import (ExchangeKeys, GaugeReader, has_stop_loss,  # noqa: F401 - re-export
                              trailing_stop_problems)
from tui.store.metrics import (DISTINCT_COUNTERS, EVENT_COUNTERS, GAUGES, LOG_COUNTERS,
                               TRADE_COUNTERS, EventClassifier, gauge_aggregates,
                               log_counters_for)
from tui.store.pnl import PnlBook, trade_counters, win_rate
from tui.store.sources import unavailable
from tui.store.view import MetricsView

COUNTERS = (*EVENT_COUNTERS, *TRADE_COUNTERS)  # summed per minute, 0 when nothing happened
RETENTION_MINUTES = 120
SERIES_MINUTES = 60
STREAM_CAP = 200
RISK_CAP = 100
BOT_SILENT_S = 60.0  # no event and no log line for this long: the bot is "silent"
CLOSED_CAP = 200
LOG_TAIL_CAP = 500
MAX_GAPS_KEPT = 2000
MAX_EXCHANGES = 32
MAX_BAD_EXAMPLES = 5


class MetricStore:
    def __init__(self, config: Config, run_start: datetime, run_end: datetime | None = None,
                 retention_minutes: int = RETENTION_MINUTES) -> None:
        self.config = config
        self.classifier = EventClassifier(config.events)
        self.run_start = run_start
        self.run_end = run_end
        self.retention = retention_minutes
        self.buckets: dict[datetime, MinuteBucket] = {}
        self.all_time: Counter = Counter()
        self.all_time_price_positions: set[int] = set()
        self.all_time_gauges: dict[str, Gauge] = {}
        self.latency = LatencyHistogram()
        self.polls_ok = 0
        self.polls_failed = 0
        self.version = 0
        self.db_up = False
        self.db_down_since: datetime | None = None
        self.db_error: str | None = None
        self.last_now: datetime | None = None  # newest database time seen
        self.last_event_at: datetime | None = None
        self.latest_positions: tuple[OpenPosition, ...] = ()
        self.latest_gauges: dict[str, float] = {}
        self.latest_latency: float | None = None
        self.stream: deque[EventRow] = deque(maxlen=STREAM_CAP)
        self.gaps: deque[tuple[datetime, str]] = deque(maxlen=MAX_GAPS_KEPT)
        self.gap_count = 0
        self.late_events = 0
        self.snapshots_written = 0
        self.sealed_through: datetime | None = None  # newest minute whose snapshot is out
        self.resumed_at: datetime | None = None
        self.aged_after = timedelta(hours=config.positions.aged_hours)
        self.grace = timedelta(seconds=config.run.snapshot_grace_s)
        self.last_ok_at: datetime | None = None  # database time of the last successful poll
        self.exchange_keys = ExchangeKeys(MAX_EXCHANGES)
        self.gauge_reader = GaugeReader(config.positions, self.exchange_keys)
        self.details: dict[str, tuple[str, ...]] = {}
        # Which event types the database holds: recently (a source) / only long ago.
        self.event_types: set[str] = set()
        self.old_event_types: set[str] = set()
        self._unavailable: dict[str, str] | None = None
        self.closed: deque[PositionChange] = deque(maxlen=CLOSED_CAP)
        self.pnl = PnlBook(run_start)
        self.bot_started_at: datetime | None = None
        self.bot_stopped_at: datetime | None = None
        self.risk: deque[EventRow] = deque(maxlen=RISK_CAP)
        # Closes seen as a deleted row (per exchange key): no recount can find them afterwards.
        self.deleted_closes: Counter = Counter()
        self.bad_rows = 0
        self.bad_examples: list[str] = []
        self._history = False
        # The bot's log, when one is followed: the newest records and when it last grew.
        self.log_enabled = False
        self.log_tail: deque[LogEntry] = deque(maxlen=LOG_TAIL_CAP)
        self.last_log_at: datetime | None = None
        # Latest trailing-stop consistency findings: problem -> ["SYMBOL/exchange", ...].
        self.consistency: dict[str, list[str]] = {}

    # -- input ---------------------------------------------------------------------------------
    def bucket(self, minute: datetime) -> MinuteBucket | None:
        """The bucket of ``minute``, created on demand; None when older than the retention."""
        found = self.buckets.get(minute)
        if found is not None:
            return found
        newest = self.last_now or minute
        if minute < minute_of(newest) - timedelta(minutes=self.retention):
            return None
        found = self.buckets[minute] = MinuteBucket(minute)
        if self.sealed_through is not None and minute <= self.sealed_through:
            found.sealed = True
        return found

    @property
    def exchanges(self) -> tuple[str, ...]:
        return self.exchange_keys.names

    def set_event_types(self, types: dict[str, bool]) -> None:
        """The event types the database holds (type -> written recently), read at start."""
        self.event_types |= {t for t, recent in types.items() if recent}
        self.old_event_types |= {t for t, recent in types.items() if not recent}
        self._unavailable = None

    def unavailable(self) -> dict[str, str]:
        """Counters this bot gives no source for -> why (absent from every window)."""
        if self._unavailable is None:
            events = self.config.events
            self._unavailable = unavailable(self.classifier, self.event_types,
                                            self.old_event_types, events.never_written,
                                            events.source_days, self.log_enabled)
        return self._unavailable

    def ingest(self, sample: DbSample, *, history: bool = False) -> None:
        """A poll's rows; ``history`` marks the start snapshot (windows only, or a resume whose
        all-time totals come from its exact recount)."""
        self.version += 1
        self.last_now = max(self.last_now, sample.db_now) if self.last_now else sample.db_now
        if sample.last_event_at is not None:
            self.last_event_at = sample.last_event_at
        self._history = history  # the snapshot's rows: never "late" for a written minute
        for event in sample.events:
            if event.event_type not in self.event_types:
                self.event_types.add(event.event_type)
                self._unavailable = None
            self._count_event(event, all_time=not history)
        for change in sample.changes:
            self._count_change(change)
        self._history = False
        if sample.bad_rows:
            self.bad_rows += len(sample.bad_rows)
            room = MAX_BAD_EXAMPLES - len(self.bad_examples)
            self.bad_examples.extend(sample.bad_rows[:max(room, 0)])
        if not history:
            self.db_up, self.db_down_since, self.db_error = True, None, None
            self.last_ok_at = sample.db_now
            self._sample_gauges(sample)
        self._evict()

    def ingest_log(self, entries: Iterable[LogEntry], grew_at: datetime | None) -> None:
        """Records from the log tailer; ``grew_at`` (database clock) when any line arrived."""
        self.log_enabled = True
        self.version += 1
        if grew_at is not None:
            self.last_log_at = grew_at
        for entry in entries:
            names = log_counters_for(entry.level, entry.tags, bool(entry.traceback),
                                     entry.parsed)
            bucket = self.bucket(minute_of(entry.at))
            if bucket is not None:
                bucket.counters.update(names)
            if self._in_run(entry.at):
                self.all_time.update(names)
            self.log_tail.append(entry)
        # The tailer's own counts (lines read, rotations, ...) go into the minute it read them.
        source_counts = getattr(entries, "source_counts", None)
        seen_at = grew_at or self.last_now
        if source_counts and seen_at is not None:
            bucket = self.bucket(minute_of(seen_at))
            if bucket is not None:
                bucket.counters.update(source_counts)
            if self._in_run(seen_at):
                self.all_time.update(source_counts)

    def _in_run(self, ts: datetime) -> bool:
        return ts >= self.run_start and (self.run_end is None or ts <= self.run_end)

    def restore(self, totals: dict[str, int], price_positions: set[int],
                minutes: list[tuple[datetime, str, dict, str]], resumed_at: datetime) -> None:
        """Continue a run after a crash: all-time totals from the exact recount, and the
        minutes already written (``(minute, kind, values, reason)``) so that none is written
        twice. The recent history follows as ``ingest(sample, history=True)``."""
        self.all_time = Counter(totals)
        self.all_time_price_positions = set(price_positions)
        self.last_now = resumed_at
        for minute, kind, values, reason in minutes:
            if kind not in ("minute", "gap"):
                continue
            self.snapshots_written += 1
            if self.sealed_through is None or minute > self.sealed_through:
                self.sealed_through = minute
            if kind == "gap":
                self.gap_count += 1
                self.gaps.append((minute, reason))
                continue
            if values.get("realized_pnl"):
                self.pnl.by_minute[minute] = float(values["realized_pnl"])
            polls = int(values.get("polls", 0)) or 1
            for name in GAUGES:
                if name in values:
                    gauge = self.all_time_gauges.setdefault(name, Gauge())
                    gauge.merge(Gauge(total=values.get(f"{name}_avg", values[name]) * polls,
                                      count=polls, peak=values.get(f"{name}_max", values[name]),
                                      last=values[name]))
        for bucket in self.buckets.values():
            bucket.sealed = self.sealed_through is not None and bucket.start <= self.sealed_through
        self.resumed_at = resumed_at
        self.version += 1

    def _count_event(self, event: EventRow, all_time: bool = True) -> None:
        names = self.classifier.counters_for(event.kind, event.severity)
        exchange = self.exchange_keys.key(event.exchange)
        keys = list(names)
        if exchange:
            keys.extend(f"{name}.{exchange}" for name in names)
        price = self.classifier.is_price_update(event.event_type) and event.position_id is not None
        bucket = self._count_into_minute(event.created_at, keys)
        if bucket is not None and price:
            bucket.price_positions.add(event.position_id)
        if all_time and self._in_run(event.created_at):
            self.all_time.update(keys)
            if price:
                self.all_time_price_positions.add(event.position_id)
        if self.classifier.is_notable(event.event_type):
            self.stream.append(event)
        self._bot_event(event)

    def _count_into_minute(self, at: datetime, keys: list[str] | Counter,
                           sign: int = 1) -> MinuteBucket | None:
        """Add ``keys`` (names counted once each, or name -> amount) to the minute of ``at``."""
        bucket = self.bucket(minute_of(at))
        if bucket is None:
            return None
        if sign > 0:
            bucket.counters.update(keys)
        else:
            bucket.counters.subtract(keys)
        if bucket.sealed and not self._history and bucket.start >= minute_of(self.run_start):
            # Its snapshot line is out: the monitor appends a correction record for it.
            bucket.late += 1
            bucket.corrected = False
            self.late_events += 1
        return bucket

    def _count_change(self, change: PositionChange) -> None:
        """A position opened, closed, or an open retracted, from the positions table; a close
        is also a trade (its realized PnL, won or lost)."""
        name = {"opened": "positions_opened", "closed": "positions_closed",
                "retracted": "positions_opened"}[change.kind]
        exchange = self.exchange_keys.key(change.position.exchange)
        amounts: Counter = Counter({name: 1})
        if change.kind == "closed":
            amounts.update(trade_counters(change.position))
        keys = Counter(amounts)
        if exchange:
            keys.update({f"{k}.{exchange}": v for k, v in amounts.items()})
        sign = -1 if change.kind == "retracted" else 1
        self._count_into_minute(change.at, keys, sign)
        new_to_run = self._in_run(change.at) and (
            not change.recounted or change.kind == "retracted")
        if new_to_run:
            if sign > 0:
                self.all_time.update(keys)
            else:
                self.all_time.subtract(keys)
        if change.kind == "closed":
            self.closed.append(change)
            self.pnl.add(change.at, change.position.realized_pnl, new_to_run)
            if change.how == "row deleted" and self._in_run(change.at):
                self.deleted_closes.update({k: v for k, v in keys.items()
                                            if k.startswith("positions_closed")})

    def set_bot_state(self, started_at: datetime | None, stopped_at: datetime | None) -> None:
        """When the bot last started and stopped (from its own events), read at start."""
        self.bot_started_at, self.bot_stopped_at = started_at, stopped_at

    def _bot_event(self, event: EventRow) -> None:
        if self.classifier.matches(event.kind, self.config.events.bot_started):
            self.bot_started_at = max(filter(None, (self.bot_started_at, event.created_at)))
        elif self.classifier.matches(event.kind, self.config.events.bot_stopped):
            self.bot_stopped_at = max(filter(None, (self.bot_stopped_at, event.created_at)))
        if self.classifier.matches(event.kind, self.config.events.risk):
            self.risk.append(event)

    def bot_state(self, now: datetime) -> dict[str, object]:
        """running / silent / stopped, from the bot's own start/stop events and its newest
        event and log line; uptime since its last start."""
        newest = max(filter(None, (self.last_event_at, self.last_log_at)), default=None)
        silent_s = (now - newest).total_seconds() if newest else None
        stopped = (self.bot_stopped_at is not None and
                   (self.bot_started_at is None or self.bot_stopped_at > self.bot_started_at))
        if stopped:
            state = "stopped"
        elif silent_s is None:
            state = "unknown"
        else:
            state = "silent" if silent_s >= BOT_SILENT_S else "running"
        started = self.bot_started_at if not stopped else None
        return {"state": state, "started_at": started, "stopped_at": self.bot_stopped_at,
                "uptime_s": (now - started).total_seconds() if started else None,
                "silent_s": silent_s}

    def add_trades_before(self, trades: Iterable[PositionChange]) -> None:
        """Closes of the 24 hours before the start snapshot's history: the 24-hour figures and
        the recent trades, never the run's own."""
        for change in trades:
            self.closed.append(change)
            self.pnl.add(change.at, change.position.realized_pnl, False)

    def _sample_gauges(self, sample: DbSample) -> None:
        orphans = (sample.ts_orphans if sample.ts_orphans is not None
                   else tuple(self.consistency.get("ts_orphaned", ())))
        read = self.gauge_reader.read(sample.positions, sample.db_now, orphans)
        values = read.values
        self.latest_positions = sample.positions
        self.latest_gauges = dict(values)
        self.consistency = read.issues
        self.details = read.details
        self.latest_latency = sample.latency_ms
        self.polls_ok += 1
        self.latency.add(sample.latency_ms)
        bucket = self.bucket(minute_of(sample.db_now))
        if bucket is not None:
            bucket.polls_ok += 1
            bucket.last_ok = sample.db_now
            bucket.add_latency(sample.latency_ms)
            for name, value in values.items():
                bucket.add_gauge(name, value)
        if self._in_run(sample.db_now):
            for name, value in values.items():
                self.all_time_gauges.setdefault(name, Gauge()).add(value)

    def record_failure(self, at: datetime, reason: str) -> None:
        self.version += 1
        self.polls_failed += 1
        if self.db_up or self.db_down_since is None:
            self.db_down_since = at
        self.db_up = False
        self.db_error = reason
        self.last_now = max(self.last_now, at) if self.last_now else at
        bucket = self.bucket(minute_of(at))
        if bucket is not None:
            bucket.polls_failed += 1
            bucket.failure = reason
        self._evict()

    def _evict(self) -> None:
        if self.last_now is None:
            return
        oldest = minute_of(self.last_now) - timedelta(minutes=self.retention)
        for minute in [m for m in self.buckets if m < oldest]:
            del self.buckets[minute]

    # -- minutes and snapshots -------------------------------------------------------------------
    def due_minutes(self, now: datetime, grace_s: float) -> list[datetime]:
        """Run minutes whose snapshot is due: ended ``grace_s`` ago and not yet written."""
        first = minute_of(self.run_start)
        if self.sealed_through is not None:
            first = max(first, self.sealed_through + MINUTE)
        last_end = now - timedelta(seconds=grace_s)
        if self.run_end is not None:
            last_end = min(last_end, self.run_end + timedelta(seconds=59.999999))
        minutes = []
        minute = first
        while minute + MINUTE <= last_end:
            minutes.append(minute)
            minute += MINUTE
        return minutes

    def seal(self, minute: datetime) -> MinuteBucket:
        """Mark ``minute`` as written; a gap is remembered with its reason."""
        bucket = self.bucket(minute) or MinuteBucket(minute)
        bucket.sealed = True
        self.sealed_through = minute
        self.snapshots_written += 1
        if bucket.is_gap:
            self.gap_count += 1
            self.gaps.append((minute, self.gap_reason(bucket)))
        return bucket

    def gap_reason(self, bucket: MinuteBucket) -> str:
        if bucket.failure:
            return bucket.failure
        if self.resumed_at is not None and bucket.end <= self.resumed_at and not bucket.polls_failed:
            return "monitor was not running (resumed after a crash or restart)"
        if not self.db_up and self.db_error:  # no attempt fell in this minute (back-off)
            return self.db_error
        if self.polls_ok == 0 and self.polls_failed == 0:
            return "no poll yet"
        return "no poll completed in this minute (monitor stalled or suspended)"

    def minute_values(self, bucket: MinuteBucket) -> dict[str, float]:
        """Flat metric values of one minute: counters, gauges (last/avg/max), poll health;
        a counter without a source on this bot is None (null in the snapshot line)."""
        values = self._aggregate([bucket], span=1)
        values["db_up"] = 0 if bucket.is_gap else 1
        values["minute_complete"] = 1 if self.complete(bucket.start) else 0
        _win_rate(values)
        return self.mark_unavailable(values)

    def mark_unavailable(self, values: dict) -> dict:
        """The counters this bot gives no source for, as None (and no per-exchange keys)."""
        missing = self.unavailable()
        if missing:
            for name in [n for n in values if n.partition(".")[0] in missing]:
                del values[name]
            values.update(dict.fromkeys(missing))
        return values

    def uncorrected(self) -> list[MinuteBucket]:
        """Written minutes that rows reached after their line was written."""
        return sorted((b for b in self.buckets.values() if b.sealed and not b.corrected),
                      key=lambda b: b.start)

    def between(self, start: datetime, end: datetime) -> dict[str, float]:
        """Aggregated values of the minutes in [start, end) (an audit hour, for the notes);
        ``polled_minutes`` and ``gap_minutes_hour`` say how much of it was observed."""
        minutes = []
        minute = minute_of(start)
        while minute < end:
            minutes.append(minute)
            minute += MINUTE
        found = [self.buckets[m] for m in minutes if m in self.buckets]
        values = self._aggregate(found, span=len(minutes))
        values["polled_minutes"] = sum(1 for b in found if not b.is_gap)
        values["gap_minutes_hour"] = sum(1 for b in found if b.is_gap and b.sealed)
        return values

    def _window(self, minutes: Iterable[datetime]) -> dict[str, float]:
        minutes = list(minutes)
        found = [self.buckets[m] for m in minutes if m in self.buckets]
        return self._aggregate(found, span=len(minutes))

    @staticmethod
    def _aggregate(buckets: list[MinuteBucket], span: int) -> dict[str, float]:
        counters: Counter = Counter()
        price_positions: set[int] = set()
        gauges: dict[str, Gauge] = {}
        latencies: list[float] = []
        polls_ok = polls_failed = 0
        for bucket in buckets:
            counters.update(bucket.counters)
            price_positions |= bucket.price_positions
            for name, gauge in bucket.gauges.items():
                gauges.setdefault(name, Gauge()).merge(gauge)
            latencies.extend(bucket.latencies)
            polls_ok += bucket.polls_ok
            polls_failed += bucket.polls_failed
        values: dict[str, float] = dict.fromkeys(COUNTERS, 0)
        values.update(counters)
        values["positions_price_updated"] = len(price_positions)
        _gauge_values(values, gauges)
        values["polls"] = polls_ok
        values["failed_polls"] = polls_failed
        if latencies:
            values["poll_p50_ms"] = round(percentile(latencies, 0.5) or 0, 2)
            values["poll_p95_ms"] = round(percentile(latencies, 0.95) or 0, 2)
            values["poll_max_ms"] = round(max(latencies), 2)
        values["events_per_min"] = round(counters.get("events", 0) / max(span, 1), 2)
        return values

    def _current(self, now: datetime) -> dict[str, float]:
        bucket = self.buckets.get(minute_of(now))
        values: dict[str, float] = dict.fromkeys(COUNTERS, 0)
        if bucket is not None:
            values.update(bucket.counters)
            values["positions_price_updated"] = len(bucket.price_positions)
        else:
            values["positions_price_updated"] = 0
        if self.db_up or self.latest_gauges:
            values.update(self.latest_gauges)
        values.update(self._health(now))
        return values

    def _log_zeros(self, values: dict[str, float]) -> dict[str, float]:
        """Log counters are present (as 0) only when a log is followed, so a rule over them
        does not hold without a log instead of seeing a quiet one."""
        if self.log_enabled:
            for name in LOG_COUNTERS:
                values.setdefault(name, 0)
        return values

    def _health(self, now: datetime) -> dict[str, float]:
        values: dict[str, float] = {
            "db_up": 1 if self.db_up else 0,
            "db_down_s": 0.0 if self.db_up or self.db_down_since is None
            else round((now - self.db_down_since).total_seconds(), 1),
            "gap_minutes": self.gap_count,
            "late_events": self.late_events,
            "bad_rows": self.bad_rows,
            "last_line_gap": 1 if self.gaps and self.gaps[-1][0] == self.sealed_through else 0,
        }
        if self.latest_latency is not None:
            values["poll_ms"] = round(self.latest_latency, 2)
        if self.last_event_at is not None:
            values["bot_silent_s"] = round(max(0.0, (now - self.last_event_at).total_seconds()), 1)
        if self.log_enabled:
            since = self.last_log_at or self.run_start
            values["log_silent_s"] = round(max(0.0, (now - since).total_seconds()), 1)
        return values

    def _all_time(self, now: datetime) -> dict[str, float]:
        values: dict[str, float] = dict.fromkeys(COUNTERS, 0)
        values.update(self.all_time)
        values["positions_price_updated"] = len(self.all_time_price_positions)
        _gauge_values(values, self.all_time_gauges)
        values["polls"] = self.polls_ok
        values["failed_polls"] = self.polls_failed
        if self.latency.count:
            values["poll_p50_ms"] = round(self.latency.percentile(0.5) or 0, 2)
            values["poll_p95_ms"] = round(self.latency.percentile(0.95) or 0, 2)
            values["poll_max_ms"] = round(self.latency.peak, 2)
        minutes = max(1.0, (now - self.run_start).total_seconds() / 60)
        values["events_per_min"] = round(self.all_time.get("events", 0) / minutes, 2)
        values.update(self._health(now))
        return values

    def _series(self, now: datetime, names: Iterable[str]) -> dict[str, tuple[float, ...]]:
        end = minute_of(now)
        minutes = [end - MINUTE * i for i in range(SERIES_MINUTES, 0, -1)]
        series: dict[str, tuple[float, ...]] = {}
        for name in names:
            points = []
            for minute in minutes:
                bucket = self.buckets.get(minute)
                if bucket is None or minute < minute_of(self.run_start) - timedelta(minutes=10):
                    points.append(0.0)
                elif name in bucket.gauges:
                    points.append(bucket.gauges[name].mean)
                elif name == "positions_price_updated":
                    points.append(float(len(bucket.price_positions)))
                else:
                    points.append(float(bucket.counters.get(name, 0)))
            series[name] = tuple(points)
        return series

    def complete(self, minute: datetime) -> bool:
        """Whether all rows of ``minute`` have arrived: a poll succeeded at least half the
        snapshot grace after it ended (the bot inserts in batches 0-5 s late). A minute the
        monitor saw only partly (the database froze in it) is not evidence of silence."""
        return self.last_ok_at is not None and \
            self.last_ok_at >= minute + MINUTE + self.grace / 2

    def view(self, now: datetime | None = None) -> MetricsView:
        now = now or self.last_now or self.run_start
        last = minute_of(now) - MINUTE
        last_10 = [last - MINUTE * i for i in range(9, -1, -1)]
        windows = {
            "current": self._log_zeros(self._current(now)),
            "last_minute": self._log_zeros(self._window([last])),
            "last_10_minutes": self._log_zeros(self._window(last_10)),
            "all_time": self._log_zeros(self._all_time(now)),
        }
        windows["last_minute"]["minute_complete"] = 1 if self.complete(last) else 0
        for values in windows.values():
            _win_rate(values)
        missing = self.unavailable()
        if missing:
            for values in windows.values():
                for name in [n for n in values if n.partition(".")[0] in missing]:
                    del values[name]
        series_names = [n for n in list(EVENT_COUNTERS) + list(DISTINCT_COUNTERS) + list(GAUGES)
                        if n not in missing]
        if self.log_enabled:
            series_names += list(LOG_COUNTERS)
        recent = tuple(sorted(self.stream, key=lambda e: (e.created_at, e.id), reverse=True))
        spans = {"current": (minute_of(now), now), "last_minute": (last, last + MINUTE),
                 "last_10_minutes": (last_10[0], last + MINUTE), "all_time": (self.run_start, now)}
        return MetricsView(
            now=now, run_start=self.run_start, run_end=self.run_end, version=self.version,
            db_up=self.db_up, db_down_since=self.db_down_since, db_error=self.db_error,
            windows=MappingProxyType({k: MappingProxyType(v) for k, v in windows.items()}),
            exchanges=self.exchanges, positions=self.latest_positions,
            recent_events=recent, series=MappingProxyType(self._series(now, series_names)),
            last_event_at=self.last_event_at, gaps=tuple(self.gaps),
            snapshots_written=self.snapshots_written,
            aged_after_s=self.aged_after.total_seconds(),
            log_tail=tuple(self.log_tail) if self.log_enabled else None,
            last_log_at=self.last_log_at,
            unavailable=MappingProxyType(dict(missing)),
            details=MappingProxyType(dict(self.details)),
            spans=MappingProxyType(spans),
            closed_positions=tuple(reversed(self.closed)),
            pnl=MappingProxyType({**self.pnl.last_24h(now),
                                  "cumulative": self.pnl.cumulative(now)}),
            bot=MappingProxyType(self.bot_state(now)),
            risk_events=tuple(sorted(self.risk, key=lambda e: (e.created_at, e.id),
                                     reverse=True)),
        )


def _win_rate(values: dict[str, float]) -> None:
    """``win_rate_pct`` from the window's trades; absent (not 0 %) without a decided one."""
    rate = win_rate(values.get("trades_won"), values.get("trades_lost"))
    if rate is not None:
        values["win_rate_pct"] = rate


def _gauge_values(values: dict[str, float], gauges: dict[str, Gauge]) -> None:
    """A gauge over a window: its last value, ``<name>_avg`` and ``<name>_max``."""
    for name, gauge in gauges.items():
        if gauge.count:
            values[name] = gauge.last
            avg, peak = gauge_aggregates(name)
            values[avg] = round(gauge.mean, 3)
            values[peak] = gauge.peak
