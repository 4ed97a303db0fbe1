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
from tui.outputs.snapshots import (SnapshotWriter, correction_record, gap_record, manual_record,
                                   minute_record)
from tui.outputs.trades import pnl_section, run_trades
from tui.sources.db import DbPoller, PollError, Recounted
from tui.store.metrics import count_rows
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
        # Told of every view tick() builds (e.g. /metrics); must be cheap and must not raise.
        self.view_listeners: list[Callable[[MetricsView], None]] = []
        self.finished: Path | None = None
        self._secrets = secrets_of(config)
        self._fail_streak = 0
        self.next_poll_at = 0.0  # wall-clock time of the next poll attempt
        self._corrected_at: datetime | None = None
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # tests drive the wait
        self.log_feed = None
        if config.logs.paths:
            from tui.sources.logfeed import LogFeed

            self.log_feed = LogFeed(config)

    # -- start -----------------------------------------------------------------------------------
    async def open(self) -> MetricsView:
        """Connect (raises BotmonError), read the start snapshot and poll once, create the
        store and run.json. The run starts at the snapshot: what it holds is history."""
        db_now = await self.poller.connect()
        self.clock.observe(db_now)
        started = await self.poller.start(
            db_now - timedelta(minutes=self.config.poll.history_minutes))
        start = started.sample.db_now
        end = start + timedelta(seconds=self.duration_s) if self.duration_s else None
        self.store = MetricStore(self.config, run_start=start, run_end=end)
        self.store.log_enabled = self.log_feed is not None
        self.store.set_event_types(started.event_types)
        self.store.add_trades_before(started.trades)
        self.store.set_bot_state(started.bot_started_at, started.bot_stopped_at)
        self.store.ingest(started.sample, history=True)
        await self.poll_once()
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
        history_start = db_now - timedelta(minutes=self.config.poll.history_minutes)
        started = await self.poller.start(history_start, recount_from=start)
        recount = started.recount
        assert recount is not None
        self.store = MetricStore(self.config, run_start=start, run_end=end)
        self.store.log_enabled = self.log_feed is not None
        self.store.set_event_types(started.event_types)
        # A run resumed after its planned end counts nothing past that end.
        if end is not None and recount.end > end:
            recount = await self.poller.recount(start, end)
        self.store.restore(self._recounted_totals(recount), recount.price_positions,
                           self._written_minutes(), recount.end)
        self.store.add_trades_before(started.trades)
        self.store.set_bot_state(started.bot_started_at, started.bot_stopped_at)
        self.store.ingest(started.sample, history=True)
        await self.poll_once()
        meta.setdefault("resumed", []).append(recount.end)
        self.duration_s = meta.get("duration_s")
        self.run_dir.write_meta(meta)
        log.info("run resumed at %s (started %s)", recount.end, start)
        return self.store.view(self.clock.now())

    def _written_minutes(self) -> list[tuple[datetime, str, dict, str]]:
        from tui.alerts.replay import read_snapshots
        from tui.errors import BotmonError

        try:
            records = read_snapshots([self.run_dir.path]).records
        except BotmonError:  # no snapshot written before the crash
            return []
        return [(r.minute, r.kind, r.values, r.reason or "") for r in records]

    # -- one step ---------------------------------------------------------------------------------
    async def poll_once(self) -> bool:
        """Poll, and poll again at once while a capped poll left rows behind (a burst, or the
        backlog after an outage); record a failure instead of raising. Every poll's rows are
        stored as it returns: the cursor has moved past them."""
        assert self.store is not None
        for _ in range(MAX_CATCH_UP_POLLS):
            try:
                sample = await self.poller.poll()
            except PollError as exc:
                self._fail_streak += 1
                self.store.record_failure(self.clock.now(), exc.reason)
                if self._fail_streak == 1:
                    log.warning("poll failed: %s", exc.reason)
                return False
            self.clock.observe(sample.db_now)
            if self._fail_streak:
                log.info("database answers again after %d failed polls", self._fail_streak)
            self._fail_streak = 0
            self.store.ingest(sample)
            if not sample.truncated:
                break
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
        """Write the snapshots and corrections that are due, evaluate the rules, return the
        view."""
        assert self.store is not None
        now = now or self.clock.now()
        due = self.store.due_minutes(now, self.config.run.snapshot_grace_s)
        for minute in due:
            await self._write_minute(minute)
        if due or self._corrections_due(now):
            await self._write_corrections(now)
        view = self.store.view(now)
        if self.alerts is not None:
            self.alerts.evaluate(view)
            view = dataclasses.replace(view, alerts=self.alerts.items())
        for listener in self.view_listeners:
            listener(view)
        return view

    async def _write_minute(self, minute: datetime) -> None:
        assert self.store is not None
        store = self.store
        bucket = store.seal(minute)
        values = store.minute_values(bucket)
        if bucket.is_gap:
            record = gap_record(minute, store.gaps[-1][1], values)
        else:
            record = minute_record(minute, values, store.exchanges,
                                   partial=minute < store.run_start,
                                   realized_run=store.pnl.realized_through(minute))
        path = await asyncio.to_thread(self.snapshots.write, record)
        written = MinuteWritten(minute, bucket.is_gap, path, values)
        for callback in self.on_minute:
            callback(written)

    def _corrections_due(self, now: datetime) -> bool:
        # Late rows come in batches: correct a minute at most every half minute, not per row.
        last = self._corrected_at
        return last is None or (now - last).total_seconds() >= 30

    async def _write_corrections(self, now: datetime) -> None:
        """Append a correction record for every written minute that rows reached later (late
        batches, an outage's backlog): its full corrected content, so that in the end every
        minute of the file is exact."""
        assert self.store is not None
        store = self.store
        self._corrected_at = now
        for bucket in store.uncorrected():
            bucket.corrected = True
            values = store.minute_values(bucket)
            gap = store.gap_reason(bucket) if bucket.is_gap else None
            record = correction_record(bucket.start, values, store.exchanges, at=now,
                                       late_events=bucket.late, gap_reason=gap)
            await asyncio.to_thread(self.snapshots.write, record)
            log.info("correction for %s: %d late row(s)", bucket.start, bucket.late)

    async def step(self) -> MetricsView:
        await self.poll_once()
        return await self.tick()

    async def manual_snapshot(self, note: str = "") -> Path:
        """The `s` key: the current partial minute and gauges, marked manual."""
        assert self.store is not None
        view = self.store.view(self.clock.now())
        values = self.store.mark_unavailable(dict(view.windows["current"]))
        record = manual_record(view.now, values, view.exchanges, note)
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
        rows stamped in the last milliseconds. The bot inserts its queued events in batches
        every few seconds, so the recount waits ``run.final_wait_s`` after the end for the rows
        stamped before it, and a last poll streams them too.
        """
        if self.finished is not None:
            return self.finished
        assert self.store is not None
        store = self.store
        # Stopped before its planned end (q, a signal): the run ends now, on the database clock.
        now = await self._db_now()
        end = max(min(store.run_end, now) if store.run_end is not None else now, store.run_start)
        since_end = max(0.0, (self.clock.now() - end).total_seconds())
        if store.db_up and since_end < self.config.run.snapshot_grace_s:
            # Stopped (q, a signal) rather than at the planned end, whose lines waited their
            # grace: the stream is up to a poll behind, and the bot's last batch may be queued.
            if self._in_flight(end) and self.config.run.final_wait_s > since_end:
                await self.sleep(self.config.run.final_wait_s - since_end)
            await self.poll_once()
        recount, end, counted = await self._recount(store.run_start, end)
        for minute in store.due_minutes(end, 0.0):
            if minute + timedelta(minutes=1) <= end:
                await self._write_minute(minute)
        await self._write_corrections(self.clock.now())
        report = self._report(end, finished_by, recount, counted)
        path = await asyncio.to_thread(write_report, self.run_dir.path, report)
        self.finished = path
        log.info("final report %s (%s)", path, finished_by)
        return path

    def live_report(self) -> dict:
        """The final report's content as it stands now (streamed totals, nothing written):
        for an audit report exported during the run."""
        return self._report(self.clock.now(), "running", None)

    def _report(self, end: datetime, finished_by: str, recount: Recount | None,
                counted: Recounted | None = None) -> dict:
        assert self.store is not None
        store = self.store
        summary = self.alerts.summary() if self.alerts is not None else AlertSummary()
        view = store.view(end)
        if counted is not None:
            trades, source = run_trades(counted.trades, end), "recount"
        else:
            trades = [(c.position, c.at) for c in reversed(view.closed_positions)
                      if store.run_start <= c.at <= end]
            source = "stream (the last trades seen; the recount lists all)"
        return build_report(
            start=store.run_start, end=end, finished_by=finished_by,
            all_time=dict(view.windows["all_time"]), exchanges=view.exchanges, recount=recount,
            snapshots_written=store.snapshots_written, gaps=list(store.gaps),
            late_events=store.late_events, alerts=summary, run_dir=self.run_dir.path,
            unavailable=dict(view.unavailable),
            extra={"trailing_stop_consistency": {
                "latest": store.consistency,
                "max": {name: view.value(f"{name}_max", "all_time")
                        for name in ("ts_missing", "ts_orphaned", "ts_sl_mismatch")}},
                   "pnl": pnl_section(trades, view.windows["all_time"], view.pnl, source),
                   "data_quality": {
                       "bad_rows": store.bad_rows, "bad_row_examples": store.bad_examples,
                       "closes_seen_as_deleted_rows": sum(
                           n for k, n in store.deleted_closes.items() if "." not in k),
                       "ids_given_up": self.poller.cursor.given_up,
                       "ids_not_awaited": self.poller.cursor.dropped,
                       "exchanges_folded": store.exchange_keys.describe_folded()}})

    def _in_flight(self, end: datetime) -> bool:
        """Whether rows stamped before ``end`` may still be on their way: the bot wrote within
        the last two batch waits (an idle bot has nothing queued)."""
        last = self.store.last_event_at if self.store is not None else None
        wait = self.config.run.final_wait_s
        return wait > 0 and last is not None and (end - last).total_seconds() < 2 * wait

    async def _db_now(self) -> datetime:
        """The database's clock now, or the local estimate when it does not answer."""
        try:
            return await self.poller.db_now()
        except Exception:  # noqa: BLE001 - an unreachable database: the estimate will do
            return self.clock.now()

    async def _recount(self, start: datetime,
                       end: datetime) -> tuple[Recount, datetime, Recounted | None]:
        try:
            counted = await self.poller.recount(start, end)
        except Exception as exc:  # noqa: BLE001 - the report still goes out, marked
            reason = redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                            self._secrets)
            log.warning("exact recount failed, the report uses streamed totals: %s", reason)
            return Recount({}, 0, error=reason), min(end, self.clock.now()), None
        totals = self._recounted_totals(counted)
        # Closes seen as a deleted row are real closes no table can show any more.
        for key, n in self.store.deleted_closes.items():
            totals[key] = totals.get(key, 0) + n
        return Recount(totals, len(counted.price_positions)), counted.end, counted

    def _recounted_totals(self, counted: Recounted) -> dict[str, int]:
        """Exact all-time totals by the stream's own definitions: events by type, opens and
        closes from the positions table; exchanges keyed the way the store keys them."""
        assert self.store is not None
        keys = self.store.exchange_keys
        totals = count_rows(self.store.classifier, counted.rows, keys.key)
        for exchange, counts in counted.positions.items():
            key = keys.key(exchange)
            for what, n in counts.items():
                metric = f"positions_{what}" if what in ("opened", "closed") else what
                totals[metric] = totals.get(metric, 0) + n
                if key:
                    totals[f"{metric}.{key}"] = totals.get(f"{metric}.{key}", 0) + n
        return totals

    async def close(self) -> None:
        await self.poller.close()

    @property
    def view(self) -> MetricsView | None:
        return self.store.view(self.clock.now()) if self.store else None
