"""Window arithmetic and minute buckets, on hand-built samples (no database needed)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tui.config import load_config
from tui.sources.samples import DbSample, EventRow, OpenPosition
from tui.store.buckets import LatencyHistogram, minute_of
from tui.store.store import MetricStore

T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=timezone.utc)
_ids = iter(range(1, 10**9))


def ev(at: datetime, event_type: str, exchange: str | None = "binance", severity: str = "INFO",
       position_id: int | None = None) -> EventRow:
    return EventRow(next(_ids), at, event_type, exchange, "XUSDT", severity, position_id)


def pos(pid: int, exchange: str, opened_at: datetime, sl: bool = True) -> OpenPosition:
    return OpenPosition(pid, f"S{pid}USDT", exchange, "long", "active", opened_at, 1.0, 1.0, 0.5,
                        0.1, sl, 0.9 if sl else None, True, "waiting", False, None)


def sample(now: datetime, events=(), positions=(), latency: float = 2.0) -> DbSample:
    return DbSample(now, latency, tuple(positions), tuple(events),
                    max((e.created_at for e in events), default=None))


@pytest.fixture
def store() -> MetricStore:
    return MetricStore(load_config(environ={}), run_start=T0 + timedelta(seconds=30))


def test_events_count_into_the_minute_of_their_own_timestamp(store):
    # A row created at 10:00:59 but seen at 10:01:04 belongs to 10:00, not to the poll's minute.
    late = ev(T0 + timedelta(seconds=59), "position_created")
    store.ingest(sample(T0 + timedelta(minutes=1, seconds=4), [late]))
    assert store.buckets[minute_of(T0)].counters["positions_opened_events"] == 1
    assert minute_of(T0 + timedelta(minutes=1)) not in store.buckets or \
        store.buckets[minute_of(T0 + timedelta(minutes=1))].counters["positions_opened_events"] == 0


def test_all_time_counts_only_events_inside_the_run(store):
    before = ev(T0 + timedelta(seconds=10), "position_created")  # run starts at 10:00:30
    inside = ev(T0 + timedelta(seconds=40), "position_created")
    store.ingest(sample(T0 + timedelta(seconds=45), [before, inside]))
    view = store.view(T0 + timedelta(seconds=45))
    assert view.value("positions_opened_events", "all_time") == 1
    assert view.value("positions_opened_events", "current") == 2  # the minute bucket holds both


def test_windows_across_minute_boundaries(store):
    events = []
    for minute in range(12):  # 10:00 .. 10:11, minute m gets m+1 openings
        for _ in range(minute + 1):
            events.append(ev(T0 + timedelta(minutes=minute, seconds=30), "position_created"))
    store.ingest(sample(T0 + timedelta(minutes=12, seconds=5), events))
    view = store.view(T0 + timedelta(minutes=12, seconds=5))
    name = "positions_opened_events"
    assert view.value(name, "last_minute") == 12  # 10:11
    assert view.value(name, "last_10_minutes") == sum(range(3, 13))  # 10:02-10:11
    assert view.value(name, "current") == 0  # 10:12 so far
    assert view.value(name, "all_time") == sum(range(1, 13))
    assert view.value(f"{name}.binance", "last_minute") == 12
    assert view.spans["last_minute"] == (T0 + timedelta(minutes=11), T0 + timedelta(minutes=12))


def test_gauges_last_avg_max_per_window(store):
    opened = T0 - timedelta(hours=4)
    for second, n in ((5, 2), (35, 4)):
        positions = [pos(i, "bybit" if i % 2 else "binance", opened, sl=i != 1)
                     for i in range(1, n + 1)]
        store.ingest(sample(T0 + timedelta(minutes=1, seconds=second), positions=positions))
    view = store.view(T0 + timedelta(minutes=2, seconds=1))
    last = view.windows["last_minute"]
    assert last["open_positions"] == 4 and last["open_positions_max"] == 4
    assert last["open_positions_avg"] == 3.0
    assert last["unprotected"] == 1 and last["aged"] == 4
    current = view.windows["current"]
    assert current["open_positions"] == 4
    assert current["open_positions.binance"] == 2 and current["open_positions.bybit"] == 2


def test_error_metric_uses_severity_and_error_types(store):
    now = T0 + timedelta(minutes=1)
    rows = [ev(now, "health_check_failed", severity="WARNING"),  # *_failed
            ev(now, "order_error"),  # *_error
            ev(now, "position_updated", severity="ERROR"),  # severity
            ev(now, "position_updated")]
    store.ingest(sample(now, rows))
    assert store.view(now).value("errors", "current") == 3


def test_price_updates_count_events_and_distinct_positions(store):
    now = T0 + timedelta(minutes=1)
    rows = [ev(now, "position_updated", position_id=p) for p in (1, 1, 2, 3, 3, 3)]
    store.ingest(sample(now, rows))
    view = store.view(now)
    assert view.value("price_updates", "current") == 6
    assert view.value("positions_price_updated", "current") == 3


def test_due_minutes_wait_for_the_grace_and_gaps_keep_their_reason(store):
    store.ingest(sample(T0 + timedelta(seconds=31)))
    store.record_failure(T0 + timedelta(minutes=1, seconds=10), "database unreachable: refused")
    assert store.due_minutes(T0 + timedelta(minutes=1, seconds=5), grace_s=10) == []
    due = store.due_minutes(T0 + timedelta(minutes=3, seconds=10), grace_s=10)
    assert due == [T0, T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)]
    buckets = [store.seal(m) for m in due]
    assert [b.is_gap for b in buckets] == [False, True, True]
    assert store.gaps[0][1] == "database unreachable: refused"
    assert store.gaps[1][1] == "database unreachable: refused"  # still down, no attempt
    assert store.due_minutes(T0 + timedelta(minutes=3, seconds=10), grace_s=10) == []


def test_rows_arriving_after_their_minute_was_written_are_late_but_counted(store):
    store.ingest(sample(T0 + timedelta(seconds=40)))
    store.seal(T0)
    store.ingest(sample(T0 + timedelta(minutes=1, seconds=20),
                        [ev(T0 + timedelta(seconds=50), "position_closed")]))
    view = store.view(T0 + timedelta(minutes=1, seconds=20))
    assert view.value("late_events", "current") == 1
    assert view.value("positions_closed_events", "all_time") == 1
    assert [b.start for b in store.uncorrected()] == [T0]  # a correction record is due


def test_memory_is_bounded_by_the_retention(store):
    now = T0
    for _ in range(300):
        now += timedelta(minutes=1)
        store.ingest(sample(now, [ev(now, "position_updated", position_id=1)]))
    assert len(store.buckets) <= store.retention + 1
    assert store.view(now).value("price_updates", "all_time") == 300


def test_latency_histogram_percentiles_are_close():
    hist = LatencyHistogram()
    for ms in range(1, 1001):
        hist.add(float(ms))
    assert abs(hist.percentile(0.5) - 500) / 500 < 0.03
    assert abs(hist.percentile(0.95) - 950) / 950 < 0.03
    assert hist.peak == 1000


def test_trailing_stop_consistency_gauges(store):
    now = T0 + timedelta(minutes=1)
    ok = pos(1, "binance", now)
    missing = OpenPosition(2, "MISSUSDT", "bybit", "long", "active", now, 1.0, 1.0, 0.0, 0.0,
                           True, 0.9, True, None, None, None)
    mismatch = OpenPosition(3, "DIFFUSDT", "bybit", "long", "active", now, 1.0, 1.0, 0.0, 0.0,
                            True, 0.9, True, "active", True, 0.95)
    sample_ = DbSample(now, 1.0, (ok, missing, mismatch), (), None,
                       ts_orphans=("OLDUSDT/binance",))
    store.ingest(sample_)
    current = store.view(now).windows["current"]
    assert current["ts_missing"] == 1 and current["ts_missing.bybit"] == 1
    assert current["ts_sl_mismatch"] == 1
    assert current["ts_orphaned"] == 1
    assert store.consistency == {"ts_missing": ["MISSUSDT/bybit"],
                                 "ts_sl_mismatch": ["DIFFUSDT/bybit"],
                                 "ts_orphaned": ["OLDUSDT/binance"]}
