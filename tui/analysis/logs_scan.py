"""The fast path of ``botmon logs``: count whole chunks by line key, parse only what matters.

Per chunk (a few MiB, cut where a record starts) everything per-line runs in C:
``bytes.translate`` maps every digit to "0", one ``re.sub`` makes every run of digits a single
"0", a well-formed timestamp becomes a two-byte mark, ``split`` cuts lines and ``Counter``
counts them. Real logs print prices with a varying number of digits; with digit runs collapsed
the bot's millions of lines fall into a few thousand keys, each classified once and cached:
header or continuation, level, the categories decided on the key alone (``logs_regex``: a regex
that cannot tell a digit run's length gives the same answer on the key as on the line), and the
few sub-keys that need the real text (numbers to sum, a symbol to tell incidents apart, a regex
that counts digits). Keys that need nothing more are counted as a whole; the other lines go
through the same parser, ``Categoriser`` and ``LogStats`` code as the one-record-at-a-time
reference, in file order, so incidents fold the same way.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime
from itertools import compress

from tui.analysis.logs_regex import DIGITS_TO_ZERO, is_key_exact
from tui.analysis.logs_stats import MAX_SYMBOLS, LogStats, _bump, categorised, uncategorised_key
from tui.sources.logparse import (
    ERROR_CATEGORY,
    ERROR_LEVELS,
    EXCHANGE_CATEGORY,
    SLOW_TAG,
    Categoriser,
    CategoryMatch,
    EVENT_CATEGORY,
    IncidentFolder,
    LogRecord,
    fold_text,
    time_ms,
    is_foldable,
    numeric_fields,
    parse_header,
    parse_lines,
    record_from_lines,
    required_literal,
)

CACHE_CAP = 60000  # cached keys; cleared when over (between chunks)
SAMPLES = 3

MARK = b"\x00\x01"  # a well-formed "YYYY-MM-DD HH:MM:SS,mmm - " at the start of a line
_TIMESTAMP_LINE = b"\n0000-00-00 00:00:00,000 - "
_ZERO_RUNS = re.compile(rb"0{2,}")
_KEY_HEADER_RE = re.compile(rb"\x00\x01(.+?) - ([A-Z]+) -(?: |$)(.*)", re.S)

# Where a record starts inside a buffer: after a newline, a full header.
RECORD_START_RE = re.compile(
    rb"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - [^\n]+? - [A-Z]+ -(?: |\r?\n|$))"
)


def line_keys(chunk: bytes) -> list[bytes]:
    """One key per line of ``chunk``: digit runs -> "0", a record's timestamp -> ``MARK``."""
    z = (b"\n" + chunk.translate(DIGITS_TO_ZERO)).replace(_TIMESTAMP_LINE, b"\n" + MARK)
    return _ZERO_RUNS.sub(b"0", z)[1:].split(b"\n")


@dataclass(frozen=True, slots=True)
class KeyPlan:
    """What a key says about every line that has it."""

    header: bool
    level: str = ""
    top: bytes = b""  # the "repeated messages" key
    static: tuple[tuple[int, CategoryMatch], ...] = ()  # decided on the key: (position, match)
    dynamic: tuple[int, ...] = ()  # sub-keys to check on each line's real text
    per_line: bool = False  # dynamic sub-keys, or an ERROR record: each line is looked at
    uncategorised: str | None = None  # the coverage key, when the key has no category
    exchanges: tuple[str, ...] = ()  # of the static matches (bulk counting)
    # The common case, looked at per line without the record parser: the only per-line work is
    # folding these (tag, symbol) pairs (symbols without digits are the key's own).
    lean: tuple[tuple[str, str | None], ...] | None = None
    logger: str = ""
    error_type: str | None = None  # of an ERROR key whose type the key decides


NONHEADER = KeyPlan(False)


class ShapeClassifier:
    """Classifies line keys; one per process, its cache shared by all units."""

    def __init__(self, categoriser: Categoriser) -> None:
        self.categoriser = categoriser
        self.exact: list[bool] = []
        self.needles: list[list[tuple[str, bool]] | None] = []  # None: no pre-check possible
        self.errors: list[int] = []
        self.kinds: list[str] = []
        for i, (category, _key, regexes) in enumerate(categoriser.rules()):
            self.kinds.append(category)
            if category == ERROR_CATEGORY:
                self.errors.append(i)
            self.exact.append(all(is_key_exact(r) for r in regexes))
            needles: list[tuple[str, bool]] | None = []
            for r in regexes:
                lit = required_literal(r)
                if lit is None:
                    needles = None
                    break
                text, fold = lit
                needles.append((_collapse_text(text), fold))
            self.needles.append(needles)
        self.exact_positions = [i for i, exact in enumerate(self.exact) if exact]
        # An error's type is decided on the key when every [error] sub-key is key-exact.
        self.error_static = all(self.exact[i] for i in self.errors)
        self.inexact = [i for i, exact in enumerate(self.exact) if not exact]
        self.cache: dict[bytes, KeyPlan] = {}

    def classify(self, key: bytes) -> KeyPlan:
        if not key.startswith(MARK):
            return NONHEADER
        m = _KEY_HEADER_RE.match(key.rstrip(b"\r"))
        if m is None:
            return NONHEADER
        logger = m.group(1).decode("utf-8", "replace")
        level = m.group(2).decode("ascii")
        message = m.group(3).decode("utf-8", "replace")
        rec = LogRecord(0, None, logger, level, message)
        is_error = level in ERROR_LEVELS
        folded_msg = fold_text(message)
        folded_logger = fold_text(logger)
        static: list[tuple[int, CategoryMatch]] = []
        dynamic: list[int] = [
            i
            for i in self.inexact
            if (is_error or self.kinds[i] != ERROR_CATEGORY)
            and self._could_match(i, message, folded_msg, logger, folded_logger, self.kinds[i])
        ]
        for i, hit in self.categoriser.positioned(rec, self.exact_positions, any_duration=True):
            if is_foldable(hit.tag) or any("0" in v for v in hit.fields.values()):
                dynamic.append(i)  # incidents need the real symbol; sums need the real numbers
            else:
                static.append((i, hit))
        dynamic.sort()
        matches = [hit for _, hit in static]
        known = not dynamic and not categorised(matches)
        lean, error_type = self._lean(rec, static, dynamic)
        return KeyPlan(
            True,
            level,
            key[len(MARK) :].rstrip(b"\r"),
            tuple(static),
            tuple(dynamic),
            bool(dynamic) or is_error,
            uncategorised_key(logger, level, message) if known else None,
            Categoriser.exchanges(rec, matches),
            lean,
            logger,
            error_type,
        )

    def _lean(
        self, rec: LogRecord, static: list[tuple[int, CategoryMatch]], dynamic: list[int]
    ) -> tuple[tuple[tuple[str, str | None], ...] | None, str | None]:
        """The (tag, symbol) pairs to fold per line, when nothing else needs the real line."""
        if "0" in rec.logger or not (dynamic or rec.level in ERROR_LEVELS):
            return None, None
        if rec.level in ERROR_LEVELS and not self.error_static:
            return None, None
        found = self.categoriser.positioned(rec, dynamic, any_duration=True)
        if len(found) != len(dynamic):
            return None, None  # an inexact sub-key: only the real line can tell
        pairs = []
        for i, hit in found:
            if (
                not self.exact[i]
                or not is_foldable(hit.tag)
                or hit.tag == SLOW_TAG
                or "exchange" in hit.fields
                or any("0" in v for v in hit.fields.values())
                or list(numeric_fields(hit))
            ):
                return None, None
            pairs.append((hit.tag, hit.fields.get("symbol")))
        error_type = None
        if rec.level in ERROR_LEVELS:
            errors = [m for _, m in static if m.category == ERROR_CATEGORY]
            error_type = Categoriser.error_type(rec, errors)
        return tuple(pairs), error_type

    def _could_match(
        self, i: int, message: str, folded_msg: str, logger: str, folded_logger: str, kind: str
    ) -> bool:
        needles = self.needles[i]
        if needles is None:
            return True
        texts = [(message, folded_msg)]
        if kind == EXCHANGE_CATEGORY:
            texts.append((logger, folded_logger))
        for needle, fold in needles:
            for text, folded in texts:
                if needle in (folded if fold else text):
                    return True
        return False


def _collapse_text(text: str) -> str:
    return re.sub("0{2,}", "0", text.translate(_STR_DIGITS_TO_ZERO))


_STR_DIGITS_TO_ZERO = str.maketrans("123456789", "000000000")


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
        self._seconds: dict[bytes, tuple[int | None, datetime | None, str]] = {}

    def seed(self, before: bytes, *, at_file_start: bool = False) -> None:
        """Records just before this unit's start: they may be the first lines of an incident
        whose repeats this unit holds (see ``IncidentFolder``)."""
        if not at_file_start:
            start = before.find(b"\n")
            if start < 0:
                return
            before = before[start + 1 :]
        cat = self.categoriser
        folder = self.stats.folder
        lines = before.split(b"\n")
        if lines and not lines[-1]:
            lines.pop()
        for rec in parse_lines(lines):
            if rec.parsed:
                folder.apply(rec, cat.matches(rec))

    def feed(self, chunk: bytes) -> None:
        """Scan a chunk that ends at a line boundary (or at the end of the input)."""
        if not chunk:
            return
        keys = line_keys(chunk)
        raws = chunk.split(b"\n")
        if not keys[-1]:
            keys.pop()  # the chunk ended with a newline
            raws.pop()
        n = len(keys)
        base = self.line
        self.line += n
        st = self.stats
        st.lines += n

        plans = self.shapes.cache
        if len(plans) > CACHE_CAP:
            plans.clear()
        classify = self.shapes.classify
        counts = Counter(keys)
        for key in counts:
            if key not in plans:
                plans[key] = classify(key)

        lead = 0  # lines before the first record: unparsed at a file's start
        if not self.seen_record:
            while lead < n and not plans[keys[lead]].header:
                lead += 1
            self.seen_record = lead < n
            if self.file_start:
                st.unparsed += lead
                st.records += lead
            else:  # a unit never starts mid-record unless a record spans a whole chunk
                st.continuation += lead
            for k in keys[:lead]:
                counts[k] -= 1

        headers = cont = 0
        special: set[bytes] = set()
        new_top: dict[bytes, bytes] = {}  # line key -> top key, for message shapes not counted yet
        new_counts: Counter[bytes] = Counter()
        new_uncat: Counter[str] = Counter()  # coverage shapes not counted yet
        levels = st.levels
        top = st.top
        tags = st.tags
        for key, c in counts.items():
            if not c:
                continue
            plan = plans[key]
            if not plan.header:
                cont += c
                continue
            headers += c
            levels[plan.level] += c
            tkey = plan.top
            if tkey in top:
                top[tkey] += c
            else:
                new_top[key] = tkey
                new_counts[tkey] += c
                special.add(key)
            if plan.per_line:
                special.add(key)
                if plan.lean is None:
                    continue
            # Counted as a whole: every line of this key has these categories (a lean key's
            # foldable ones are counted per line).
            if plan.uncategorised is None:
                st.categorised += c
            else:
                u = plan.uncategorised
                if u in st.uncategorised:
                    st.uncategorised[u] += c
                else:
                    new_uncat[u] += c
                    special.add(key)
            _count_static(st, plan, c)
            for _, m in plan.static:
                tag = m.tag
                if not tag.startswith(_EXCHANGE_PREFIX) and (
                    tag not in st.tag_first or len(st.tag_samples.get(tag, ())) < SAMPLES
                ):
                    special.add(key)
        st.records += headers
        st.continuation += cont

        self._see_time(keys, raws, plans, range(lead, n), first=True)
        fi = self.file_index
        cat = self.categoriser
        errors = self.shapes.errors
        for i in compress(range(n), map(special.__contains__, keys)):
            key = keys[i]
            plan = plans[key]
            where = (fi, base + i)
            if key in new_top:
                del new_top[key]
                tkey = plan.top
                if tkey in new_counts:  # the first line of this shape (of any of its lines)
                    st.add_top(tkey, new_counts.pop(tkey), where)
            if plan.per_line:
                j = i + 1
                while j < n and not plans[keys[j]].header:
                    j += 1
                if plan.lean is not None and j == i + 1:
                    self._lean_line(plan, raws[i], where)
                    if plan.uncategorised is None and not plan.static:
                        continue
                    # fall through: first occurrences of the key's static tags
                elif j > i + 1:  # a traceback: the error type may come from its last line
                    rec = record_from_lines(raws[i], raws[i + 1 : j], base + i)
                    wanted = sorted({*(p for p, _ in plan.static), *plan.dynamic, *errors})
                    matches = cat.matches(rec, wanted)
                else:
                    parts = parse_header(raws[i])
                    if parts is None:  # cannot happen: the key said header
                        continue
                    rec = LogRecord(base + i, *parts)
                    found = cat.positioned(rec, plan.dynamic) if plan.dynamic else []
                    matches = _merged(plan.static, found)
                if plan.lean is None or j > i + 1:
                    if plan.lean is not None:  # counted as a whole above: take this line out
                        _count_static(st, plan, -1)
                        u = plan.uncategorised
                        if u is None:
                            st.categorised -= 1
                        elif u in new_uncat:
                            new_uncat[u] -= 1
                            if new_uncat[u] <= 0:
                                del new_uncat[u]
                        else:
                            st.uncategorised[u] -= 1
                    st.add_categorised(rec, matches, where)
                    continue
            # A key counted as a whole: only first occurrences (samples) are wanted here.
            u = plan.uncategorised
            if u is not None and u in new_uncat:  # the first line of this coverage shape
                st.add_uncategorised(u, new_uncat.pop(u), where, _message(raws[i]))
            for _, m in plan.static:
                tag = m.tag
                if tag.startswith(_EXCHANGE_PREFIX):
                    continue
                if tag not in st.tag_first:
                    st.tag_first[tag] = where
                samples = st.tag_samples.setdefault(tag, [])
                if len(samples) < SAMPLES:
                    samples.append((where, _clip(_message(raws[i]))))
        self._see_time(keys, raws, plans, range(n - 1, lead - 1, -1), first=False)

    def _lean_line(self, plan: KeyPlan, raw: bytes, where: tuple[int, int]) -> None:
        """``LogStats.add_categorised`` for a lean key's line: the key decided everything but
        which of its tags repeat an incident (and, for an error, whether it is a new one)."""
        st = self.stats
        stamp = self._seconds.get(raw[:19])
        if stamp is None:
            stamp = self._seconds[raw[:19]] = _second(raw[:19])
        ms = None if stamp[0] is None else stamp[0] + int(raw[20:23])
        folds = st.folder.folds
        loose = plan.level in _LOOSE
        folded = False
        tags = st.tags
        message: str | None = None
        for tag, symbol in plan.lean:
            if folds(tag, symbol, ms, loose):
                folded = True
                continue
            tags[tag] += 1
            if tag not in st.tag_first:
                st.tag_first[tag] = where
            samples = st.tag_samples.setdefault(tag, [])
            if len(samples) < SAMPLES:
                message = message if message is not None else _message(raw)
                samples.append((where, _clip(message)))
            if symbol and not tag.startswith(_EVENT_PREFIX):
                _bump(st.symbols.setdefault(tag, Counter()), symbol, 1, MAX_SYMBOLS)
            for ex in plan.exchanges:
                st.exchange_tags.setdefault(ex, Counter())[tag] += 1
        if folded:
            st.folded += 1
        if plan.error_type is not None:
            message = message if message is not None else _message(raw)
            when = None if stamp[1] is None else stamp[1].replace(microsecond=int(raw[20:23]) * 1000)
            rec = LogRecord(where[1], when, plan.logger, plan.level, message)
            hour = "unknown" if stamp[1] is None else stamp[2]
            st.add_error(rec, (), where, plan.exchanges, folded=folded, kind=plan.error_type,
                         hour=hour)

    def _see_time(self, keys, raws, plans, order: range, *, first: bool) -> None:  # noqa: ANN001
        """The chunk's first (or last) record time; records are in file order."""
        st = self.stats
        for i in order:
            if plans[keys[i]].header:
                parts = parse_header(raws[i])
                if parts and parts[0] is not None:
                    if not first:
                        st.last_time = parts[0]
                    elif st.first_time is None:
                        st.first_time = parts[0]
                    return


_EXCHANGE_PREFIX = EXCHANGE_CATEGORY + "."


def _merged(
    static: tuple[tuple[int, CategoryMatch], ...], found: list[tuple[int, CategoryMatch]]
) -> tuple[CategoryMatch, ...]:
    """Static and per-line matches in table order (the order ``Categoriser.matches`` gives)."""
    if not found:
        return tuple(m for _, m in static)
    if not static:
        return tuple(m for _, m in found)
    return tuple(m for _, m in sorted([*static, *found], key=lambda pm: pm[0]))


def _count_static(st: LogStats, plan: KeyPlan, c: int) -> None:
    """What a key's static matches add for ``c`` of its lines (as ``LogStats.add_detail``)."""
    for ex in plan.exchanges:
        st.exchange_records[ex] += c
    for _, m in plan.static:
        tag = m.tag
        if tag.startswith(_EXCHANGE_PREFIX):
            continue
        st.tags[tag] += c
        for ex in plan.exchanges:
            st.exchange_tags.setdefault(ex, Counter())[tag] += c


_LOOSE = IncidentFolder.LOOSE_LEVELS
_EVENT_PREFIX = EVENT_CATEGORY + "."


def _second(stamp: bytes) -> tuple[int | None, datetime | None, str]:
    """``(ms of the second, its datetime, its hour key)`` of "YYYY-MM-DD HH:MM:SS"."""
    try:
        when = datetime.strptime(stamp.decode("ascii"), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None, None, "unknown"
    return time_ms(when), when, when.strftime("%Y-%m-%d %H:00")


def _message(raw: bytes) -> str:
    parts = parse_header(raw)
    return parts[3] if parts else raw.decode("utf-8", "replace")


def _clip(text: str) -> str:
    from tui.analysis.logs_stats import _clip as clip

    return clip(text)


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
