"""What ``botmon logs`` accumulates: bounded, mergeable counters over a log's records.

Two producers fill it and must agree: ``add_record`` (one record at a time; the reference, used by
tests and small inputs) and the fast scan (``logs_scan``), which counts whole chunks by line shape
and calls ``add_detail`` only for records that need their real text. Every collection has a cap,
so memory stays flat whatever the size of the log; a ``Where`` is ``(file index, line number)``.
"""

from __future__ import annotations

import heapq
from collections import Counter
from datetime import datetime
from typing import Sequence

import re

from tui.analysis.logs_regex import DIGITS_TO_ZERO
from tui.sources.logparse import (
    ERROR_CATEGORY,
    ERROR_LEVELS,
    EVENT_CATEGORY,
    EXCHANGE_CATEGORY,
    SLOW_TAG,
    Categoriser,
    CategoryMatch,
    IncidentFolder,
    LogRecord,
    is_detail_line,
    message_shape,
    numeric_fields,
)

Where = tuple[int, int]

SAMPLES = 3  # samples kept per tag / error type
SAMPLE_CHARS = 300
MAX_SYMBOLS = 2000  # per tag; the rest are counted under OTHER
MAX_ERROR_TYPES = 500
MAX_SLOW_OPS = 500
SLOWEST = 10
TOP_CAP = 20000  # distinct message shapes kept; over it, the rarer half is dropped
UNCATEGORISED_CAP = 5000  # distinct uncategorised shapes kept, the same way
OTHER = "(other)"
_EXCHANGE_PREFIX = EXCHANGE_CATEGORY + "."
_EVENT_PREFIX = EVENT_CATEGORY + "."
_ERROR_PREFIX = ERROR_CATEGORY + "."
_ZERO_RUNS = re.compile(rb"0{2,}")


def _clip(text: str) -> str:
    return text if len(text) <= SAMPLE_CHARS else text[: SAMPLE_CHARS - 1] + "…"


def _bump(counter: Counter[str], key: str, n: int, cap: int) -> None:
    if key in counter or len(counter) < cap:
        counter[key] += n
    else:
        counter[OTHER] += n


def top_key(logger: str, level: str, message: str) -> bytes:
    """The key under which a record counts as a "repeated message": every run of digits is "0"."""
    return collapse_digits(f"{logger} - {level} - {message}".encode("utf-8", "replace"))


def collapse_digits(text: bytes) -> bytes:
    return _ZERO_RUNS.sub(b"0", text.translate(DIGITS_TO_ZERO))


def uncategorised_key(logger: str, level: str, message: str) -> str:
    """How records without a category are grouped for the coverage list."""
    return f"{_DIGIT_RUN.sub('N', logger)} - {level} - {message_shape(message, 150)}"


_DIGIT_RUN = re.compile(r"[0-9]+")


def categorised(matches: Sequence[CategoryMatch]) -> bool:
    """A record is understood when a category other than an exchange mention or an error type
    says what it is (an event echo counts: it names its event type)."""
    return any(not m.tag.startswith((_EXCHANGE_PREFIX, _ERROR_PREFIX)) for m in matches)


class ErrorGroup:
    __slots__ = ("count", "first_time", "last_time", "first_where", "samples", "modules")

    def __init__(self) -> None:
        self.count = 0
        self.first_time: datetime | None = None
        self.last_time: datetime | None = None
        self.first_where: Where | None = None
        self.samples: list[tuple[Where, str, str, str]] = []  # where, time, logger, message
        self.modules: Counter[str] = Counter()

    def add(self, rec: LogRecord, where: Where) -> None:
        self.count += 1
        t = rec.time
        if t is not None:
            if self.first_time is None or t < self.first_time:
                self.first_time = t
            if self.last_time is None or t > self.last_time:
                self.last_time = t
        if self.first_where is None:
            self.first_where = where
        if len(self.samples) < SAMPLES:
            text = rec.message
            if rec.continuation:  # the exception line says what went wrong
                text += " | " + rec.continuation[-1].strip()
            self.samples.append((where, t.isoformat(sep=" ") if t else "", rec.logger, _clip(text)))
        _bump(self.modules, rec.logger, 1, MAX_SYMBOLS)

    def merge(self, other: ErrorGroup, shift: int) -> None:
        self.count += other.count
        for t in (other.first_time, other.last_time):
            if t is not None:
                if self.first_time is None or t < self.first_time:
                    self.first_time = t
                if self.last_time is None or t > self.last_time:
                    self.last_time = t
        if self.first_where is None and other.first_where is not None:
            self.first_where = _shift(other.first_where, shift)
        for where, t, logger, text in other.samples[: SAMPLES - len(self.samples)]:
            self.samples.append((_shift(where, shift), t, logger, text))
        for k, n in other.modules.items():
            _bump(self.modules, k, n, MAX_SYMBOLS)


def _shift(where: Where, shift: int) -> Where:
    return (where[0], where[1] + shift)


class LogStats:
    def __init__(self) -> None:
        self.lines = 0  # physical lines
        self.records = 0  # log entries (a traceback belongs to its entry), unparsed included
        self.unparsed = 0  # lines before the first record of a file, not in the bot's format
        self.continuation = 0  # traceback / continuation lines
        self.levels: Counter[str] = Counter()
        self.first_time: datetime | None = None  # of the first / last record that has one
        self.last_time: datetime | None = None
        self.tags: Counter[str] = Counter()
        self.tag_first: dict[str, Where] = {}
        self.tag_samples: dict[str, list[tuple[Where, str]]] = {}
        self.field_sums: Counter[str] = Counter()  # "wave.detected.signals" -> sum
        self.symbols: dict[str, Counter[str]] = {}  # tag -> symbol -> count
        self.exchange_records: Counter[str] = Counter()
        self.exchange_tags: dict[str, Counter[str]] = {}
        self.errors: dict[str, ErrorGroup] = {}
        self.error_modules: Counter[str] = Counter()
        self.errors_per_hour: Counter[str] = Counter()
        self.slowest: list[tuple[float, Where, str]] = []  # min-heap of the slowest operations
        self.slow_ops: dict[str, list[float]] = {}  # shape -> [count, total ms, max ms]
        self.top: Counter[bytes] = Counter()
        self.top_where: dict[bytes, Where] = {}
        self.top_pruned = False
        # One incident, one count: records whose every foldable tag belonged to an incident seen
        # a few ms earlier (the same failure logged again); see IncidentFolder.
        self.folded = 0
        self.categorised = 0  # parsed records with a category (see ``categorised``)
        self.uncategorised: Counter[str] = Counter()
        self.uncategorised_sample: dict[str, tuple[Where, str]] = {}
        self.uncategorised_pruned = False
        self.error_records = 0  # ERROR/CRITICAL records, folded and detail lines included
        self.error_folded = 0
        self.error_details = 0  # indented lines of a multi-line error dump
        self.folder = IncidentFolder()  # state of the scan, not merged

    # -- the reference path: one record at a time ----------------------------------------------

    def add_record(self, rec: LogRecord, matches: Sequence[CategoryMatch], where: Where) -> None:
        """One record in file order (its incidents are folded here)."""
        self.lines += rec.line_count
        self.records += 1
        self.continuation += rec.line_count - 1
        if not rec.parsed:
            self.unparsed += 1
            return
        self.levels[rec.level] += 1
        self.see_time(rec.time)
        key = top_key(rec.logger, rec.level, rec.message)
        if key in self.top:
            self.top[key] += 1
        else:
            self.add_top(key, 1, where)
        self.add_categorised(rec, matches, where)

    def add_categorised(
        self, rec: LogRecord, matches: Sequence[CategoryMatch], where: Where
    ) -> None:
        """Coverage, incidents and details of one record (its level and shape counted apart)."""
        if categorised(matches):
            self.categorised += 1
        else:
            self.add_uncategorised(uncategorised_key(rec.logger, rec.level, rec.message), 1,
                                   where, rec.message)
        kept, folded = self.folder.apply(rec, matches)
        self.add_detail(rec, kept, where, folded=folded)

    def see_time(self, t: datetime | None) -> None:
        if t is not None:
            if self.first_time is None:
                self.first_time = t
            self.last_time = t

    def add_top(self, key: bytes, count: int, where: Where) -> None:
        """A message shape not counted yet (or dropped by pruning and seen again)."""
        self.top[key] += count
        old = self.top_where.get(key)
        if old is None or where < old:
            self.top_where[key] = where
        if len(self.top) > TOP_CAP:
            self.prune_top()

    def prune_top(self) -> None:
        keep = dict(self.top.most_common(TOP_CAP // 2))
        self.top = Counter(keep)
        self.top_where = {k: w for k, w in self.top_where.items() if k in keep}
        self.top_pruned = True

    def add_uncategorised(self, key: str, count: int, where: Where, text: str) -> None:
        self.uncategorised[key] += count
        old = self.uncategorised_sample.get(key)
        if old is None or where < old[0]:
            self.uncategorised_sample[key] = (where, _clip(text))
        if len(self.uncategorised) > UNCATEGORISED_CAP:
            keep = dict(self.uncategorised.most_common(UNCATEGORISED_CAP // 2))
            self.uncategorised = Counter(keep)
            self.uncategorised_sample = {
                k: v for k, v in self.uncategorised_sample.items() if k in keep
            }
            self.uncategorised_pruned = True

    # -- what needs the record's real text ------------------------------------------------------

    def add_detail(
        self, rec: LogRecord, matches: Sequence[CategoryMatch], where: Where, *, folded: bool
    ) -> None:
        """Tags, fields, exchanges, errors and timings of one record (levels, shapes and
        coverage are counted apart). ``matches`` are the tags left after folding; ``folded``
        says the whole record was the same incident logged again."""
        exchanges = Categoriser.exchanges(rec, matches)
        for ex in exchanges:
            self.exchange_records[ex] += 1
        if folded:
            self.folded += 1
        for m in matches:
            tag = m.tag
            if tag.startswith(_EXCHANGE_PREFIX):
                continue  # exchange mentions are counted per exchange, above
            self.tags[tag] += 1
            if tag not in self.tag_first:
                self.tag_first[tag] = where
            samples = self.tag_samples.setdefault(tag, [])
            if len(samples) < SAMPLES:
                samples.append((where, _clip(rec.message)))
            for name, value in numeric_fields(m):
                self.field_sums[f"{tag}.{name}"] += value
            symbol = m.fields.get("symbol")
            if symbol and not tag.startswith(_EVENT_PREFIX):
                _bump(self.symbols.setdefault(tag, Counter()), symbol, 1, MAX_SYMBOLS)
            for ex in exchanges:
                self.exchange_tags.setdefault(ex, Counter())[tag] += 1
            if tag == SLOW_TAG:
                self._add_slow(m, rec, where)
        if rec.level in ERROR_LEVELS:
            self.add_error(rec, matches, where, exchanges, folded=folded)

    def add_error(
        self,
        rec: LogRecord,
        matches: Sequence[CategoryMatch],
        where: Where,
        exchanges: Sequence[str],
        *,
        folded: bool,
        kind: str | None = None,
        hour: str | None = None,
    ) -> None:
        """An ERROR/CRITICAL record: a new error incident unless it is a line of a multi-line
        dump or the same failure logged again. ``kind`` and ``hour``: already known (fast
        scan)."""
        self.error_records += 1
        if is_detail_line(rec.message):
            self.error_details += 1
        elif folded:
            self.error_folded += 1
        else:
            if kind is None:
                kind = Categoriser.error_type(rec, matches)
            group = self.errors.get(kind)
            if group is None:
                if len(self.errors) >= MAX_ERROR_TYPES:
                    kind = OTHER
                group = self.errors.setdefault(kind, ErrorGroup())
            group.add(rec, where)
            if hour is None:
                hour = rec.time.strftime("%Y-%m-%d %H:00") if rec.time else "unknown"
            self.errors_per_hour[hour] += 1
            for ex in exchanges:
                self.exchange_tags.setdefault(ex, Counter())["errors"] += 1
        self.error_modules[rec.logger] += 1

    def _add_slow(self, m: CategoryMatch, rec: LogRecord, where: Where) -> None:
        took = m.duration_ms()
        if took is None:
            return
        item = (took, where, _clip(rec.message))
        if len(self.slowest) < SLOWEST:
            heapq.heappush(self.slowest, item)
        elif item > self.slowest[0]:
            heapq.heapreplace(self.slowest, item)
        shape = message_shape(rec.message)
        op = self.slow_ops.get(shape)
        if op is None:
            if len(self.slow_ops) >= MAX_SLOW_OPS:
                shape = OTHER
            op = self.slow_ops.setdefault(shape, [0.0, 0.0, 0.0])
        op[0] += 1
        op[1] += took
        op[2] = max(op[2], took)

    # -- merging (parallel scan) ----------------------------------------------------------------

    def merge(self, other: LogStats, shift: int = 0) -> None:
        """Add ``other``, which comes right after ``self``; its line numbers move by ``shift``."""
        self.lines += other.lines
        self.records += other.records
        self.unparsed += other.unparsed
        self.continuation += other.continuation
        self.levels.update(other.levels)
        if self.first_time is None:
            self.first_time = other.first_time
        if other.last_time is not None:
            self.last_time = other.last_time
        self.tags.update(other.tags)
        for tag, where in other.tag_first.items():
            self.tag_first.setdefault(tag, _shift(where, shift))
        for tag, samples in other.tag_samples.items():
            mine = self.tag_samples.setdefault(tag, [])
            for where, text in samples[: SAMPLES - len(mine)]:
                mine.append((_shift(where, shift), text))
        self.field_sums.update(other.field_sums)
        for tag, symbols in other.symbols.items():
            mine_s = self.symbols.setdefault(tag, Counter())
            for k, n in symbols.items():
                _bump(mine_s, k, n, MAX_SYMBOLS)
        self.exchange_records.update(other.exchange_records)
        for ex, tags in other.exchange_tags.items():
            self.exchange_tags.setdefault(ex, Counter()).update(tags)
        for kind, group in other.errors.items():
            if kind not in self.errors and len(self.errors) >= MAX_ERROR_TYPES:
                kind = OTHER
            self.errors.setdefault(kind, ErrorGroup()).merge(group, shift)
        self.error_modules.update(other.error_modules)
        self.errors_per_hour.update(other.errors_per_hour)
        for took, where, text in other.slowest:
            item = (took, _shift(where, shift), text)
            if len(self.slowest) < SLOWEST:
                heapq.heappush(self.slowest, item)
            elif item > self.slowest[0]:
                heapq.heapreplace(self.slowest, item)
        for shape, (count, total, peak) in other.slow_ops.items():
            if shape not in self.slow_ops and len(self.slow_ops) >= MAX_SLOW_OPS:
                shape = OTHER
            op = self.slow_ops.setdefault(shape, [0.0, 0.0, 0.0])
            op[0] += count
            op[1] += total
            op[2] = max(op[2], peak)
        for key, n in other.top.items():
            where = other.top_where.get(key)
            if where is None:
                self.top[key] += n
            else:
                self.add_top(key, n, _shift(where, shift))
        self.top_pruned = self.top_pruned or other.top_pruned
        self.folded += other.folded
        self.categorised += other.categorised
        for key, n in other.uncategorised.items():
            sample = other.uncategorised_sample.get(key)
            if sample is None:
                self.uncategorised[key] += n
            else:
                self.add_uncategorised(key, n, _shift(sample[0], shift), sample[1])
        self.uncategorised_pruned = self.uncategorised_pruned or other.uncategorised_pruned
        self.error_records += other.error_records
        self.error_folded += other.error_folded
        self.error_details += other.error_details
