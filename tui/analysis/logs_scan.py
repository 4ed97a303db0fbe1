"""The fast path of ``botmon logs``: count whole chunks by line shape, parse only what matters.

Per chunk (a few MiB, cut where a record starts) everything per-line runs in C:
``bytes.translate`` maps every digit to "0", ``split`` cuts lines, ``Counter`` counts them. The
bot's millions of price lines collapse to a few thousand shapes; each shape is classified once
(header or continuation, level, exchange mentions, "could a category match?") and cached. Levels,
records, repeated messages and exchange mentions are then counted per shape. Only lines whose
shape could carry a category (or is ERROR/CRITICAL) are cut out of the real chunk and go through
the same parser and ``Categoriser`` as the live tailer. ``logs_regex`` explains why a category
check on the normalised shape never misses a line.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from itertools import compress

from tui.analysis.logs_regex import DIGITS_TO_ZERO, KeyRule
from tui.analysis.logs_stats import LogStats
from tui.sources.logparse import (
    ERROR_CATEGORY,
    ERROR_LEVELS,
    EXCHANGE_CATEGORY,
    HEADER_RE,
    SLOW_TAG,
    Categoriser,
    LogRecord,
    fold_text,
    parse_header,
    record_from_lines,
)

# A line is a continuation line, a header counted by its shape alone, one that needs its text, or
# one whose only possible category is a duration under/over the slow threshold (SLOWCHECK: the
# bot's pong lines carry an RTT; reading one number is far cheaper than the full record path).
NONHEADER, COUNTED, RAW, SLOWCHECK = 0, 1, 2, 3
_NONHEADER_INFO = (NONHEADER, "", (), b"")
CACHE_CAP = 30000  # cached shapes; cleared when over (between chunks)

# Where a record starts inside a buffer: after a newline, a full header.
RECORD_START_RE = re.compile(
    rb"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - [^\n]+? - [A-Z]+ -(?: |\r?\n|$))"
)


class ShapeClassifier:
    """Classifies digit-normalised lines; one per process, its cache shared by all units.

    A shape is ``(kind, level, extra, top key)``: for COUNTED shapes ``extra`` is the exchanges
    the line mentions; for RAW shapes it is the positions of the only category sub-keys the
    real line could match (the rest cannot: see ``logs_regex``), so its full check stays cheap.
    """

    def __init__(self, categoriser: Categoriser) -> None:
        self.categoriser = categoriser
        # (position, is exchange, sub-key, rules); a rule is (needle, fold, regex, exact)
        self.entries: list[
            tuple[int, bool, str, tuple[tuple[str, bool, re.Pattern[str], bool], ...]]
        ] = []
        errors = []
        self.slow_entry: int | None = None
        for i, (category, key, regexes) in enumerate(categoriser.rules()):
            if f"{category}.{key}" == SLOW_TAG:
                self.slow_entry = i
            if category == ERROR_CATEGORY:
                errors.append(i)  # ERROR records always get the full check (tracebacks)
                continue
            rules = tuple((r.needle, r.fold, r.regex, r.exact) for r in map(KeyRule, regexes))
            self.entries.append((i, category == EXCHANGE_CATEGORY, key, rules))
        self.error_entries = tuple(errors)
        self.cache: dict[bytes, tuple[int, str, tuple, bytes]] = {}

    def classify(self, key: bytes) -> tuple[int, str, tuple, bytes]:
        m = HEADER_RE.match(key)
        if m is None:
            return _NONHEADER_INFO
        level = m.group(9).decode("ascii")
        top = key[m.start(8) :].rstrip(b"\r")
        message = m.group(10).rstrip(b"\r").decode("utf-8", "replace")
        folded = fold_text(message)
        raw = level in ERROR_LEVELS
        candidates: list[int] = []
        exchanges: list[str] = []
        plain: list[int] = []
        for i, is_exchange, sub, rules in self.entries:
            hit = _search(rules, message, folded)
            if not hit and is_exchange:
                logger = m.group(8).decode("utf-8", "replace")
                hit = _search(rules, logger, fold_text(logger))
            if not hit:
                continue
            candidates.append(i)
            if not is_exchange:
                plain.append(i)
                raw = True
            elif hit == _LOOSE:
                raw = True  # only the real text can tell
                plain.append(-1)
            else:
                exchanges.append(sub)
        if raw and level not in ERROR_LEVELS and plain == [self.slow_entry]:
            return (SLOWCHECK, level, (tuple(exchanges), tuple(candidates)), top)
        if raw:
            if level in ERROR_LEVELS:
                candidates = sorted(candidates + list(self.error_entries))
            return (RAW, level, tuple(candidates), top)
        return (COUNTED, level, tuple(exchanges), top)


_EXACT, _LOOSE = 1, 2


def _search(
    rules: tuple[tuple[str, bool, re.Pattern[str], bool], ...], text: str, folded: str
) -> int:
    """_EXACT if an exact rule matches, else _LOOSE if a loosened one does, else 0."""
    loose = 0
    for needle, fold, regex, exact in rules:
        if needle and needle not in (folded if fold else text):
            continue
        if (exact or not loose) and regex.search(text) is not None:
            if exact:
                return _EXACT
            loose = _LOOSE
    return loose


class Scanner:
    """Scans one unit (a byte range of one file) chunk by chunk into a ``LogStats``."""

    def __init__(self, shapes: ShapeClassifier, file_index: int, *, file_start: bool) -> None:
        self.shapes = shapes
        self.categoriser = shapes.categoriser
        self.file_index = file_index
        self.file_start = file_start  # lines before the first record are "unparsed" only here
        self.seen_record = False
        self.line = 1  # number of the next line, relative to the unit's start
        self.stats = LogStats()

    def feed(self, chunk: bytes) -> None:
        """Scan a chunk that ends at a line boundary (or at the end of the input)."""
        if not chunk:
            return
        lines = chunk.translate(DIGITS_TO_ZERO).split(b"\n")
        if not lines[-1]:
            lines.pop()  # the chunk ended with a newline
        n = len(lines)
        base = self.line
        self.line += n
        st = self.stats
        st.lines += n

        info = self.shapes.cache
        if len(info) > CACHE_CAP:
            info.clear()
        classify = self.shapes.classify
        counts = Counter(lines)
        for key in counts:
            if key not in info:
                info[key] = classify(key)

        lead = 0  # lines before the first record: unparsed at a file's start
        if not self.seen_record:
            while lead < n and info[lines[lead]][0] == NONHEADER:
                lead += 1
            self.seen_record = lead < n
            if self.file_start:
                st.unparsed += lead
                st.records += lead
            else:  # a unit never starts mid-record unless a record spans a whole chunk
                st.continuation += lead
            for k in lines[:lead]:
                counts[k] -= 1

        headers = cont = 0
        raw_keys = set()
        check_keys = set()
        new_top: dict[bytes, bytes] = {}  # line -> top key, for message shapes not counted yet
        new_counts: Counter[bytes] = Counter()
        levels = st.levels
        top = st.top
        exchange_records = st.exchange_records
        for key, c in counts.items():
            if not c:
                continue
            kind, level, exchanges, tkey = info[key]
            if kind == NONHEADER:
                cont += c
                continue
            headers += c
            levels[level] += c
            if tkey in top:
                top[tkey] += c
            else:
                new_top[key] = tkey
                new_counts[tkey] += c
            if kind == RAW:
                raw_keys.add(key)
            elif kind == SLOWCHECK:
                check_keys.add(key)
            else:
                for ex in exchanges:
                    exchange_records[ex] += c
        st.records += headers
        st.continuation += cont

        offsets = _Offsets(lines)

        def raw(i: int) -> bytes:
            start = offsets.at(i)
            return chunk[start : start + len(lines[i])]

        self._see_time(lines, info, raw, range(lead, n), first=True)
        # The lines that need a look of their own: the first line of a new message shape (its
        # sample line number), records whose category needs their text, slow-threshold checks.
        special = raw_keys | check_keys | new_top.keys()
        fi = self.file_index
        slow_only = (self.shapes.slow_entry,)
        matches = self.categoriser.matches
        for i in compress(range(n), map(special.__contains__, lines)):
            key = lines[i]
            kind, level, extra, tkey = info[key]
            if key in new_top:
                del new_top[key]
                if tkey in new_counts:  # the first line of this shape (of any of its lines)
                    st.add_top(tkey, new_counts.pop(tkey), (fi, base + i))
            if kind == COUNTED:  # here only for its sample line number
                continue
            header = raw(i)
            if kind == SLOWCHECK:
                text = HEADER_RE.match(header).group(10).rstrip(b"\r").decode("utf-8", "replace")
                if not matches(LogRecord(0, None, "", level, text), slow_only):
                    for ex in extra[0]:  # under the threshold: just an exchange mention
                        exchange_records[ex] += 1
                    continue
                extra = extra[1]
            j = i + 1
            while j < n and info[lines[j]][0] == NONHEADER:
                j += 1
            rec = record_from_lines(header, [raw(k) for k in range(i + 1, j)], base + i)
            st.add_detail(rec, matches(rec, extra), (fi, base + i))
        self._see_time(lines, info, raw, range(n - 1, lead - 1, -1), first=False)

    def _see_time(self, lines, info, raw, order: range, *, first: bool) -> None:  # noqa: ANN001
        """The chunk's first (or last) record time; records are in file order."""
        st = self.stats
        for i in order:
            if info[lines[i]][0] != NONHEADER:
                parts = parse_header(raw(i))
                if parts and parts[0] is not None:
                    if not first:
                        st.last_time = parts[0]
                    elif st.first_time is None:
                        st.first_time = parts[0]
                    return


class _Offsets:
    """Byte offsets of lines in their chunk, asked for in increasing order (C sums in between)."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines
        self.i = 0
        self.pos = 0

    def at(self, i: int) -> int:
        if i < self.i:
            self.i = self.pos = 0
        if i > self.i:
            self.pos += sum(map(len, self.lines[self.i : i])) + (i - self.i)
            self.i = i
        return self.pos


def record_cut(buf: bytes, start: int = 0) -> int:
    """Offset just after the newline that precedes the last record start in ``buf[start:]``.

    Returns 0 if no record starts there, so the caller can fall back to the last newline.
    """
    window = 1 << 16
    end = len(buf)
    while True:
        lo = max(start, end - window)
        last = deque(RECORD_START_RE.finditer(buf, lo, end), maxlen=1)
        if last:
            return last[0].start() + 1
        if lo == start:
            return 0
        window *= 4


def first_record_start(buf: bytes) -> int:
    """Offset of the first record start after a newline in ``buf``, or -1."""
    m = RECORD_START_RE.search(buf)
    return m.start() + 1 if m else -1
