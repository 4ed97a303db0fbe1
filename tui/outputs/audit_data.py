"""Read a run directory for the audit report: run.json, snapshot lines, the final report,
alerts.jsonl and the hourly notes -- offline, after the fact, also after a crash.

Every snapshot line and every alerts.jsonl line keeps its file and line number, so the report
can cite them as evidence. When there is no final report (the run crashed, or is still running),
the totals are rebuilt from the snapshot lines and the report says so.
"""

from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

from tui.errors import BotmonError
from tui.outputs.report import (BY_EXCHANGE, NEW_TOTALS, OLD_KIT_TOTALS, REPORT_PREFIX,
                                expected_minutes)
from tui.outputs.rundir import META, RunDir
from tui.outputs.snapshots import SNAPSHOT_PREFIX
from tui.store.buckets import MINUTE, minute_of
from tui.store.metrics import EVENT_COUNTERS, GAUGES, LOG_COUNTERS

ALERTS_FILE = "alerts.jsonl"
NOTES_FILE = "hourly_observations.md"
SUMMED = frozenset(EVENT_COUNTERS) | frozenset(LOG_COUNTERS) | {"polls", "failed_polls"}
NOT_RUNNING = "no snapshot line (the monitor was not running)"
CORRECTION = "correction"  # a sealed minute's full content again, with late events counted


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass
class SnapLine:
    file: str  # name inside the run directory
    line: int  # 1-based
    kind: str  # minute / gap / manual / correction
    at: datetime  # the line's timestamp (a minute's end)
    minute: datetime | None  # the minute it describes (None for manual lines)
    record: dict
    corrected_by: str | None = None  # file:line of the correction record applied to it

    @property
    def values(self) -> dict:
        values = self.record.get("values")
        return values if isinstance(values, dict) else {}

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Transition:
    line: int
    event: str
    at: datetime | None


@dataclass
class EpisodeLog:
    """One alert episode as alerts.jsonl tells it: its last record and every transition line."""

    key: str
    rule: str
    severity: str
    record: dict  # the last line's record: the episode's latest state
    transitions: list[Transition] = field(default_factory=list)
    from_report: bool = False  # the record is the final report's (written at the end)

    @property
    def fired(self) -> bool:
        return bool(self.record.get("fired")) and self.record.get("state") in ("firing",
                                                                               "resolved")

    @property
    def start(self) -> datetime | None:
        return parse_time(self.record.get("start"))


@dataclass
class GapRange:
    first: datetime  # first minute (UTC minute start)
    last: datetime  # last minute
    reasons: list[str]
    lines: list[str]  # file:line of the gap lines (missing minutes have none)

    @property
    def minutes(self) -> int:
        return int((self.last - self.first) / MINUTE) + 1

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass
class Completeness:
    expected: int
    recorded: int
    gap_minutes: int  # gap lines
    missing_minutes: int  # no line at all
    ranges: list[GapRange]
    planned: int | None  # minutes of the planned run, when it is over
    extra_lines: int  # minute lines outside the expected minutes (e.g. after the planned end)


@dataclass
class RunData:
    path: Path
    meta: dict
    start: datetime
    end: datetime
    planned_end: datetime | None
    in_progress: bool  # no final report and the planned end has not passed
    final_report: dict | None
    final_report_file: str | None
    snapshots: list[SnapLine]
    snapshot_files: dict[str, int]  # file -> lines
    torn_lines: list[str]  # file:line of lines that were not JSON objects
    episodes: list[EpisodeLog]
    alert_lines: int
    alert_lines_skipped: int
    hourly_notes: str | None
    files: list[tuple[str, int]]  # every file in the run directory with its size
    notes: list[str] = field(default_factory=list)
    now: datetime | None = None  # when the report is built
    live: bool = False  # exported during the run, from the live monitor's totals
    corrections: list[SnapLine] = field(default_factory=list)  # applied correction records
    orphan_corrections: list[str] = field(default_factory=list)  # file:line, no such minute

    @property
    def minutes(self) -> list[SnapLine]:
        return [s for s in self.snapshots if s.kind == "minute"]

    @property
    def run_minutes(self) -> list[SnapLine]:
        first = minute_of(self.start)
        return [s for s in self.minutes
                if s.minute is not None and first <= s.minute < self.end]

    @property
    def exchanges(self) -> list[str]:
        found: set[str] = set()
        if self.final_report:
            found.update(self.final_report.get("metrics_summary", {}).get("by_exchange") or {})
        for snap in self.minutes:
            found.update((snap.record.get("by_exchange") or {}).keys())
        return sorted(found)


# -- reading --------------------------------------------------------------------------------------

def open_run(path: str | Path) -> RunDir:
    """The run directory, or a one-line error that says what to pass instead."""
    folder = Path(path)
    hint = "pass the run directory botmon printed at start, e.g. ./botmon-runs/20251015_090000"
    if not folder.exists():
        raise BotmonError(str(path), "no such run directory", hint)
    if not folder.is_dir():
        raise BotmonError(str(path), "not a directory", hint)
    if not (folder / META).exists():
        snapshots = sorted(folder.glob(f"{SNAPSHOT_PREFIX}*.jsonl"))
        problem = f"not a botmon run directory (no {META})"
        if snapshots:
            problem += f"; it holds {len(snapshots)} snapshot file(s)"
            hint = "old-kit snapshot files can be replayed with `botmon replay FILES`"
        raise BotmonError(str(path), problem, hint)
    return RunDir(folder)


def read_run(run: RunDir, *, report: dict | None = None,
             now: datetime | None = None) -> RunData:
    """Everything the run directory holds; ``report`` replaces the final report on disk (the
    live monitor's current totals, when exporting during a run)."""
    meta = run.read_meta()
    notes: list[str] = []
    read = read_snapshots(run.path)
    snapshots, files, torn = read.lines, read.files, read.torn
    if torn:
        notes.append(f"{len(torn)} snapshot line(s) could not be read and were skipped "
                     f"({', '.join(torn[:3])}{', ...' if len(torn) > 3 else ''})")
    if read.orphans:
        notes.append(f"{len(read.orphans)} correction record(s) name a minute with no line "
                     f"and were ignored ({', '.join(read.orphans[:3])})")
    final, final_file = (report, None) if report is not None else _final_report(run.path, notes)
    # An export during the run passes the live monitor's totals: the run goes on.
    live = report is not None and report.get("finished_by") in (None, "running")
    start = parse_time(meta.get("run_start"))
    if start is None:
        first = next((s for s in snapshots if s.minute is not None), None)
        if first is None:
            raise BotmonError(str(run.path / META), "no run_start and no snapshot lines",
                              "the run never recorded a minute: there is nothing to report")
        start = first.minute  # type: ignore[assignment]
        notes.append(f"{META} has no run_start; the first snapshot minute is used")
    planned_end = parse_time(meta.get("planned_end"))
    now = now or datetime.now(timezone.utc)
    last_line = max((s.at for s in snapshots), default=start)
    if final is not None:
        end = parse_time(final.get("monitoring_end")) or last_line
        if report is None and last_line > end + MINUTE:
            notes.append(f"the final report {final_file} ends at {end.isoformat()}, before the "
                         f"last snapshot line ({last_line.isoformat()}): the run went on after "
                         "it (resumed?) and is reported from the snapshot lines")
            final, final_file = None, None
            end = last_line
    else:
        end = last_line
    in_progress = (final is None or live) and (planned_end is None or planned_end > now)
    if final is None:
        notes.append("no final report (monitoring_report_*.json): the run "
                     + ("is still running or crashed" if in_progress else "crashed")
                     + "; totals are rebuilt from the snapshot lines (approximate: the first, "
                     "partial minute is counted whole and events of gap minutes are missing)")
    elif live:
        notes.append("exported during the run: streamed totals so far; minutes that have not "
                     "ended yet are not counted as missing")
    episodes, alert_lines, skipped = read_alerts(run.path / ALERTS_FILE)
    if skipped:
        notes.append(f"{skipped} line(s) of {ALERTS_FILE} could not be read and were skipped")
    hourly = _read_text(run.path / NOTES_FILE)
    listing = sorted((p.name, p.stat().st_size) for p in run.path.iterdir()
                     if p.is_file() and not p.name.startswith("."))
    return RunData(path=run.path, meta=meta, start=start, end=max(end, start),
                   planned_end=planned_end, in_progress=in_progress, final_report=final,
                   final_report_file=final_file, snapshots=snapshots, snapshot_files=files,
                   torn_lines=torn, episodes=episodes, alert_lines=alert_lines,
                   alert_lines_skipped=skipped, hourly_notes=hourly, files=listing,
                   notes=notes, now=now, live=live, corrections=read.corrections,
                   orphan_corrections=read.orphans)


@dataclass
class SnapshotRead:
    lines: list[SnapLine]  # minute, gap and manual lines, corrections applied, in minute order
    files: dict[str, int]  # file -> lines
    torn: list[str]  # file:line of lines that were not snapshot records
    corrections: list[SnapLine] = field(default_factory=list)  # the ones applied
    orphans: list[str] = field(default_factory=list)  # corrections of a minute with no line


def read_snapshots(folder: Path) -> SnapshotRead:
    lines: list[SnapLine] = []
    files: dict[str, int] = {}
    torn: list[str] = []
    corrections: dict[datetime, SnapLine] = {}
    for path in sorted(folder.glob(f"{SNAPSHOT_PREFIX}*.jsonl")):
        count = 0
        with open(path, encoding="utf-8", errors="replace") as handle:
            for number, text in enumerate(handle, 1):
                count = number
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except ValueError:
                    torn.append(f"{path.name}:{number}")
                    continue
                snap = _snap_line(path.name, number, record)
                if snap is None:
                    torn.append(f"{path.name}:{number}")
                elif snap.kind == CORRECTION:
                    known = corrections.get(snap.minute)  # type: ignore[arg-type]
                    if known is None or known.at <= snap.at:  # the latest one counts
                        corrections[snap.minute] = snap  # type: ignore[index]
                else:
                    lines.append(snap)
        files[path.name] = count
    lines.sort(key=lambda s: (s.minute or s.at, s.at))
    applied, orphans = _apply_corrections(lines, corrections)
    return SnapshotRead(lines, files, torn, applied, orphans)


def _apply_corrections(lines: list[SnapLine], corrections: dict[datetime, SnapLine]
                       ) -> tuple[list[SnapLine], list[str]]:
    """A correction record carries a sealed minute's full corrected content (events that
    arrived after its line was written): it replaces that content; the line keeps its place."""
    by_minute: dict[datetime, SnapLine] = {}
    for snap in lines:
        if snap.minute is not None and snap.kind in ("minute", "gap"):
            by_minute[snap.minute] = snap  # a minute written twice: the later line counts
    applied, orphans = [], []
    for minute, correction in sorted(corrections.items()):
        snap = by_minute.get(minute)
        if snap is None:
            orphans.append(correction.where)
            continue
        content = {k: correction.record[k] for k in ("metrics", "by_exchange", "values")
                   if isinstance(correction.record.get(k), dict)}
        snap.record = {**snap.record, **content, "corrected_by": correction.where,
                       "late_events": correction.record.get("late_events")}
        snap.corrected_by = correction.where
        applied.append(correction)
    return applied, orphans


def _snap_line(name: str, number: int, record: Any) -> SnapLine | None:
    if not isinstance(record, dict):
        return None
    at = parse_time(record.get("timestamp"))
    if at is None:
        return None
    kind = record.get("kind") or "minute"
    minute = parse_time(record.get("minute"))
    if kind == CORRECTION:
        if minute is None or not isinstance(record.get("values"), dict):
            return None
        return SnapLine(name, number, kind, at, minute_of(minute), record)
    if kind in ("minute", "gap") and minute is None:
        minute = minute_of(at - MINUTE)  # an old-kit line: its timestamp ends the minute
    if kind == "manual":
        minute = None
    return SnapLine(name, number, str(kind), at, minute, record)


def _final_report(folder: Path, notes: list[str]) -> tuple[dict | None, str | None]:
    reports = sorted(folder.glob(f"{REPORT_PREFIX}*.json"))
    for path in reversed(reports):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            notes.append(f"{path.name} is unreadable ({type(exc).__name__}) and was ignored")
            continue
        if isinstance(data, dict):
            if len(reports) > 1:
                notes.append(f"{len(reports)} final reports in the run directory; the newest "
                             f"({path.name}) is used")
            return data, path.name
    return None, None


def read_alerts(path: Path) -> tuple[list[EpisodeLog], int, int]:
    """Episodes in the order they started, each with its transition lines."""
    episodes: dict[str, EpisodeLog] = {}
    lines = skipped = 0
    if not path.exists():
        return [], 0, 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, text in enumerate(handle, 1):
            lines = number
            try:
                record = json.loads(text)
            except ValueError:
                skipped += 1
                continue
            key = record.get("episode") if isinstance(record, dict) else None
            if not isinstance(key, str) or not record.get("rule"):
                skipped += 1
                continue
            episode = episodes.get(key)
            if episode is None:
                episode = episodes[key] = EpisodeLog(key, str(record["rule"]),
                                                     str(record.get("severity", "info")), record)
            episode.record = record  # every line carries the whole episode at that moment
            episode.transitions.append(Transition(number, str(record.get("event", "?")),
                                                  parse_time(record.get("at"))))
    ordered = sorted(episodes.values(), key=lambda e: (e.start or datetime.max.replace(
        tzinfo=timezone.utc), e.key))
    return ordered, lines, skipped


def merge_report_episodes(episodes: list[EpisodeLog], report: dict | None) -> None:
    """The final report lists every fired episode as it stood at the end: an episode still
    firing then has more minutes than its last alerts.jsonl line (its firing transition)."""
    if not report:
        return
    latest = {r.get("episode"): r for r in report.get("alerts") or [] if isinstance(r, dict)}
    for episode in episodes:
        record = latest.get(episode.key)
        if record is None:
            continue
        ours = parse_time(episode.record.get("last_held")) or parse_time(
            episode.record.get("at"))
        theirs = parse_time(record.get("last_held"))
        if ours is None or (theirs is not None and theirs >= ours):
            episode.record = {**episode.record, **record}
            episode.from_report = True


def episodes_from_report(report: dict) -> list[EpisodeLog]:
    """Without alerts.jsonl: the episodes the final report lists (no line numbers)."""
    found = []
    for record in report.get("alerts") or []:
        if isinstance(record, dict) and record.get("episode") and record.get("rule"):
            found.append(EpisodeLog(str(record["episode"]), str(record["rule"]),
                                    str(record.get("severity", "info")), record,
                                    from_report=True))
    return found


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


# -- completeness -----------------------------------------------------------------------------

def completeness(data: RunData, grace_s: float = 10.0) -> Completeness:
    """Minutes of the run: recorded, gap lines, and minutes with no line at all.

    During a run (an export from the live monitor), a minute whose line is not due yet (it
    ended less than ``grace_s`` ago) is not expected yet, and the rest of the planned run is
    not missing: it has not happened."""
    final = data.final_report or {}
    snap_summary = (final.get("metrics_summary") or {}).get("snapshots") or {}
    expected = snap_summary.get("expected")
    if not isinstance(expected, int):
        end = data.end
        if data.final_report is None and not data.in_progress and data.planned_end:
            end = max(end, data.planned_end)  # a crash: the minutes after it are missing too
        expected = expected_minutes(data.start, end)
    first = minute_of(data.start)
    wanted = [first + i * MINUTE for i in range(expected)]
    by_minute: dict[datetime, SnapLine] = {}
    for snap in data.snapshots:
        if snap.minute is not None and snap.kind in ("minute", "gap"):
            by_minute[snap.minute] = snap  # a minute written twice: the later line counts
    if data.in_progress and data.now is not None:
        due = data.now - timedelta(seconds=grace_s)
        while wanted and wanted[-1] not in by_minute and wanted[-1] + MINUTE > due:
            wanted.pop()
        expected = len(wanted)
    recorded = gap_lines = missing = 0
    ranges: list[GapRange] = []
    for minute in wanted:
        snap = by_minute.get(minute)
        if snap is not None and snap.kind == "minute":
            recorded += 1
            continue
        if snap is None:
            missing += 1
            reason, where = NOT_RUNNING, None
        else:
            gap_lines += 1
            reason = without_hint(str(snap.record.get("reason") or "no reason recorded"))
            where = snap.where
        last = ranges[-1] if ranges else None
        if last is not None and last.last + MINUTE == minute:
            last.last = minute
            if reason not in last.reasons:
                last.reasons.append(reason)
        else:
            last = GapRange(minute, minute, [reason], [])
            ranges.append(last)
        if where:
            last.lines.append(where)
    planned = None
    if data.planned_end is not None and not data.in_progress:
        planned = expected_minutes(data.start, data.planned_end)
    extra = sum(1 for m, s in by_minute.items() if s.kind == "minute" and m not in set(wanted))
    return Completeness(expected, recorded, gap_lines, missing, ranges, planned, extra)


def without_hint(reason: str) -> str:
    """A gap reason as recorded carries the command line's hint (``--dsn``, ``botmon demo``):
    noise in an audit report."""
    return _HINT.sub("", reason).strip()


_HINT = re.compile(r"\s*\(hint: .*\)\s*$")


# -- totals -----------------------------------------------------------------------------------

def summary_from_snapshots(data: RunData) -> dict[str, Any]:
    """The final report's ``metrics_summary`` shape, rebuilt from the run's minute lines."""
    minutes = data.run_minutes
    sums: Counter = Counter()
    for snap in minutes:
        for name, value in snap.values.items():
            base = name.partition(".")[0]
            if base in SUMMED and isinstance(value, (int, float)):
                sums[name] += value
    listed = {name for snap in minutes for name in snap.values}
    # A metric listed only as null (no source on this bot) has no total: None, never 0.
    summary: dict[str, Any] = {
        key: int(sums.get(metric, 0)) if metric in sums or metric not in listed else None
        for key, metric in {**OLD_KIT_TOTALS, **NEW_TOTALS}.items()}
    summary["positions_with_price_updates"] = None  # distinct per minute: not summable
    for gauge in ("open_positions", "unprotected", "aged"):
        summary[f"max_{gauge}"] = _max(s.values.get(f"{gauge}_max") for s in minutes)
        summary[f"avg_{gauge}"] = _mean(s.values.get(f"{gauge}_avg") for s in minutes)
    summary["by_exchange"] = {
        ex: {**{key: int(sums.get(f"{metric}.{ex}", 0)) for key, metric in BY_EXCHANGE.items()},
             "max_open": _max(s.values.get(f"open_positions_max.{ex}") for s in minutes)}
        for ex in data.exchanges}
    p50s = [v for v in (s.values.get("poll_p50_ms") for s in minutes) if _num(v)]
    summary["poll_latency_ms"] = {
        "p50": round(statistics.median(p50s), 2) if p50s else None,
        "p95": _max(s.values.get("poll_p95_ms") for s in minutes),  # the worst minute's
        "max": _max(s.values.get("poll_max_ms") for s in minutes),
        "polls": int(sums.get("polls", 0)), "failed_polls": int(sums.get("failed_polls", 0))}
    summary["counting"] = {"source": "snapshots", "streamed_events": int(sums.get("events", 0)),
                           "recounted_events": None, "late_events": None,
                           "recount_error": "no final report"}
    return summary


def snapshot_sums(data: RunData) -> Counter:
    """Every summable value (counters, per exchange too) over the run's minute lines."""
    sums: Counter = Counter()
    for snap in data.run_minutes:
        for name, value in snap.values.items():
            if name.partition(".")[0] in SUMMED and _num(value):
                sums[name] += value
    return sums


def gauge_stats(data: RunData, name: str) -> tuple[float | None, float | None]:
    """(max, average) of a gauge over the run's minute lines."""
    minutes = data.run_minutes
    base, dot, exchange = name.partition(".")
    return (_max(s.values.get(f"{base}_max{dot}{exchange}") for s in minutes),
            _mean(s.values.get(f"{base}_avg{dot}{exchange}") for s in minutes))


def minutes_where(data: RunData, name: str, above: float = 0) -> list[SnapLine]:
    return [s for s in data.run_minutes if _num(s.values.get(name))
            and s.values[name] > above]


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _max(values: Iterable[Any]) -> float | None:
    found = [v for v in values if _num(v)]
    return max(found) if found else None


def _mean(values: Iterable[Any]) -> float | None:
    found = [v for v in values if _num(v)]
    return round(sum(found) / len(found), 3) if found else None


GAUGE_NAMES = tuple(GAUGES)
