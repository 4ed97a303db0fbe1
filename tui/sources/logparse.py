"""The bot's log: records (one per log call, tracebacks attached) and their categories.

The bot logs with ``%(asctime)s - %(name)s - %(levelname)s - %(message)s``. Everything here works
on bytes lines so that a stray invalid byte never stops a parse (it is replaced), and is shared by
the live tailer (``tui.sources.logtail``) and the whole-file analysis (``tui.analysis.logs``).
Which messages mean what lives in ``log_patterns.toml`` (data, overridable from config), not here.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tui.errors import BotmonError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

try:  # the regex parser, used read-only to find a literal every match must contain
    import re._parser as _sre_parse  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse  # type: ignore[no-redef]

# The header of a record. Matched on bytes; the logger is non-greedy so a message that itself
# contains " - ERROR - " cannot move the split. The date is not validated here (see parse_header)
# so that "is this a header" only depends on the shape of the line.
HEADER_RE = re.compile(
    rb"(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d),(\d{3}) - (.+?) - ([A-Z]+) -(?: |$)(.*)"
)

ERROR_LEVELS = frozenset({"ERROR", "CRITICAL"})
EXCHANGE_CATEGORY = "exchange"  # sub-key = exchange name; searched in message and logger
ERROR_CATEGORY = "error"  # applied to ERROR/CRITICAL records only, message + last traceback line
EVENT_CATEGORY = "event"  # the event logger's echo: the tag is event.<captured event type>
# Tags of these categories are never folded into incidents (see IncidentFolder): an exchange
# mention and an error type describe the line, and each echo line is one row of the events table.
UNFOLDED_CATEGORIES = frozenset({EXCHANGE_CATEGORY, ERROR_CATEGORY, EVENT_CATEGORY})
# Records with the same tag, a compatible symbol and at most this far apart are one incident.
FOLD_WINDOW_MS = 50
SLOW_TAG = "timing.slow"  # kept only when the captured duration reaches the slow threshold
DEFAULT_PATTERNS_PATH = Path(__file__).with_name("log_patterns.toml")

# A record keeps at most this many continuation lines (a runaway traceback must not grow a buffer
# without bound); the rest are only counted in ``LogRecord.dropped``.
MAX_CONTINUATION = 500

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SYMBOL_RE = re.compile(r"\b[A-Z0-9]+/?(?:USDT|USDC|BUSD)(?::USDT|:USDC)?\b")
# Ids that would make every message its own shape: UUIDs, hex addresses.
_ID_RE = re.compile(r"\b[0-9a-fA-F]+(?:-[0-9a-fA-F]+){4}\b")
_DIGITS_RE = re.compile(r"[0-9]+")


def _decode(line: bytes) -> str:
    return line.decode("utf-8", "replace")


def _strip_eol(line: bytes) -> bytes:
    if line.endswith(b"\n"):
        line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One log entry. ``parsed`` is False for a line seen before any record (``message`` = line)."""

    line: int  # physical line number (1-based) where the record starts
    time: datetime | None  # naive local time as written by the bot; None if the date is invalid
    logger: str
    level: str
    message: str
    continuation: tuple[str, ...] = ()  # traceback lines, as written
    parsed: bool = True
    dropped: int = 0  # continuation lines beyond MAX_CONTINUATION, counted but not kept

    @property
    def line_count(self) -> int:
        return 1 + len(self.continuation) + self.dropped

    @property
    def text(self) -> str:
        """The message with its continuation lines, as one string."""
        return "\n".join((self.message, *self.continuation))


def parse_header(line: bytes) -> tuple[datetime | None, str, str, str] | None:
    """``(time, logger, level, message)`` if ``line`` starts a record, else None."""
    m = HEADER_RE.match(_strip_eol(line))
    if m is None:
        return None
    g = m.groups()
    try:
        when: datetime | None = datetime(
            int(g[0]), int(g[1]), int(g[2]), int(g[3]), int(g[4]), int(g[5]), int(g[6]) * 1000
        )
    except ValueError:  # 2025-13-40: still a record (same shape), just without a usable time
        when = None
    return when, _decode(g[7]), g[8].decode("ascii"), _decode(g[9])


def record_from_lines(header: bytes, continuation: Sequence[bytes], line: int) -> LogRecord:
    """Build a record from its raw lines (the header must satisfy ``parse_header``)."""
    parts = parse_header(header)
    if parts is None:
        raise ValueError(f"line {line} does not start a record")
    kept = continuation[:MAX_CONTINUATION]
    return LogRecord(
        line,
        *parts,
        continuation=tuple(_decode(_strip_eol(c)) for c in kept),
        dropped=len(continuation) - len(kept),
    )


class RecordAssembler:
    """Incremental record builder: feed complete lines, get back finished records.

    A record is finished when the next one starts or on ``flush()``. A line that does not match
    the format before any record has been seen becomes an unparsed record at once.
    """

    def __init__(self, start_line: int = 1) -> None:
        self.next_line = start_line  # number of the next line fed
        self.lines = 0
        self.records = 0
        self.unparsed = 0
        self._head: tuple[int, tuple[datetime | None, str, str, str]] | None = None
        self._cont: list[bytes] = []
        self._dropped = 0

    @property
    def pending(self) -> bool:
        return self._head is not None

    def feed(self, line: bytes) -> LogRecord | None:
        number = self.next_line
        self.next_line += 1
        self.lines += 1
        parts = parse_header(line)
        if parts is not None:
            done = self.flush()
            self._head = (number, parts)
            return done
        if self._head is None:
            self.records += 1
            self.unparsed += 1
            text = _decode(_strip_eol(line))
            return LogRecord(number, None, "", "", text, parsed=False)
        if len(self._cont) < MAX_CONTINUATION:
            self._cont.append(line)
        else:
            self._dropped += 1
        return None

    def feed_many(self, lines: Iterable[bytes]) -> list[LogRecord]:
        out = []
        for line in lines:
            rec = self.feed(line)
            if rec is not None:
                out.append(rec)
        return out

    def flush(self) -> LogRecord | None:
        """Finish the pending record, if any."""
        if self._head is None:
            return None
        number, parts = self._head
        rec = LogRecord(
            number,
            *parts,
            continuation=tuple(_decode(_strip_eol(c)) for c in self._cont),
            dropped=self._dropped,
        )
        self._head = None
        self._cont = []
        self._dropped = 0
        self.records += 1
        return rec

    def restart(self, start_line: int = 1) -> LogRecord | None:
        """Flush and number the following lines from ``start_line`` (a new or truncated file)."""
        done = self.flush()
        self.next_line = start_line
        return done


def parse_lines(lines: Iterable[bytes], start_line: int = 1) -> Iterator[LogRecord]:
    """Records from an iterable of byte lines (with or without their line endings)."""
    asm = RecordAssembler(start_line)
    for line in lines:
        rec = asm.feed(line)
        if rec is not None:
            yield rec
    rec = asm.flush()
    if rec is not None:
        yield rec


# --------------------------------------------------------------------------------------------
# Categories


@dataclass(frozen=True, slots=True)
class CategoryMatch:
    """``tag`` is "category.subkey"; ``fields`` are the named groups that matched."""

    tag: str
    fields: Mapping[str, str] = field(default_factory=dict)

    @property
    def category(self) -> str:
        return self.tag.partition(".")[0]

    def duration_ms(self) -> float | None:
        """The duration captured by a ``ms`` or ``s`` group, in milliseconds."""
        try:
            if "ms" in self.fields:
                return float(self.fields["ms"])
            if "s" in self.fields:
                return float(self.fields["s"]) * 1000.0
        except ValueError:
            return None
        return None


PatternTable = dict[str, dict[str, list[str]]]


def load_patterns(
    overrides: Mapping[str, Mapping[str, Sequence[str] | str]] | None = None,
    path: Path | None = None,
) -> PatternTable:
    """The default regex table (``log_patterns.toml``) with ``overrides`` applied.

    An override ``{category: {subkey: [regex, ...]}}`` replaces that sub-key's list (an empty list
    switches it off) and adds new categories or sub-keys. Regexes are checked by ``Categoriser``.
    """
    source = path or DEFAULT_PATTERNS_PATH
    try:
        with open(source, "rb") as fh:
            raw = tomllib.load(fh)
    except OSError as err:
        raise BotmonError(str(source), f"cannot read log patterns: {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise BotmonError(str(source), f"invalid TOML: {err}", "fix the file's syntax") from None
    table = _validated(raw, str(source))
    if overrides:
        for category, subs in _validated(overrides, "log pattern overrides").items():
            table.setdefault(category, {}).update(subs)
    return {c: {k: v for k, v in subs.items() if v} for c, subs in table.items()}


def _validated(raw: Mapping[str, object], where: str) -> PatternTable:
    out: PatternTable = {}
    for category, subs in raw.items():
        if not isinstance(subs, Mapping) or not _NAME_RE.match(str(category)):
            raise BotmonError(
                f"{where}: {category}",
                "expected a table of sub-keys named like identifiers",
                'write [category] with subkey = ["regex", ...]',
            )
        out[category] = {}
        for key, value in subs.items():
            if isinstance(value, str):
                value = [value]
            if (
                not _NAME_RE.match(str(key))
                or not isinstance(value, (list, tuple))
                or not all(isinstance(v, str) for v in value)
            ):
                raise BotmonError(
                    f"{where}: {category}.{key}",
                    "expected a list of regular expressions",
                    "write subkey = ['regex', ...] (single quotes keep backslashes)",
                )
            out[category][key] = list(value)
    return out


_PLAIN, _EXCHANGE, _ERROR, _EVENT = 0, 1, 2, 3  # how a sub-key is searched (see matches)

# A compiled sub-key: (kind, tag, rules); a rule is (needle, fold, regex) where ``needle`` is a
# literal every match contains (checked first: ``in`` is ~20x cheaper than a regex search).
_Entry = tuple[int, str, tuple[tuple[str, bool, "re.Pattern[str]"], ...]]


class Categoriser:
    """Tags records with "category.subkey" from named regex sets (see ``log_patterns.toml``)."""

    def __init__(
        self, patterns: Mapping[str, Mapping[str, Sequence[str]]], *, slow_ms: float = 1000.0
    ):
        self.patterns: PatternTable = {
            c: {k: list(v) for k, v in s.items()} for c, s in patterns.items()
        }
        self.slow_ms = float(slow_ms)
        self._entries: list[_Entry] = []
        self._regexes: list[list[re.Pattern[str]]] = []
        for category, subs in self.patterns.items():
            kind = {EXCHANGE_CATEGORY: _EXCHANGE, ERROR_CATEGORY: _ERROR,
                    EVENT_CATEGORY: _EVENT}.get(category, _PLAIN)
            for key, sources in subs.items():
                regexes = []
                for source in sources:
                    try:
                        regexes.append(re.compile(source))
                    except re.error as err:
                        raise BotmonError(
                            f"log patterns: {category}.{key}",
                            f"bad regular expression {source!r}: {err}",
                            "fix or remove it; in TOML use single quotes so backslashes are kept",
                        ) from None
                if regexes:
                    rules = tuple((*(required_literal(r) or ("", False)), r) for r in regexes)
                    self._entries.append((kind, f"{category}.{key}", rules))
                    self._regexes.append(regexes)

    @classmethod
    def load(
        cls,
        overrides: Mapping[str, Mapping[str, Sequence[str] | str]] | None = None,
        *,
        path: Path | None = None,
        slow_ms: float = 1000.0,
    ) -> Categoriser:
        return cls(load_patterns(overrides, path), slow_ms=slow_ms)

    def rules(self) -> Iterator[tuple[str, str, list[re.Pattern[str]]]]:
        """``(category, subkey, regexes)`` in table order; the position is the index that
        ``matches(record, only=...)`` takes."""
        for (_kind, tag, _rules), regexes in zip(self._entries, self._regexes):
            category, _, key = tag.partition(".")
            yield category, key, regexes

    def matches(
        self,
        record: LogRecord,
        only: Iterable[int] | None = None,
        *,
        any_duration: bool = False,
    ) -> tuple[CategoryMatch, ...]:
        """Every sub-key that matches, in table order; the first matching regex gives the fields.

        ``only`` restricts the check to those sub-keys (by ``rules()`` position, ascending): the
        analysis passes the ones a line's shape could match, the rest cannot. ``any_duration``
        keeps timing.slow whatever the duration (the analysis decides per line).
        """
        return tuple(m for _, m in self.positioned(record, only, any_duration=any_duration))

    def positioned(
        self,
        record: LogRecord,
        only: Iterable[int] | None = None,
        *,
        any_duration: bool = False,
    ) -> list[tuple[int, CategoryMatch]]:
        """``matches`` with each match's sub-key position."""
        if not record.parsed:
            return []
        msg = record.message
        folded: str | None = None
        is_error = record.level in ERROR_LEVELS
        entries = self._entries
        found = []
        for position in range(len(entries)) if only is None else only:
            kind, tag, rules = entries[position]
            if kind == _ERROR and not is_error:
                continue
            m = None
            for needle, fold, regex in rules:  # the message: every kind searches it first
                if needle:
                    if fold:
                        if folded is None:
                            folded = fold_text(msg)
                        if needle not in folded:
                            continue
                    elif needle not in msg:
                        continue
                m = regex.search(msg)
                if m is not None:
                    break
            if m is None and kind in (_EXCHANGE, _ERROR):
                other = record.logger if kind == _EXCHANGE else _last_traceback_line(record)
                m = _search_rules(rules, other) if other else None
            if m is None:
                continue
            groups = m.groupdict()
            fields = {k: v for k, v in groups.items() if v is not None} if groups else {}
            if kind == _EVENT:
                if not fields.get("event"):
                    continue
                hit = CategoryMatch(f"{EVENT_CATEGORY}.{fields['event']}", fields)
            else:
                hit = CategoryMatch(tag, fields)
            if tag == SLOW_TAG and not any_duration:
                took = hit.duration_ms()
                if took is not None and took < self.slow_ms:
                    continue
            found.append((position, hit))
        return found

    def categorise(self, record: LogRecord) -> tuple[str, ...]:
        return tuple(m.tag for m in self.matches(record))

    @staticmethod
    def error_type(record: LogRecord, matches: Sequence[CategoryMatch]) -> str:
        """How an ERROR record is grouped: a captured ``type`` (+ ``code``), else the message's
        head (never a symbol, a severity word or an empty string)."""
        for m in matches:
            if m.category == ERROR_CATEGORY and m.fields.get("type"):
                kind = m.fields["type"]
                if m.tag == EXCHANGE_ERROR_TAG:
                    kind = kind.lower()
                code = m.fields.get("code")
                return f"{kind} {code}" if code else kind
        return error_head(record.message)

    @staticmethod
    def exchanges(record: LogRecord, matches: Sequence[CategoryMatch]) -> tuple[str, ...]:
        """Exchanges the record is about: a captured ``exchange`` group, else [exchange] tags."""
        for m in matches:
            if m.fields.get("exchange"):
                return (m.fields["exchange"].lower(),)
        prefix = EXCHANGE_CATEGORY + "."
        return tuple(m.tag[len(prefix) :] for m in matches if m.tag.startswith(prefix))

    @staticmethod
    def symbol(matches: Sequence[CategoryMatch]) -> str | None:
        for m in matches:
            if m.fields.get("symbol"):
                return m.fields["symbol"]
        return None


def _search_rules(
    rules: tuple[tuple[str, bool, re.Pattern[str]], ...], text: str
) -> re.Match[str] | None:
    folded = None
    for needle, fold, regex in rules:
        if needle:
            if fold:
                folded = folded if folded is not None else fold_text(text)
                if needle not in folded:
                    continue
            elif needle not in text:
                continue
        m = regex.search(text)
        if m is not None:
            return m
    return None


def _last_traceback_line(record: LogRecord) -> str:
    for line in reversed(record.continuation):
        if line.strip():
            return line
    return ""


def message_shape(text: str, limit: int = 100) -> str:
    """A grouping key for similar messages: symbols -> <SYM>, UUIDs -> <ID>, digit runs -> N,
    leading emoji off."""
    text = _ID_RE.sub("<ID>", _SYMBOL_RE.sub("<SYM>", text))
    text = _LEADING_NOISE_RE.sub("", _DIGITS_RE.sub("N", text)).rstrip()
    return text[:limit] or "(empty message)"


# The emoji and markers the bot puts before its messages are not part of what the message says.
_LEADING_NOISE_RE = re.compile(r"^[^\w<\"'(\[{]+")
EXCHANGE_ERROR_TAG = f"{ERROR_CATEGORY}.exchange"
# What an error's head must not be named by: a severity word the bot writes into the message
# ("🔴 CRITICAL: ...", "ALERT: ..."), a leading symbol ("❌ SAROSUSDT: SL update FAILED ...").
_SEVERITY_HEAD_RE = re.compile(r"^(?:CRITICAL|ALERT|ERROR|WARNING|WARN|FATAL|EMERGENCY)\s*[:!]+\s*")
_SEVERITY_WORD_RE = re.compile(
    r"(?:critical|alert|error|warning|warn|fatal|emergency)[\s:!.]*", re.IGNORECASE)
_SYMBOL_HEAD_RE = re.compile(
    r"^[A-Z0-9]*[A-Z][A-Z0-9]*(?:/[A-Z0-9]+(?::[A-Z0-9]+)?)?(?::| -) +")
_NOT_A_TYPE = frozenset({"<SYM>", "<ID>", "N", "(empty message)"})


def error_head(message: str) -> str:
    """The head of an error message as a type: "Error fetching signals", "SL update FAILED on
    exchange, state rolled back (keeping old stop N.N)", "Amount N.N < min N.N"."""
    text = _LEADING_NOISE_RE.sub("", message.strip())
    for _ in range(3):  # "🔴 CRITICAL: X: ..." has both
        stripped = _SYMBOL_HEAD_RE.sub("", _SEVERITY_HEAD_RE.sub("", text))
        stripped = _LEADING_NOISE_RE.sub("", stripped)
        if stripped == text:
            break
        text = stripped
    head = message_shape(_HEAD_END_RE.split(text, 1)[0])
    if head in _NOT_A_TYPE or _SEVERITY_WORD_RE.fullmatch(head):
        head = message_shape(text)
    if head in _NOT_A_TYPE or _SEVERITY_WORD_RE.fullmatch(head):
        return "(message without text)"
    return head


_HEAD_END_RE = re.compile(r": |(?<=!) ")


def is_detail_line(message: str) -> bool:
    """An indented message: a line of a multi-line dump the bot logs one record per line
    ("   Entry price: $0.00807", "  - 1000TAGUSDT: no update for 180s"), not an error of its own."""
    return message[:1].isspace()


def is_foldable(tag: str) -> bool:
    return tag.partition(".")[0] not in UNFOLDED_CATEGORIES


def time_ms(when: datetime | None) -> int | None:
    """A record's time in milliseconds on one scale (None stays None)."""
    if when is None:
        return None
    return ((when.toordinal() * 24 + when.hour) * 60 + when.minute) * 60_000 + (
        when.second * 1000 + when.microsecond // 1000)


class IncidentFolder:
    """One failure logged several times is one incident.

    The bot logs one failure in several lines within the same few milliseconds: the module's line,
    the event logger's echo of each event row, the exchange's error. A tag of a record is folded
    when an earlier record of the same file has the same tag and a time at most ``window_ms``
    away, and either the same symbol or, for warnings and errors, one of the two without a symbol
    ("Failed to set Bybit Stop Loss: ..." between two lines about AGIUSDT). Two records without a
    symbol are not folded: they may be about two different things. Only the last record per
    (tag, symbol) is remembered, so a decision depends on the last ``window_ms`` of the log alone:
    a scan that starts mid-file gives the same answers once it has seen that much before it.
    """

    MAX_KEYS = 20000  # remembered (tag, symbol) pairs; over it, the stale ones are dropped
    LOOSE_LEVELS = frozenset({"WARNING", "ERROR", "CRITICAL"})

    def __init__(self, window_ms: int = FOLD_WINDOW_MS) -> None:
        self.window_ms = window_ms
        self._last: dict[str, dict[str, int]] = {}  # tag -> symbol -> time
        self._loose: dict[str, dict[str | None, int]] = {}  # the same, warnings and errors only
        self._size = 0

    def folds(self, tag: str, symbol: str | None, ms: int | None, loose: bool = False) -> bool:
        """Whether this occurrence of ``tag`` belongs to an incident already seen (and remember
        it); ``loose``: the record is a warning or an error."""
        if ms is None:
            return False
        w = self.window_ms
        hit = False
        if symbol is not None:
            seen = self._last.setdefault(tag, {})
            t = seen.get(symbol)
            hit = t is not None and abs(ms - t) <= w
            if not hit and loose:
                t = self._loose.get(tag, {}).get(None)
                hit = t is not None and abs(ms - t) <= w
            if symbol not in seen:
                self._grown(ms)
            seen[symbol] = ms
        elif loose:
            hit = any(abs(ms - t) <= w for s, t in self._loose.get(tag, {}).items()
                      if s is not None)
        if loose:
            seen_loose = self._loose.setdefault(tag, {})
            if symbol not in seen_loose:
                self._grown(ms)
            seen_loose[symbol] = ms
        return hit

    def _grown(self, ms: int) -> None:
        self._size += 1
        if self._size > self.MAX_KEYS:
            horizon = ms - 1000 * self.window_ms
            for table in (self._last, self._loose):
                for seen in table.values():
                    for key in [k for k, t in seen.items() if t < horizon]:
                        del seen[key]
            self._size = sum(len(s) for t in (self._last, self._loose) for s in t.values())

    def apply(
        self, record: LogRecord, matches: Sequence[CategoryMatch]
    ) -> tuple[tuple[CategoryMatch, ...], bool]:
        """``(matches without the folded ones, whether the record repeats an incident)``: a
        record repeats an incident when one of its tags folded (its other tags still count:
        the echo of a failed update also carries the update's duration)."""
        ms = time_ms(record.time)
        loose = record.level in self.LOOSE_LEVELS
        kept = []
        folded = False
        for m in matches:
            if is_foldable(m.tag) and self.folds(m.tag, m.fields.get("symbol"), ms, loose):
                folded = True
                continue
            kept.append(m)
        return tuple(kept), folded


def required_literal(regex: re.Pattern[str]) -> tuple[str, bool] | None:
    """A substring every match of ``regex`` contains, and whether to compare case-folded.

    Uses the standard library's regex parser read-only; any surprise means "no pre-check".
    """
    try:
        tree = _sre_parse.parse(regex.pattern, regex.flags)
        fold = bool(tree.state.flags & re.IGNORECASE)
        best = _longest_literal(tree, fold)
    except Exception:  # noqa: BLE001 - internal API: fall back to no pre-check
        return None
    if best is None or len(best[0]) < 2:
        return None
    text, fold = best
    if not fold:
        return text, False
    # Case-insensitive: compare case-folded text, but only for ASCII needles, whose re-equivalent
    # characters all case-fold onto them (dotless i aside, see fold_text).
    return (text.casefold(), True) if text.isascii() else None


def fold_text(text: str) -> str:
    """``text`` prepared for a case-folded needle check (re also matches "ı" to "i")."""
    return text.casefold().replace("ı", "i")


def _longest_literal(seq: object, fold: bool) -> tuple[str, bool] | None:
    c = _sre_parse  # constants are re-exported by the parser module
    best: tuple[str, bool] | None = None
    run: list[str] = []

    def consider(candidate: tuple[str, bool] | None) -> None:
        nonlocal best
        if candidate and (best is None or len(candidate[0]) > len(best[0])):
            best = candidate

    for op, av in seq:  # type: ignore[attr-defined]
        if op is c.LITERAL:
            run.append(chr(av))
            continue
        consider(("".join(run), fold) if run else None)
        run = []
        if op is c.SUBPATTERN:
            _group, add_flags, del_flags, sub = av
            inner = (fold or bool(add_flags & re.IGNORECASE)) and not del_flags & re.IGNORECASE
            consider(_longest_literal(sub, inner))
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and av[0] >= 1:
            consider(_longest_literal(av[2], fold))
    consider(("".join(run), fold) if run else None)
    return best


def numeric_fields(match: CategoryMatch) -> Iterator[tuple[str, float]]:
    """Named groups worth summing (counts such as ``signals`` or ``opened``)."""
    for name, value in match.fields.items():
        if name in _NOT_SUMMED:
            continue
        try:
            yield name, float(value)
        except ValueError:
            continue


_NOT_SUMMED = frozenset({"ms", "s", "code", "type", "symbol", "exchange"})
