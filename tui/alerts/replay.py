"""Replay recorded snapshot files through the rules: tune thresholds on past audits.

Reads botmon's own ``monitoring_snapshots_*.jsonl`` (the flat ``values`` of each minute) and the
old audit kit's files (``{"timestamp", "metrics": {"positions", "activity", "issues"}}``, mapped
to metric names). Each recorded minute becomes a :class:`MetricsView` like the live one at the
start of the next minute: ``last_minute`` is the recorded minute, ``last_10_minutes`` the last
ten records, ``all_time`` everything so far, ``current`` the minute's gauges and health.

Replay works at minute resolution, so some values are approximations (documented in
docs/alerts.md): each minute is evaluated at its end and again just before the next minute
(the live monitor sees a minute in ``last_minute`` for a whole minute, so ``for`` up to 60 s
fires within it); ``bot_silent_s`` counts from the end of the last minute with activity;
10-minute and all-time "distinct positions" and latency percentiles are bounds, not exact.
"""

from __future__ import annotations

import json
import statistics
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Iterator

from tui.alerts.engine import AlertEngine
from tui.alerts.rules import RuleSet
from tui.errors import BotmonError
from tui.outputs.snapshots import (EXTRA_ACTIVITY, OLD_KIT_ACTIVITY, OLD_KIT_ISSUES,
                                   SNAPSHOT_PREFIX)
from tui.store.buckets import MINUTE, minute_of
from tui.store.metrics import EVENT_COUNTERS, GAUGES, gauge_aggregates
from tui.store.view import MetricsView

LAST_INSTANT = timedelta(seconds=59.999)
# Gap reasons written when the monitor itself did not poll (the database may have been fine).
MONITOR_GAP_REASONS = ("no poll",)
_GAUGE_BASES = set(GAUGES) | {n for g in GAUGES for n in gauge_aggregates(g)}
_POINT_KEYS = {"db_up", "db_down_s", "poll_ms", "bot_silent_s", "gap_minutes", "late_events"}
# The old kit's "activity" and "issues" keys -> our metric names (the snapshot writer's table).
_OLD_KEYS = {**OLD_KIT_ACTIVITY, **EXTRA_ACTIVITY, **OLD_KIT_ISSUES}
_POSITIONS = {"total": "open_positions", "unprotected": "unprotected", "aged": "aged"}


@dataclass(frozen=True)
class MinuteRecord:
    at: datetime  # when the minute ended (its snapshot's timestamp)
    minute: datetime
    kind: str  # minute / gap
    values: dict[str, float]
    reason: str | None = None
    fmt: str = "botmon"  # botmon / old-kit


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    # The old kit wrote naive local time (datetime.now()).
    return ts if ts.tzinfo else ts.astimezone()


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


def parse_record(line: dict[str, Any]) -> MinuteRecord | None:
    """One JSONL object -> a minute record; None for manual snapshots and unknown lines."""
    kind = line.get("kind", "minute")
    if kind not in ("minute", "gap"):
        return None
    at = _parse_time(line.get("timestamp"))
    if at is None:
        return None
    minute = _parse_time(line.get("minute")) or at - MINUTE
    if kind == "gap":
        return MinuteRecord(at, minute, "gap", {}, str(line.get("reason") or "gap"))
    if isinstance(line.get("values"), dict):
        values = {k: float(v) for k, v in line["values"].items() if _number(v) is not None}
        values.setdefault("minute_complete", 1)  # lines written before botmon recorded it
        return MinuteRecord(at, minute, "minute", values)
    if isinstance(line.get("metrics"), dict):
        return MinuteRecord(at, minute, "minute", old_kit_values(line["metrics"]), fmt="old-kit")
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


@dataclass
class ReadResult:
    records: list[MinuteRecord]
    skipped: int = 0  # unreadable lines (a torn last line after a crash) and manual snapshots
    files: list[Path] = field(default_factory=list)


def read_snapshots(paths: Iterable[str | Path]) -> ReadResult:
    files = snapshot_paths(paths)
    records: dict[datetime, MinuteRecord] = {}
    skipped = 0
    for path in files:
        try:
            handle = open(path, encoding="utf-8", errors="replace")
        except OSError as exc:
            raise BotmonError(str(path), f"cannot read: {exc.strerror or exc}") from None
        with handle:
            for text in handle:
                if not text.strip():
                    continue
                try:
                    line = json.loads(text)
                except ValueError:
                    skipped += 1
                    continue
                record = parse_record(line) if isinstance(line, dict) else None
                if record is None:
                    skipped += 1
                    continue
                # A resumed run may rewrite a minute: the later line wins.
                records[record.at] = record
    if not records:
        raise BotmonError(", ".join(map(str, files)) or "replay", "no snapshot minutes found",
                          "expected botmon or old-kit monitoring_snapshots_*.jsonl lines")
    return ReadResult(sorted(records.values(), key=lambda r: r.at), skipped, files)


def _with_gauge_aggregates(values: dict[str, float]) -> dict[str, float]:
    """Old-kit minutes only hold a gauge's value: it is also the minute's average and maximum."""
    out = dict(values)
    for name, value in values.items():
        if name.partition(".")[0] in GAUGES:
            avg, peak = gauge_aggregates(name)
            out.setdefault(avg, value)
            out.setdefault(peak, value)
    return out


def _aggregate(minutes: list[dict[str, float]]) -> dict[str, float]:
    """A window over several recorded minutes (see the module docstring for the bounds)."""
    values: dict[str, float] = {name: 0 for name in EVENT_COUNTERS}
    lists: dict[str, list[float]] = {}
    for minute in minutes:
        for name, value in minute.items():
            lists.setdefault(name, []).append(value)
    for name, seen in lists.items():
        base = name.partition(".")[0]
        if base in _POINT_KEYS:
            continue
        if base in EVENT_COUNTERS or base in ("polls", "failed_polls"):
            values[name] = sum(seen)
        elif base in GAUGES:
            values[name] = seen[-1]
        elif (base.endswith("_avg") and base in _GAUGE_BASES) or base == "poll_p50_ms":
            values[name] = round(statistics.fmean(seen), 3)
        elif base.endswith(("_max", "_ms", "_s")) or base == "positions_price_updated":
            values[name] = max(seen)
        else:  # counters other sources add (log_errors, ...)
            values[name] = sum(seen)
    values["events_per_min"] = round(values.get("events", 0) / max(len(minutes), 1), 2)
    return values


class ViewBuilder:
    """Turns minute records, in order, into views like the live monitor's."""

    def __init__(self) -> None:
        self.run_start: datetime | None = None
        self.recent: deque[dict[str, float]] = deque(maxlen=10)
        self.every: list[dict[str, float]] = []
        self.gauges: dict[str, float] = {}  # kept through gaps, like the live store
        self.gaps = 0
        self.down_since: datetime | None = None
        self.last_active: datetime | None = None
        self.record: MinuteRecord | None = None
        self.minute_values: dict[str, float] = {}
        self.version = 0

    def add(self, record: MinuteRecord) -> None:
        if self.run_start is None:
            self.run_start = record.minute
        self.record = record
        self.version += 1
        if record.kind == "gap":
            self.gaps += 1
            monitor_only = record.reason is not None and record.reason.startswith(
                MONITOR_GAP_REASONS)
            failed = 0 if monitor_only else 1
            values: dict[str, float] = {name: 0 for name in EVENT_COUNTERS}
            values.update({"positions_price_updated": 0, "polls": 0, "failed_polls": failed})
            if not monitor_only and self.down_since is None:
                self.down_since = record.minute
            elif monitor_only:
                self.down_since = None
        else:
            values = _with_gauge_aggregates(record.values)
            self.down_since = None
            self.gauges = {k: v for k, v in values.items() if k.partition(".")[0] in GAUGES}
            active = values.get("events")
            if active is None:  # old kit: any counted activity means the bot was writing
                active = sum(values.get(n, 0) for n in EVENT_COUNTERS) + values.get(
                    "positions_price_updated", 0)
            if active:
                self.last_active = record.at
        self.minute_values = values
        self.recent.append(values)
        self.every.append(values)

    def view(self, now: datetime) -> MetricsView:
        record = self.record
        assert record is not None and self.run_start is not None
        health: dict[str, float] = {
            "db_up": 0 if self.down_since is not None else 1,
            "db_down_s": 0.0 if self.down_since is None
            else round((now - self.down_since).total_seconds(), 1),
            "gap_minutes": self.gaps,
            "last_line_gap": 1 if record.kind == "gap" else 0,
        }
        if self.last_active is not None:
            health["bot_silent_s"] = round(max(0.0, (now - self.last_active).total_seconds()), 1)
        if "poll_p50_ms" in self.minute_values:
            health["poll_ms"] = self.minute_values["poll_p50_ms"]
        current = {k: v for k, v in self.minute_values.items()
                   if k.partition(".")[0] not in _GAUGE_BASES and k not in _POINT_KEYS}
        current.update(self.gauges)
        current.update(health)
        last_minute = {k: v for k, v in self.minute_values.items() if k not in _POINT_KEYS}
        all_time = _aggregate(self.every)
        all_time.update(health)
        windows = {"current": current, "last_minute": last_minute,
                   "last_10_minutes": _aggregate(list(self.recent)), "all_time": all_time}
        exchanges = sorted({k.partition(".")[2] for k in self.gauges
                            if k.startswith("open_positions.")})
        return MetricsView(
            now=now, run_start=self.run_start, run_end=None, version=self.version,
            db_up=self.down_since is None, db_down_since=self.down_since,
            db_error=record.reason if record.kind == "gap" else None,
            windows=MappingProxyType({k: MappingProxyType(v) for k, v in windows.items()}),
            exchanges=tuple(exchanges), positions=(), recent_events=(),
            gaps=(), snapshots_written=len(self.every))


def evaluation_times(record: MinuteRecord, next_at: datetime | None) -> list[datetime]:
    """The minute's end, and the last instant before the next minute (within the same clock
    minute, so an old-kit timestamp that drifts past :00 is not counted twice)."""
    second = minute_of(record.at) + LAST_INSTANT
    if next_at is not None:
        second = min(second, next_at - timedelta(milliseconds=1))
    return [record.at, second] if second > record.at else [record.at]


def replay_views(records: list[MinuteRecord]) -> Iterator[MetricsView]:
    """Views in time order, the way the live monitor would have shown them."""
    builder = ViewBuilder()
    for index, record in enumerate(records):
        builder.add(record)
        next_at = records[index + 1].at if index + 1 < len(records) else None
        for at in evaluation_times(record, next_at):
            yield builder.view(at)


@dataclass
class ReplayResult:
    files: list[Path]
    records: int
    gaps: int
    skipped: int
    formats: list[str]
    start: datetime
    end: datetime
    episodes: list[dict[str, Any]]
    per_minute: dict[str, Any]
    transitions: int
    engine: AlertEngine

    def to_json(self) -> dict[str, Any]:
        keep = ("rule", "severity", "start", "fired", "end", "minutes", "peak", "state",
                "message")
        return {
            "files": [str(f) for f in self.files], "minutes": self.records, "gaps": self.gaps,
            "skipped_lines": self.skipped, "formats": self.formats,
            "start": self.start.isoformat(), "end": self.end.isoformat(),
            "episodes": [{k: e[k] for k in keep} for e in self.episodes],
            "totals": {"episodes": len(self.episodes),
                       **{s: sum(e["severity"] == s for e in self.episodes)
                          for s in ("critical", "warning", "info")},
                       "transitions": self.transitions},
            "per_minute_view": self.per_minute,
        }


def replay(paths: Iterable[str | Path], ruleset: RuleSet) -> ReplayResult:
    read = read_snapshots(paths)
    engine = AlertEngine(ruleset, journal=None, bell=False)
    transitions = 0
    for view in replay_views(read.records):
        transitions += len(engine.evaluate(view))
    records = read.records
    return ReplayResult(
        files=read.files, records=len(records), gaps=sum(r.kind == "gap" for r in records),
        skipped=read.skipped, formats=sorted({r.fmt for r in records if r.kind == "minute"}),
        start=records[0].minute, end=records[-1].at, episodes=engine.episodes(),
        per_minute=engine.per_minute_view(), transitions=transitions, engine=engine)
