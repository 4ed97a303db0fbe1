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
SLOW_TAG = "timing.slow"  # kept only when the captured duration reaches the slow threshold
DEFAULT_PATTERNS_PATH = Path(__file__).with_name("log_patterns.toml")

# A record keeps at most this many continuation lines (a runaway traceback must not grow a buffer
# without bound); the rest are only counted in ``LogRecord.dropped``.
MAX_CONTINUATION = 500

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SYMBOL_RE = re.compile(r"\b[A-Z0-9]+/?(?:USDT|USDC|BUSD)(?::USDT|:USDC)?\b")
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


_PLAIN, _EXCHANGE, _ERROR = 0, 1, 2  # which text a sub-key is searched in (see matches)

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
            kind = {EXCHANGE_CATEGORY: _EXCHANGE, ERROR_CATEGORY: _ERROR}.get(category, _PLAIN)
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
        self, record: LogRecord, only: Iterable[int] | None = None
    ) -> tuple[CategoryMatch, ...]:
        """Every sub-key that matches, in table order; the first matching regex gives the fields.

        ``only`` restricts the check to those sub-keys (by ``rules()`` position): the analysis
        passes the ones a line's shape could match, the rest cannot.
        """
        if not record.parsed:
            return ()
        msg = record.message
        folded: str | None = None
        is_error = record.level in ERROR_LEVELS
        entries = self._entries if only is None else [self._entries[i] for i in only]
        found = []
        for kind, tag, rules in entries:
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
            if m is None and kind != _PLAIN:
                other = record.logger if kind == _EXCHANGE else _last_traceback_line(record)
                m = _search_rules(rules, other) if other else None
            if m is None:
                continue
            groups = m.groupdict()
            hit = CategoryMatch(
                tag, {k: v for k, v in groups.items() if v is not None} if groups else {}
            )
            if tag == SLOW_TAG:
                took = hit.duration_ms()
                if took is not None and took < self.slow_ms:
                    continue
            found.append(hit)
        return tuple(found)

    def categorise(self, record: LogRecord) -> tuple[str, ...]:
        return tuple(m.tag for m in self.matches(record))

    @staticmethod
    def error_type(record: LogRecord, matches: Sequence[CategoryMatch]) -> str:
        """How an ERROR record is grouped: a captured ``type`` (+ ``code``), else the message's
        head."""
        for m in matches:
            if m.category == ERROR_CATEGORY and m.fields.get("type"):
                code = m.fields.get("code")
                return f"{m.fields['type']} {code}" if code else m.fields["type"]
        return message_shape(record.message.split(": ", 1)[0])

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
    """A grouping key for similar messages: symbols -> <SYM>, digit runs -> N, leading emoji off."""
    text = _SYMBOL_RE.sub("<SYM>", text)
    text = _LEADING_NOISE_RE.sub("", _DIGITS_RE.sub("N", text)).rstrip()
    return text[:limit] or "(empty message)"


# The emoji and markers the bot puts before its messages are not part of what the message says.
_LEADING_NOISE_RE = re.compile(r"^[^\w<\"'(\[{]+")


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
