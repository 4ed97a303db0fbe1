"""Replay recorded snapshot files through the rules, the way the live engine evaluated them.

Reads botmon's own ``monitoring_snapshots_*.jsonl`` (the flat ``values`` of each minute, with the
latest ``correction`` record of a sealed minute applied) and the old audit kit's files
(``{"timestamp", "metrics": {"positions", "activity", "issues"}}``, mapped to metric names).

The live engine evaluates every tick (about once a second) on a view whose ``current`` gauges
change with every poll, whose ``last_minute`` is the last complete minute and whose ``all_time``
grows as events stream in. Replay drives the same :class:`AlertEngine` on the same clock: a tick
every second through each recorded minute, so ``for`` and ``keep_firing_for`` mean what they meant
live. What a minute line cannot say exactly is rebuilt from what it does say:

- gauges (``unprotected``, ``aged``, ...): the minute's polls are rebuilt from its last value,
  average and maximum (and the previous minute's last value): a step up, a block at the maximum,
  a step down. Exact for a gauge that changes once or twice a minute; the peak is always the
  recorded maximum;
- a minute's counters count from the start of that minute in ``current`` and ``all_time``
  (live, they grow during it), and it is ``last_minute`` during the next minute;
- ``bot_silent_s`` counts from the end of the last minute with events; the database is down
  during gap minutes (and the failed polls next to them);
- missing minutes (no line at all: the monitor, or the old kit, was not running) are gaps: nothing
  is evaluated during them, pending alerts start again afterwards (as a resumed run does) and
  the bot's silence counts from the first line after them.

The first minute before a run (live, it comes from the history read at start) is not in the file.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Iterator, Mapping

from tui.alerts.engine import AlertEngine
from tui.alerts.rules import RuleSet
from tui.errors import BotmonError
from tui.outputs.snapshots import (EXTRA_ACTIVITY, OLD_KIT_ACTIVITY, OLD_KIT_ISSUES,
                                   SNAPSHOT_PREFIX)
from tui.store.buckets import MINUTE, minute_of
from tui.store.metrics import EVENT_COUNTERS, GAUGES, gauge_aggregates
from tui.store.view import MetricsView

TICK = timedelta(seconds=1)  # the live engine evaluates about once a second
# Live, a minute's line is written run.snapshot_grace_s (10 s by default) after it ends, and the
# minute counts as complete (all its rows arrived) from a poll half that grace after its end.
LINE_WRITTEN = timedelta(seconds=10)
COMPLETE_AFTER = LINE_WRITTEN / 2
# Old-kit lines come every ~60 s (drifting by the query time); further apart, minutes are missing.
HOLE_AFTER = timedelta(seconds=90)
# Gap reasons written when the monitor itself did not poll (the database may have been fine).
MONITOR_GAP_REASONS = ("no poll",)
# ... and when it was not running at all (a resumed run writes these for the minutes it missed).
NOT_RUNNING_REASONS = ("monitor was not running",)
CORRECTION = "correction"
_GAUGE_BASES = set(GAUGES) | {n for g in GAUGES for n in gauge_aggregates(g)}
_POINT_KEYS = {"db_up", "db_down_s", "poll_ms", "bot_silent_s", "gap_minutes", "late_events",
               "last_line_gap", "bad_rows"}
# The old kit's "activity" and "issues" keys -> our metric names (the snapshot writer's table).
_OLD_KEYS = {**OLD_KIT_ACTIVITY, **EXTRA_ACTIVITY, **OLD_KIT_ISSUES}
_POSITIONS = {"total": "open_positions", "unprotected": "unprotected", "aged": "aged"}


@dataclass(frozen=True)
class MinuteRecord:
    at: datetime  # the line's timestamp (a minute's end)
    minute: datetime  # the minute it describes (an old-kit line: its timestamp minus 60 s)
    kind: str  # minute / gap / correction
    values: dict[str, float]
    reason: str | None = None
    fmt: str = "botmon"  # botmon / old-kit
    where: str = ""  # file:line
    corrected: str = ""  # file:line of the correction applied to this minute


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    # The old kit wrote naive timestamps; its recorded files are UTC (shared/real/README.md),
    # and the audit report reads them the same way.
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def old_kit_values(metrics: dict[str, Any]) -> dict[str, float]:
    """The old kit's nested ``metrics`` -> flat metric names (positions.<x> = an exchange)."""
    values: dict[str, float] = {}
    for key, raw in (metrics.get("positions") or {}).items():
        number = _number(raw)
        if number is not None:
            values[_POSITIONS.get(key, f"open_positions.{key.lower()}")] = number
    for section in ("activity", "issues"):
        for key, raw in (metrics.get(section) or {}).items():
            number = _number(raw)
            if number is not None and key in _OLD_KEYS:
                values[_OLD_KEYS[key]] = number
    # A line in an old-kit file is a minute the kit did record: one poll, database up (the kit
    # could not tell a failed query from a quiet minute).
    values.setdefault("polls", 1)
    values.setdefault("failed_polls", 0)
    values.setdefault("db_up", 1)
    values.setdefault("minute_complete", 1)
    return values


def _flat_values(raw: dict[str, Any]) -> dict[str, float]:
    # A metric the bot gives no source for is null: left out, so a rule over it never holds.
    return {k: float(v) for k, v in raw.items() if _number(v) is not None}


def parse_record(line: dict[str, Any], where: str = "") -> MinuteRecord | None:
    """One JSONL object -> a minute record; None for manual snapshots and unknown lines."""
    kind = line.get("kind", "minute")
    if kind not in ("minute", "gap", CORRECTION):
        return None
    at = _parse_time(line.get("timestamp"))
    if at is None:
        return None
    minute = _parse_time(line.get("minute"))
    if kind == CORRECTION:
        if minute is None or not isinstance(line.get("values"), dict):
            return None
        return MinuteRecord(at, minute_of(minute), CORRECTION, _flat_values(line["values"]),
                            where=where)
    if kind == "gap":
        return MinuteRecord(at, minute_of(minute or at - MINUTE), "gap", {},
                            str(line.get("reason") or "gap"), where=where)
    if isinstance(line.get("values"), dict):
        values = _flat_values(line["values"])
        values.setdefault("minute_complete", 1)  # lines written before botmon recorded it
        return MinuteRecord(at, minute_of(minute or at - MINUTE), "minute", values, where=where)
    if isinstance(line.get("metrics"), dict):
        return MinuteRecord(at, minute or at - MINUTE, "minute",
                            old_kit_values(line["metrics"]), fmt="old-kit", where=where)
    return None


def snapshot_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; a directory (a run directory) means its snapshot files."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(path.glob(f"{SNAPSHOT_PREFIX}*.jsonl"))
            if not inside:
                raise BotmonError(str(path), f"no {SNAPSHOT_PREFIX}*.jsonl files in this folder")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise BotmonError(str(path), "no such snapshot file",
                              f"pass {SNAPSHOT_PREFIX}*.jsonl files or a run directory")
    return found


def _run_start(paths: Iterable[str | Path]) -> datetime | None:
    """A run directory's start (run.json): the live run began mid-minute."""
    for raw in paths:
        meta = Path(raw) / "run.json"
        if meta.is_file():
            try:
                return _parse_time(json.loads(meta.read_text(encoding="utf-8")).get("run_start"))
            except (OSError, ValueError, AttributeError):
                return None
    return None


@dataclass
class ReadResult:
    records: list[MinuteRecord]
    skipped: int = 0  # unreadable lines (a torn last line after a crash, a corrupt line)
    files: list[Path] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # file:line of each unreadable line
    manual: int = 0  # manual snapshots (the `s` key): not minutes
    corrections: int = 0  # correction records applied
    orphan_corrections: list[str] = field(default_factory=list)  # for a minute with no line
    run_start: datetime | None = None


def read_snapshots(paths: Iterable[str | Path]) -> ReadResult:
    paths = list(paths)
    files = snapshot_paths(paths)
    records: dict[tuple, MinuteRecord] = {}
    corrections: dict[datetime, MinuteRecord] = {}
    unreadable: list[str] = []
    manual = 0
    for path in files:
        try:
            handle = open(path, encoding="utf-8", errors="replace")
        except OSError as exc:
            raise BotmonError(str(path), f"cannot read: {exc.strerror or exc}") from None
        with handle:
            for number, text in enumerate(handle, 1):
                if not text.strip():
                    continue
                where = f"{path.name}:{number}"
                try:
                    line = json.loads(text)
                except ValueError:
                    unreadable.append(where)
                    continue
                if isinstance(line, dict) and line.get("kind") == "manual":
                    manual += 1
                    continue
                record = parse_record(line, where) if isinstance(line, dict) else None
                if record is None:
                    unreadable.append(where)
                elif record.kind == CORRECTION:
                    # The latest correction of a minute is its final content.
                    known = corrections.get(record.minute)
                    if known is None or known.at <= record.at:
                        corrections[record.minute] = record
                else:
                    # A resumed run may rewrite a minute: the later line wins. Old-kit lines
                    # are keyed by their time (two runs of the kit can overlap a minute).
                    key = (record.minute,) if record.fmt == "botmon" else (record.at,)
                    records[key] = record
    applied, orphans = 0, []
    for minute, correction in corrections.items():
        record = records.get((minute,))
        if record is None:
            orphans.append(correction.where)
            continue
        records[(minute,)] = replace(record, values=correction.values,
                                     corrected=correction.where)
        applied += 1
    if not records:
        raise BotmonError(", ".join(map(str, files)) or "replay", "no snapshot minutes found",
                          "expected botmon or old-kit monitoring_snapshots_*.jsonl lines")
    ordered = sorted(records.values(), key=lambda r: (r.minute, r.at))
    return ReadResult(ordered, len(unreadable), files, unreadable, manual, applied, orphans,
                      _run_start(paths))


# -- windows over recorded minutes ----------------------------------------------------------------

def _with_gauge_aggregates(values: dict[str, float]) -> dict[str, float]:
    """Old-kit minutes only hold a gauge's value: it is also the minute's average and maximum."""
    out = dict(values)
    for name, value in values.items():
        if name.partition(".")[0] in GAUGES:
            avg, peak = gauge_aggregates(name)
            out.setdefault(avg, value)
            out.setdefault(peak, value)
    return out


def _kind_of(name: str) -> str:
    base = name.partition(".")[0]
    if base in _POINT_KEYS or base == "minute_complete":  # last_minute only
        return "point"
    if base in EVENT_COUNTERS or base in ("polls", "failed_polls"):
        return "sum"
    if base in GAUGES:
        return "last"
    if (base.endswith("_avg") and base in _GAUGE_BASES) or base == "poll_p50_ms":
        return "mean"
    if base.endswith(("_max", "_ms", "_s")) or base == "positions_price_updated":
        return "max"
    return "sum"  # counters other sources add (log_errors, ...)


class Window:
    """A window over recorded minutes, kept incrementally (all-time) or over a few minutes.

    Counters are summed; gauges keep the last value, their averages the mean and their maxima
    the maximum; over several minutes ``positions_price_updated`` is the largest minute's count
    and ``poll_p95_ms`` the worst minute's p95 (bounds, not exact values)."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.means: dict[str, tuple[float, int]] = {}
        self.maxima: dict[str, float] = {}
        self.minutes = 0

    def add(self, values: Mapping[str, float]) -> None:
        self.minutes += 1
        for name, value in values.items():
            kind = _kind_of(name)
            if kind == "sum":
                self.sums[name] = self.sums.get(name, 0) + value
            elif kind == "last":
                self.last[name] = value
            elif kind == "mean":
                total, count = self.means.get(name, (0.0, 0))
                self.means[name] = (total + value, count + 1)
            elif kind == "max":
                self.maxima[name] = max(self.maxima.get(name, value), value)

    def values(self, extra: Mapping[str, float] | None = None) -> dict[str, float]:
        out: dict[str, float] = {name: 0 for name in EVENT_COUNTERS}
        out.update(self.sums)
        out.update(self.last)
        out.update({k: round(t / n, 3) for k, (t, n) in self.means.items()})
        out.update(self.maxima)
        minutes = self.minutes
        if extra:
            minutes += 1
            for name, value in extra.items():
                kind = _kind_of(name)
                if kind == "sum":
                    out[name] = out.get(name, 0) + value
                elif kind == "max":
                    out[name] = max(out.get(name, value), value)
        out["events_per_min"] = round(out.get("events", 0) / max(minutes, 1), 2)
        return out


def _aggregate(minutes: list[dict[str, float]]) -> dict[str, float]:
    window = Window()
    for values in minutes:
        window.add(values)
    return window.values()


def rebuild_polls(n: int, start: float | None, last: float, mean: float, peak: float
                  ) -> list[float]:
    """``n`` poll values consistent with a minute's last value, mean and maximum, continuing
    from the previous minute's last value ``start``: [start]*a + [peak]*b + [last]*c."""
    if n <= 1:
        return [last] * max(n, 1)
    first = last if start is None else min(start, peak)
    target = n * mean
    if peak <= max(first, last):  # no block above both ends: one step from first to last
        if first == last:
            return [last] * n
        a = round((target - n * last) / (first - last))
        a = min(max(a, 0), n - 1)
        return [first] * a + [last] * (n - a)
    low = (first + last) / 2
    b = round((target - n * low) / (peak - low))
    b = min(max(b, 1), n - (0 if last == peak else 1))
    rest = n - b
    if first != last and rest:
        c = round((target - b * peak - rest * first) / (last - first))
        c = min(max(c, 0), rest)
    else:
        c = rest - rest // 2
    if rest and c == 0 and last != peak:
        c = 1
    return [first] * (rest - c) + [peak] * b + [last] * c


# -- the timeline -------------------------------------------------------------------------------

@dataclass
class Hole:
    """Minutes with no line at all: the monitor (or the old kit) was not running."""

    after: datetime  # the last line before it (its timestamp)
    before: datetime  # the first line after it
    minutes: int
    first_minute: datetime

    @property
    def last_minute(self) -> datetime:
        return self.first_minute + (self.minutes - 1) * MINUTE


def find_holes(records: list[MinuteRecord]) -> list[Hole]:
    holes = []
    for prev, record in zip(records, records[1:]):
        if record.fmt == "botmon" and prev.fmt == "botmon":
            missing = int((record.minute - prev.minute) / MINUTE) - 1
            first = prev.minute + MINUTE
        elif record.at - prev.at > HOLE_AFTER:
            missing = round((record.at - prev.at) / MINUTE) - 1
            first = minute_of(prev.at)
        else:
            missing = 0
        if missing > 0:
            holes.append(Hole(prev.at, record.at, missing, first))
    return holes


@dataclass
class _Frame:
    """What the engine sees between ``start`` and ``end``: one recorded minute."""

    record: MinuteRecord
    start: datetime
    end: datetime
    last_minute: dict[str, float] | None  # None: the minute before is not in the file
    polls: list[tuple[datetime, dict[str, float]]]  # gauges as each poll left them
    db_up: list[tuple[datetime, bool]]  # database up/down changes in the frame


def _gap_values(record: MinuteRecord | None, failed: bool) -> dict[str, float]:
    values: dict[str, float] = {name: 0 for name in EVENT_COUNTERS}
    if record is not None:  # a gap minute's events may be known by now (a correction)
        values.update({k: v for k, v in record.values.items()
                       if k.partition(".")[0] in EVENT_COUNTERS})
    values.update({"positions_price_updated": 0, "polls": 0, "failed_polls": 1 if failed else 0})
    return values


def _monitor_gap(record: MinuteRecord) -> bool:
    return record.reason is not None and record.reason.startswith(MONITOR_GAP_REASONS)


def _incomplete(values: dict[str, float] | None) -> dict[str, float] | None:
    if values is None or "minute_complete" not in values:
        return values
    return {**values, "minute_complete": 0}


def _not_running(record: MinuteRecord) -> bool:
    return record.kind == "gap" and (record.reason or "").startswith(NOT_RUNNING_REASONS)


class Replayer:
    """Feeds recorded minutes to an engine as the live monitor fed it views."""

    def __init__(self, records: list[MinuteRecord], run_start: datetime | None = None,
                 tick: timedelta = TICK) -> None:
        if not records:
            raise ValueError("no records")
        self.records = records
        self.tick = tick
        self.holes = find_holes(records)
        first = records[0]
        start = first.minute if first.fmt == "botmon" else first.at
        if run_start is not None and start <= run_start < start + MINUTE:
            start = run_start
        self.run_start = start
        self.all_time = Window()
        self.recent: deque[dict[str, float]] = deque(maxlen=10)
        self.gauges: dict[str, float] = {}  # kept through gaps, like the live store
        self.gap_minutes = 0
        self.down_since: datetime | None = None
        self.last_active: datetime | None = None
        self.holes_passed = 0
        self.version = 0
        # Whether the newest snapshot line written was a gap (last_line_gap): as of a frame's
        # start, and once the previous minute's line is written (LINE_WRITTEN into the frame).
        self.line_gap_before = False
        self.line_gap_prev = False

    # -- building frames ----------------------------------------------------------------------
    def _values(self, record: MinuteRecord) -> dict[str, float]:
        if record.kind == "gap":
            return _gap_values(record, not _monitor_gap(record))
        return _with_gauge_aggregates(record.values)

    def _polls(self, record: MinuteRecord, start: datetime, end: datetime
               ) -> list[tuple[datetime, dict[str, float]]]:
        values = record.values
        if record.kind == "gap":
            return []
        names = [n for n in values if n.partition(".")[0] in GAUGES]
        n = int(values.get("polls") or 1) if record.fmt == "botmon" else 1
        if record.fmt != "botmon" or n <= 1:
            return [(start, {k: values[k] for k in names})]
        series: dict[str, list[float]] = {}
        for name in names:
            avg, peak = gauge_aggregates(name)
            series[name] = rebuild_polls(n, self.gauges.get(name), values[name],
                                         values.get(avg, values[name]),
                                         values.get(peak, values[name]))
        step = (end - start) / n
        return [(start + (j + 0.5) * step, {k: s[j] for k, s in series.items()})
                for j in range(n)]

    def _db_changes(self, record: MinuteRecord, index: int, start: datetime, end: datetime
                    ) -> list[tuple[datetime, bool]]:
        """Down during a failed-poll gap minute, and during the failed polls next to one."""
        if record.kind == "gap":
            return [] if _monitor_gap(record) else [(start, False)]
        failed = int(record.values.get("failed_polls") or 0)
        if not failed:
            return [(start, True)]
        polls = failed + int(record.values.get("polls") or 0)
        span = (end - start) * failed / max(polls, 1)
        nxt = self.records[index + 1] if index + 1 < len(self.records) else None
        prev_down = self.down_since is not None
        next_down = (nxt is not None and nxt.kind == "gap" and not _monitor_gap(nxt)
                     and nxt.minute == record.minute + MINUTE)
        if prev_down:
            return [(start, False), (start + span, True)]
        if next_down:
            return [(start, True), (end - span, False)]
        middle = start + (end - start - span) / 2
        return [(start, True), (middle, False), (middle + span, True)]

    # -- the views ------------------------------------------------------------------------------
    def views(self) -> Iterator[MetricsView]:
        holes = {h.after: h for h in self.holes}
        previous: dict[str, float] | None = None
        records = self.records
        for index, record in enumerate(records):
            nxt = records[index + 1] if index + 1 < len(records) else None
            if _not_running(record):
                # Written by a resumed run for the minutes it missed: nothing was evaluated.
                previous = self._skip(1, record)
                continue
            values = self._values(record)
            if record.fmt == "botmon":
                start, end = record.minute, record.minute + MINUTE
                last_minute, recent = previous, list(self.recent)
            else:
                # The kit's line is its own "last minute" from its timestamp on, until the next
                # line, within the clock minute of its timestamp: the kit raised one alert per
                # line, and a timestamp drifting past :00 is not counted in two minutes.
                start = record.at
                end = minute_of(start) + MINUTE
                end = min(nxt.at, end) if nxt is not None else end
                last_minute, recent = values, [*self.recent, values]
            if index == 0:
                start = max(start, self.run_start)
            frame = _Frame(record, start, end, last_minute, self._polls(record, start, end),
                           self._db_changes(record, index, start, end))
            yield from self._play(frame, values, recent)
            self.recent.append(values)
            self.all_time.add(values)
            previous = values
            hole = holes.get(record.at)
            stops = nxt is None or hole is not None or _not_running(nxt)
            if record.fmt == "botmon" and stops:
                # Live, the minute became last_minute when it ended; the run ended (or the
                # monitor stopped) right after, before all its rows could be known complete.
                fixed = self._fixed(_incomplete(previous), list(self.recent), None)
                yield self._view(end, record, fixed, self._counters(None), None)
            if hole is not None:
                previous = self._skip(hole.minutes)

    def _skip(self, minutes: int, record: MinuteRecord | None = None) -> dict[str, float]:
        """Nothing was evaluated while the monitor was not running; afterwards those minutes
        are gap minutes, pending alerts start again and the bot's silence is not known."""
        gap = _gap_values(record, failed=False)
        for _ in range(min(minutes, 10)):
            self.recent.append(gap)
        for _ in range(minutes):
            self.all_time.add(gap)
        self.gap_minutes += minutes
        self.holes_passed += 1
        # The resumed run writes the missed minutes as gap lines at once.
        self.line_gap_before = self.line_gap_prev = True
        self.down_since = None
        self.last_active = None  # the silence counts from the first line after it
        return gap

    @staticmethod
    def _counters(values: dict[str, float] | None) -> dict[str, float]:
        if values is None:
            return {name: 0 for name in EVENT_COUNTERS}
        return {k: v for k, v in values.items()
                if k.partition(".")[0] not in _GAUGE_BASES and k not in _POINT_KEYS}

    def _fixed(self, last_minute: dict[str, float] | None, recent: list[dict[str, float]],
               minute_values: dict[str, float] | None) -> dict[str, dict[str, float]]:
        """The windows that stay the same during a frame (health is added per tick)."""
        windows: dict[str, dict[str, float]] = {}
        if last_minute is not None:
            windows["last_minute"] = {k: v for k, v in last_minute.items()
                                      if k not in _POINT_KEYS}
        if recent:
            windows["last_10_minutes"] = _aggregate(recent)
        # Live, all-time grows as the minute's events stream in.
        windows["all_time"] = self.all_time.values(minute_values)
        return windows

    def _play(self, frame: _Frame, values: dict[str, float], recent: list[dict[str, float]]
              ) -> Iterator[MetricsView]:
        record = frame.record
        self.version += 1
        if record.kind == "gap":
            self.gap_minutes += 1
        fixed = self._fixed(frame.last_minute, recent, values)
        # Live, last_minute counts as complete only from a successful poll half a grace into
        # the minute after it (rows arrive 0-5 s late): no_price_updates waits for that.
        incomplete = dict(fixed, last_minute=_incomplete(frame.last_minute)) \
            if record.fmt == "botmon" and frame.last_minute is not None else fixed
        complete_from = frame.start + COMPLETE_AFTER
        completed = False
        written_at = frame.start + LINE_WRITTEN if record.fmt == "botmon" else frame.start
        counters = self._counters(values)
        active = values.get("events")
        if active is None:  # old kit: any counted activity means the bot was writing
            active = sum(values.get(n, 0) for n in EVENT_COUNTERS) + values.get(
                "positions_price_updated", 0)
        if self.last_active is None:  # the start, or after a hole: not known before
            self.last_active = frame.start
        if active and record.fmt != "botmon":
            self.last_active = max(self.last_active, record.at)
        polls = list(frame.polls)
        changes = list(frame.db_up)
        now = frame.start
        while now < frame.end:
            while polls and polls[0][0] <= now:
                self.gauges.update(polls.pop(0)[1])
            while changes and changes[0][0] <= now:
                up = changes.pop(0)[1]
                if up:
                    self.down_since = None
                elif self.down_since is None:
                    self.down_since = now
            if active and record.fmt == "botmon":
                self.last_active = now  # events all through the minute
            if not completed and now >= complete_from and self.down_since is None:
                completed = True
            line_gap = self.line_gap_prev if now >= written_at else self.line_gap_before
            yield self._view(now, record, fixed if completed else incomplete, counters, values,
                             line_gap)
            now += self.tick
        self.line_gap_before = self.line_gap_prev if record.fmt == "botmon" else False
        self.line_gap_prev = record.kind == "gap"
        while polls:  # a frame shorter than its polls (the first, partial minute)
            self.gauges.update(polls.pop(0)[1])
        if active and record.fmt == "botmon":
            self.last_active = frame.end

    def _view(self, now: datetime, record: MinuteRecord, fixed: dict[str, dict[str, float]],
              counters: dict[str, float], minute_values: dict[str, float] | None,
              line_gap: bool | None = None) -> MetricsView:
        health: dict[str, float] = {
            "db_up": 0 if self.down_since is not None else 1,
            "db_down_s": 0.0 if self.down_since is None
            else round((now - self.down_since).total_seconds(), 1),
            "gap_minutes": self.gap_minutes,
            "last_line_gap": int(self.line_gap_prev if line_gap is None else line_gap),
        }
        if self.last_active is not None:
            health["bot_silent_s"] = round(max(0.0, (now - self.last_active).total_seconds()), 1)
        if minute_values and "poll_p50_ms" in minute_values:
            health["poll_ms"] = minute_values["poll_p50_ms"]
        current = dict(counters)
        current.update(self.gauges)
        current.update(health)
        all_time = dict(fixed["all_time"])
        all_time.update(health)
        windows = {**fixed, "current": current, "all_time": all_time}
        exchanges = sorted({k.partition(".")[2] for k in self.gauges
                            if k.startswith("open_positions.")})
        return MetricsView(
            now=now, run_start=self.run_start, run_end=None, version=self.version,
            db_up=self.down_since is None, db_down_since=self.down_since,
            db_error=record.reason if record.kind == "gap" else None,
            windows=MappingProxyType({k: MappingProxyType(v) for k, v in windows.items()}),
            exchanges=tuple(exchanges), positions=(), recent_events=(),
            gaps=(), snapshots_written=self.all_time.minutes)


def replay_views(records: list[MinuteRecord], run_start: datetime | None = None,
                 tick: timedelta = TICK) -> Iterator[MetricsView]:
    """Views in time order, the way the live monitor would have shown them."""
    return Replayer(records, run_start, tick).views()


@dataclass
class ReplayResult:
    files: list[Path]
    records: int
    gaps: int  # gap minutes: gap lines plus minutes with no line
    skipped: int
    formats: list[str]
    start: datetime
    end: datetime
    episodes: list[dict[str, Any]]
    per_minute: dict[str, Any]
    transitions: int
    engine: AlertEngine
    gap_lines: int = 0
    holes: list[Hole] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    manual: int = 0
    corrections: int = 0
    orphan_corrections: list[str] = field(default_factory=list)

    @property
    def missing_minutes(self) -> int:
        return sum(h.minutes for h in self.holes)

    def holes_within(self, episode: dict[str, Any]) -> int:
        """Holes an episode spans: it went on firing across them, as a resumed run's does, but
        nobody saw those minutes (its ``minutes`` count only minutes that were seen)."""
        start = _parse_time(episode.get("start"))
        end = _parse_time(episode.get("end")) or self.end
        if start is None:
            return 0
        return sum(1 for h in self.holes if start <= h.after and h.before <= end)

    def to_json(self) -> dict[str, Any]:
        keep = ("rule", "severity", "start", "fired", "end", "minutes", "peak", "state",
                "message")
        return {
            "files": [str(f) for f in self.files], "minutes": self.records, "gaps": self.gaps,
            "gap_lines": self.gap_lines, "missing_minutes": self.missing_minutes,
            "holes": [{"after": h.after.isoformat(), "before": h.before.isoformat(),
                       "first_minute": h.first_minute.isoformat(), "minutes": h.minutes}
                      for h in self.holes],
            "skipped_lines": self.skipped, "unreadable_lines": self.unreadable,
            "manual_lines": self.manual, "corrections": self.corrections,
            "orphan_corrections": self.orphan_corrections, "formats": self.formats,
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "episodes": [{k: e[k] for k in keep} for e in self.episodes],
            "totals": {"episodes": len(self.episodes),
                       **{s: sum(e["severity"] == s for e in self.episodes)
                          for s in ("critical", "warning", "info")},
                       "transitions": self.transitions},
            "per_minute_view": self.per_minute,
        }


class _ReplayEngine(AlertEngine):
    """The live engine without the pane's item list (rebuilt every evaluation live, where it
    is shown; replay never shows it and evaluates ~30,000 times an 8-hour run)."""

    def _refresh(self) -> None:
        pass


def _drop_pending(engine: AlertEngine) -> None:
    """A resumed run restores the episodes that fired; pending ones start their ``for`` again."""
    for name, episode in list(engine.active.items()):
        if episode.state == "pending":
            del engine.active[name]


def replay(paths: Iterable[str | Path], ruleset: RuleSet, tick: timedelta = TICK
           ) -> ReplayResult:
    read = read_snapshots(paths)
    engine = _ReplayEngine(ruleset, journal=None, bell=False)
    records = read.records
    replayer = Replayer(records, read.run_start, tick)
    transitions = holes = 0
    for view in replayer.views():
        if replayer.holes_passed != holes:
            holes = replayer.holes_passed
            _drop_pending(engine)
        transitions += len(engine.evaluate(view))
    gap_lines = sum(r.kind == "gap" for r in records)
    return ReplayResult(
        files=read.files, records=len(records),
        gaps=gap_lines + sum(h.minutes for h in replayer.holes), skipped=read.skipped,
        formats=sorted({r.fmt for r in records if r.kind == "minute"}),
        start=records[0].minute, end=records[-1].at, episodes=engine.episodes(),
        per_minute=engine.per_minute_view(), transitions=transitions, engine=engine,
        gap_lines=gap_lines, holes=replayer.holes, unreadable=read.unreadable,
        manual=read.manual, corrections=read.corrections,
        orphan_corrections=read.orphan_corrections)

