"""Monitor: sources -> store -> rules -> writers, with no UI.

The headless console, the Textual app and the tests all drive this one class: ``step()`` polls
and ticks once (tests call it explicitly, with an injected wall clock), ``run()`` loops it on a
schedule. Polls never overlap: the next one is scheduled only after the previous one finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Awaitable, Callable, Protocol

from tui import __version__
from tui.config import Config, redact, secrets_of
from tui.outputs.report import AlertSummary, Recount, build_report, write_report
from tui.outputs.rundir import RunDir
from tui.outputs.snapshots import SnapshotWriter, gap_record, manual_record, minute_record
from tui.sources.db import DbPoller, PollError
from tui.sources.samples import DbSample
from tui.store.metrics import EventClassifier, count_rows
from tui.store.store import MetricStore
from tui.store.view import MetricsView

log = logging.getLogger(__name__)
MAX_CATCH_UP_POLLS = 50  # after an outage: at most this many back-to-back capped polls per step


class AlertHook(Protocol):
    """What the monitor needs from the rules engine (tui.alerts)."""

    def evaluate(self, view: MetricsView) -> list[dict]: ...
    def items(self) -> tuple: ...  # AlertItem, for the view
    def summary(self) -> AlertSummary: ...


class DbClock:
    """The database's clock, estimated between polls from the offset to the local wall clock."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self.wall = wall
        self.offset: float | None = None

    def observe(self, db_now: datetime) -> None:
        self.offset = db_now.timestamp() - self.wall()

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.wall() + (self.offset or 0.0), tz=timezone.utc)


@dataclass
class MinuteWritten:
    minute: datetime
    gap: bool
    path: Path
    values: dict


class Monitor:
    def __init__(self, config: Config, run_dir: RunDir, *, duration_s: float | None,
                 wall: Callable[[], float] = time.time, alerts: AlertHook | None = None) -> None:
        self.config = config
        self.run_dir = run_dir
        self.duration_s = duration_s
        self.clock = DbClock(wall)
        self.poller = DbPoller(config)
        self.alerts = alerts
        self.snapshots = SnapshotWriter(run_dir.path)
        self.store: MetricStore | None = None
        self.on_minute: list[Callable[[MinuteWritten], None]] = []
        self.finished: Path | None = None
        self._secrets = secrets_of(config)
        self._fail_streak = 0
        self.next_poll_at = 0.0  # wall-clock time of the next poll attempt
        self.log_feed = None
        if config.logs.paths:
            from tui.sources.logfeed import LogFeed

            self.log_feed = LogFeed(config)

    # -- start -----------------------------------------------------------------------------------
    async def open(self) -> MetricsView:
        """Connect (raises BotmonError), do the first poll, create the store and run.json."""
        db_now = await self.poller.connect()
        self.clock.observe(db_now)
        self.poller.start_cursor(db_now - timedelta(minutes=self.config.poll.history_minutes))
        sample = await self._poll_until_caught_up()
        start = sample.db_now
        end = start + timedelta(seconds=self.duration_s) if self.duration_s else None
        self.store = MetricStore(self.config, run_start=start, run_end=end)
        self.store.log_enabled = self.log_feed is not None
        self.store.ingest(sample)
        self.run_dir.write_meta({
            "botmon_version": __version__, "run_start": start, "planned_end": end,
            "duration_s": self.duration_s, "config": self.config.source,
            "database": redact(self.config.database.dsn or "(PG* environment)", self._secrets),
            "schema": self.config.database.schema, "resumed": [],
        })
        log.info("run started at %s (database clock), directory %s", start, self.run_dir.path)
        return self.store.view(self.clock.now())

    async def resume(self) -> MetricsView:
        """Continue the run of ``run_dir`` after a crash: same start and planned end, all-time
        totals recounted exactly, the minutes already written kept, the missed ones recorded
        as gaps. Alerts continue from alerts.jsonl (the rules engine reads it back)."""
        meta = self.run_dir.read_meta()
        try:
            start = datetime.fromisoformat(meta["run_start"])
            end = datetime.fromisoformat(meta["planned_end"]) if meta.get("planned_end") else None
        except (KeyError, TypeError, ValueError):
            from tui.errors import BotmonError

            raise BotmonError(str(self.run_dir.file("run.json")), "no valid run_start",
                              "resume a directory written by botmon run") from None
        db_now = await self.poller.connect()
        self.clock.observe(db_now)
        resumed = await self.poller.resume(
            start, timedelta(minutes=self.config.poll.history_minutes))
        self.store = MetricStore(self.config, run_start=start, run_end=end)
        self.store.log_enabled = self.log_feed is not None
        totals = count_rows(EventClassifier(self.config.events), resumed.recount.rows)
        self.store.restore(totals, resumed.recount.price_positions, resumed.recent,
                           self._written_minutes(), resumed.recount.end)
        sample = await self._poll_until_caught_up()
        self.store.ingest(sample)
        meta.setdefault("resumed", []).append(resumed.recount.end)
        self.duration_s = meta.get("duration_s")
        self.run_dir.write_meta(meta)
        log.info("run resumed at %s (started %s)", resumed.recount.end, start)
        return self.store.view(self.clock.now())

    def _written_minutes(self) -> list[tuple[datetime, str, dict, str]]:
        from tui.alerts.replay import read_snapshots
        from tui.errors import BotmonError

        try:
            records = read_snapshots([self.run_dir.path]).records
        except BotmonError:  # no snapshot written before the crash
            return []
        return [(r.minute, r.kind, r.values, r.reason or "") for r in records]

    async def _poll_until_caught_up(self) -> DbSample:
        sample = await self.poller.poll()
        self.clock.observe(sample.db_now)
        polls = 1
        merged = list(sample.events)
        while sample.truncated and polls < MAX_CATCH_UP_POLLS:
            sample = await self.poller.poll()
            self.clock.observe(sample.db_now)
            merged.extend(sample.events)
            polls += 1
        return dataclasses.replace(sample, events=tuple(merged))

    # -- one step ---------------------------------------------------------------------------------
    async def poll_once(self) -> bool:
        """Poll (catching up after an outage); record a failure instead of raising."""
        assert self.store is not None
        try:
            sample = await self._poll_until_caught_up()
        except PollError as exc:
            self._fail_streak += 1
            self.store.record_failure(self.clock.now(), exc.reason)
            if self._fail_streak == 1:
                log.warning("poll failed: %s", exc.reason)
            return False
        if self._fail_streak:
            log.info("database answers again after %d failed polls", self._fail_streak)
        self._fail_streak = 0
        self.store.ingest(sample)
        return True

    def take_log(self, entries, grew: bool) -> None:
        """Log records into the store (from the feed's task, or a test)."""
        if self.store is not None:
            self.store.ingest_log(entries, self.clock.now() if grew else None)

    def poll_log(self) -> int:
        """One bounded round of the log feed, synchronously (tests); returns the records."""
        if self.log_feed is None:
            return 0
        entries, grew = self.log_feed.poll(self.clock.now())
        self.take_log(entries, grew)
        return len(entries)

    # -- hourly notes --------------------------------------------------------------------------------
    def notes(self):
        from tui.outputs.notes import NotesFile

        assert self.store is not None
        return NotesFile(self.run_dir.path, self.store.run_start)

    def hour_note(self, number: int | None = None):
        """The note of an audit hour (the current one by default), pre-filled with that hour's
        figures from the store, the alerts that fired in it, and what was saved before."""
        from tui.outputs.notes import HourNote, audit_hour, format_figures, hour_number

        assert self.store is not None
        now = self.clock.now()
        hour = (hour_number(self.store.run_start, number) if number
                else audit_hour(self.store.run_start, now))
        values = self.store.between(hour.start, min(hour.end, now))
        alerts = []
        if self.alerts is not None:
            for episode in self.alerts.episodes():
                fired = datetime.fromisoformat(episode["fired"]) if episode["fired"] else None
                end = datetime.fromisoformat(episode["end"]) if episode["end"] else None
                if fired and fired < hour.end and (end is None or end >= hour.start):
                    alerts.append(f"{episode['severity'].upper()} {episode['episode']}: "
                                  f"{episode['message']} (fired "
                                  f"{fired.astimezone():%H:%M:%S}"
                                  + (f", resolved {end.astimezone():%H:%M:%S})" if end else ")"))
        anomalies, notes = self.notes().load(hour.number)
        return HourNote(hour, format_figures(values, tuple(sorted(self.store.exchanges))),
                        alerts, anomalies, notes)

    async def save_note(self, note) -> Path:
        note.written_at = self.clock.now()
        return await asyncio.to_thread(self.notes().save, note)

    def missing_notes(self) -> list[int]:
        """Audit hours that ended without a note (the header's quiet reminder)."""
        return self.notes().missing(self.clock.now()) if self.store is not None else []

    def poll_delay(self) -> float:
        """Seconds to the next poll: the interval, or a capped exponential back-off."""
        interval = self.config.poll.interval_s
        if not self._fail_streak:
            return interval
        return min(self.config.poll.max_backoff_s, interval * 2 ** (self._fail_streak - 1))

    def now(self) -> datetime:
        return self.clock.now()

    async def tick(self, now: datetime | None = None) -> MetricsView:
        """Write the snapshots that are due, evaluate the rules, return the view."""
        assert self.store is not None
        now = now or self.clock.now()
        for minute in self.store.due_minutes(now, self.config.run.snapshot_grace_s):
            await self._write_minute(minute)
        view = self.store.view(now)
        if self.alerts is not None:
            self.alerts.evaluate(view)
            view = dataclasses.replace(view, alerts=self.alerts.items())
        return view

    async def _write_minute(self, minute: datetime) -> None:
        assert self.store is not None
        store = self.store
        bucket = store.seal(minute)
        values = store.minute_values(bucket)
        if bucket.is_gap:
            record = gap_record(minute, store.gaps[-1][1], values)
        else:
            record = minute_record(minute, values, tuple(sorted(store.exchanges)),
                                   partial=minute < store.run_start)
        path = await asyncio.to_thread(self.snapshots.write, record)
        written = MinuteWritten(minute, bucket.is_gap, path, values)
        for callback in self.on_minute:
            callback(written)

    async def step(self) -> MetricsView:
        await self.poll_once()
        return await self.tick()

    async def manual_snapshot(self, note: str = "") -> Path:
        """The `s` key: the current partial minute and gauges, marked manual."""
        assert self.store is not None
        view = self.store.view(self.clock.now())
        record = manual_record(view.now, dict(view.windows["current"]), view.exchanges, note)
        return await asyncio.to_thread(self.snapshots.write, record)

    # -- the loop --------------------------------------------------------------------------------
    def due(self, now: datetime) -> bool:
        """True when the planned duration has passed and its last minute is written."""
        assert self.store is not None
        end = self.store.run_end
        return end is not None and now >= end + timedelta(seconds=self.config.run.snapshot_grace_s)

    async def run(self, stop: asyncio.Event,
                  on_view: Callable[[MetricsView], Awaitable[None] | None] | None = None) -> str:
        """Poll and tick until ``stop`` is set or the duration is over; say which."""
        wall = self.clock.wall
        self.next_poll_at = wall()
        log_task = None
        if self.log_feed is not None:
            log_task = asyncio.create_task(self.log_feed.run(self.take_log, self.clock.now),
                                           name="log-feed")
        try:
            return await self._loop(stop, on_view)
        finally:
            if log_task is not None:
                log_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await log_task

    async def _loop(self, stop: asyncio.Event, on_view) -> str:
        wall = self.clock.wall
        while not stop.is_set():
            if wall() >= self.next_poll_at:
                await self.poll_once()
                self.next_poll_at = wall() + self.poll_delay()
            view = await self.tick()
            if on_view is not None:
                result = on_view(view)
                if asyncio.iscoroutine(result):
                    await result
            if self.due(view.now):
                return "duration"
            pause = max(0.05, min(1.0, self.next_poll_at - wall()))
            try:
                await asyncio.wait_for(stop.wait(), timeout=pause)
            except asyncio.TimeoutError:
                pass
        return "stopped"

    # -- the end ---------------------------------------------------------------------------------
    async def finish(self, finished_by: str) -> Path:
        """Recount the run exactly, write the last due snapshots and the final report.

        The run ends at the planned end, or now; "now" is read from the database when it
        answers, because the local estimate lags it by a poll's latency and would leave out
        rows stamped in the last milliseconds.
        """
        if self.finished is not None:
            return self.finished
        assert self.store is not None
        store = self.store
        planned = store.run_end
        recount, end = await self._recount(store.run_start, planned)
        end = max(end, store.run_start)
        for minute in store.due_minutes(end, 0.0):
            if minute + timedelta(minutes=1) <= end:
                await self._write_minute(minute)
        report = self._report(end, finished_by, recount)
        path = await asyncio.to_thread(write_report, self.run_dir.path, report)
        self.finished = path
        log.info("final report %s (%s)", path, finished_by)
        return path

    def live_report(self) -> dict:
        """The final report's content as it stands now (streamed totals, nothing written):
        for an audit report exported during the run."""
        return self._report(self.clock.now(), "running", None)

    def _report(self, end: datetime, finished_by: str, recount: Recount | None) -> dict:
        assert self.store is not None
        store = self.store
        summary = self.alerts.summary() if self.alerts is not None else AlertSummary()
        view = store.view(end)
        return build_report(
            start=store.run_start, end=end, finished_by=finished_by,
            all_time=dict(view.windows["all_time"]), exchanges=view.exchanges, recount=recount,
            snapshots_written=store.snapshots_written, gaps=list(store.gaps),
            late_events=store.late_events, alerts=summary, run_dir=self.run_dir.path,
            extra={"trailing_stop_consistency": {
                "latest": store.consistency,
                "max": {name: view.value(f"{name}_max", "all_time")
                        for name in ("ts_missing", "ts_orphaned", "ts_sl_mismatch")}}})

    async def _recount(self, start: datetime,
                       planned_end: datetime | None) -> tuple[Recount, datetime]:
        estimate = self.clock.now()
        try:
            counted = await self.poller.recount(start, planned_end)
        except Exception as exc:  # noqa: BLE001 - the report still goes out, marked
            reason = redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                            self._secrets)
            log.warning("exact recount failed, the report uses streamed totals: %s", reason)
            fallback = min(estimate, planned_end) if planned_end else estimate
            return Recount({}, 0, error=reason), fallback
        totals = count_rows(EventClassifier(self.config.events), counted.rows)
        return Recount(totals, len(counted.price_positions)), counted.end

    async def close(self) -> None:
        await self.poller.close()

    @property
    def view(self) -> MetricsView | None:
        return self.store.view(self.clock.now()) if self.store else None
