"""The bot's log records and their categories (tui.sources.logparse, tui.analysis.logs_regex)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tui.analysis.logs_regex import KeyRule, is_digit_sensitive
from tui.errors import BotmonError
from tui.sources.logparse import (
    MAX_CONTINUATION,
    Categoriser,
    LogRecord,
    RecordAssembler,
    load_patterns,
    message_shape,
    parse_header,
    parse_lines,
)

FIXTURE = Path(__file__).parent / "fixtures" / "logs" / "bot.log"
TS = "2025-10-15 13:21:03,512"
WAVE = "Wave detected! Processing 39 signals"
OPENED = "✅ Position #7 for PUNDIXUSDT opened 🌊"


@pytest.fixture(scope="module")
def cat() -> Categoriser:
    return Categoriser.load()


def rec(
    message: str,
    level: str = "INFO",
    logger: str = "core.position_manager",
    cont: tuple[str, ...] = (),
) -> LogRecord:
    return LogRecord(1, datetime(2025, 10, 15, 13, 21, 3), logger, level, message, cont)


# -- records ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            f"{TS} - core.wave_signal_processor - INFO - {WAVE}".encode(),
            (
                datetime(2025, 10, 15, 13, 21, 3, 512000),
                "core.wave_signal_processor",
                "INFO",
                WAVE,
            ),
        ),
        (  # emoji survive
            f"{TS} - core.position_manager - INFO - {OPENED}".encode(),
            (
                datetime(2025, 10, 15, 13, 21, 3, 512000),
                "core.position_manager",
                "INFO",
                OPENED,
            ),
        ),
        (  # invalid UTF-8 is replaced, never fatal; valid emoji next to it survive
            f"{TS} - x - WARNING - bad ".encode() + b"\xff\xfe" + " ✅".encode(),
            (datetime(2025, 10, 15, 13, 21, 3, 512000), "x", "WARNING", "bad \ufffd\ufffd ✅"),
        ),
        (  # Windows line ending and trailing newline removed
            f"{TS} - __main__ - ERROR - boom\r\n".encode(),
            (datetime(2025, 10, 15, 13, 21, 3, 512000), "__main__", "ERROR", "boom"),
        ),
        (  # a message quoting another header does not move the split
            f"{TS} - a.b - INFO - saw ' - ERROR - ' in a reply".encode(),
            (
                datetime(2025, 10, 15, 13, 21, 3, 512000),
                "a.b",
                "INFO",
                "saw ' - ERROR - ' in a reply",
            ),
        ),
        (
            f"{TS} - a - INFO - ".encode(),
            (datetime(2025, 10, 15, 13, 21, 3, 512000), "a", "INFO", ""),
        ),
        (
            f"{TS} - a - INFO -".encode(),
            (datetime(2025, 10, 15, 13, 21, 3, 512000), "a", "INFO", ""),
        ),
        (  # an impossible date keeps the record, without a time
            b"2025-13-40 25:00:00,000 - a - INFO - odd clock",
            (None, "a", "INFO", "odd clock"),
        ),
    ],
)
def test_parse_header(line: bytes, expected: tuple) -> None:
    assert parse_header(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        b"Traceback (most recent call last):",
        b'  File "/app/x.py", line 3, in f',
        b"TypeError: Object of type Decimal is not JSON serializable",
        b"",
        b"2025-10-15 garbage",
        b"2025-10-15 13:21:03 - a - INFO - no milliseconds",
        b"2025-10-15 13:21:03,512 - a - info - lower-case level",
    ],
)
def test_not_a_header(line: bytes) -> None:
    assert parse_header(line) is None


def test_parse_lines_attaches_tracebacks_and_counts_unparsed() -> None:
    lines = [
        b"nohup: ignoring input\n",
        f"{TS} - core.event_logger - ERROR - Failed to write\n".encode(),
        b"Traceback (most recent call last):\n",
        b'  File "x.py", line 1, in f\n',
        b"TypeError: Object of type Decimal is not JSON serializable\n",
        f"{TS} - core.x - INFO - next\n".encode(),
        f"{TS} - core.y - INFO - last, no newline".encode(),
    ]
    records = list(parse_lines(lines))
    assert [(r.line, r.parsed, r.line_count) for r in records] == [
        (1, False, 1),
        (2, True, 4),
        (6, True, 1),
        (7, True, 1),
    ]
    assert records[0].message == "nohup: ignoring input"
    assert (
        records[1].continuation[-1] == "TypeError: Object of type Decimal is not JSON serializable"
    )
    assert records[1].text.startswith("Failed to write\nTraceback")
    assert records[3].message == "last, no newline"


def test_garbage_after_first_record_is_continuation() -> None:
    records = list(parse_lines([f"{TS} - a - INFO - x".encode(), b"stray print()"], start_line=10))
    assert len(records) == 1
    assert records[0].line == 10
    assert records[0].continuation == ("stray print()",)


def test_assembler_is_incremental() -> None:
    asm = RecordAssembler()
    assert asm.feed(f"{TS} - a - ERROR - first".encode()) is None
    assert asm.feed(b"  traceback line") is None
    assert asm.pending
    done = asm.feed(f"{TS} - a - INFO - second".encode())
    assert (
        done is not None and done.message == "first" and done.continuation == ("  traceback line",)
    )
    last = asm.flush()
    assert last is not None and last.line == 3
    assert asm.flush() is None
    assert (asm.lines, asm.records, asm.unparsed) == (3, 2, 0)


def test_runaway_traceback_is_capped_but_counted() -> None:
    lines = [f"{TS} - a - ERROR - x".encode()] + [b"  more"] * (MAX_CONTINUATION + 7)
    (record,) = parse_lines(lines)
    assert len(record.continuation) == MAX_CONTINUATION
    assert record.dropped == 7
    assert record.line_count == len(lines)


def test_fixture_counts() -> None:
    with open(FIXTURE, "rb") as fh:
        records = list(parse_lines(fh))
    assert sum(r.line_count for r in records) == 42
    assert len(records) == 37
    assert sum(not r.parsed for r in records) == 2
    (odd,) = [r for r in records if "synced" in r.message]
    assert (
        "\ufffd" in odd.message and odd.message.endswith("✅") and odd.message.startswith("Позиция")
    )


# -- categories ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "level", "logger", "tags", "fields"),
    [
        (
            "✅ Position #548 for SOONUSDT opened ATOMICALLY at $2.0333",
            "INFO",
            "core.position_manager",
            {"position.opened"},
            {"symbol": "SOONUSDT"},
        ),
        (
            "Position closed: NEIROCTOUSDT",
            "INFO",
            "websocket.bybit_stream",
            {"position.closed", "exchange.bybit"},
            {"symbol": "NEIROCTOUSDT"},
        ),
        (
            "Error opening position for AVLUSDT: Position creation rolled back: x",
            "ERROR",
            "core.position_manager",
            {"position.open_failed"},
            {"symbol": "AVLUSDT"},
        ),
        (
            "✅ Position ALLUSDT has Stop Loss order: 123 at 0.5",
            "INFO",
            "core.stop_loss_manager",
            {"stop_loss.verified"},
            {"symbol": "ALLUSDT"},
        ),
        (
            "⚠️ Stop Loss already exists at 0.5, skipping",
            "INFO",
            "core.stop_loss_manager",
            {"stop_loss.verified"},
            {},
        ),
        (
            "✅ Position created ATOMICALLY with guaranteed SL",
            "INFO",
            "core.atomic_position_manager",
            {"stop_loss.set"},
            {},
        ),
        (
            "⚠️ Found 3 positions without stop loss",
            "WARNING",
            "core.position_manager",
            {"stop_loss.missing"},
            {},
        ),
        (
            "✅ ABCUSDT: Trailing stop ACTIVATED at 1.0, stop at 0.99",
            "INFO",
            "protection.trailing_stop",
            {"trailing_stop.activated"},
            {"symbol": "ABCUSDT"},
        ),
        (
            "⚠️ YZYUSDT: TS state exists in DB but no position on exchange - deleting stale TS "
            "state",
            "WARNING",
            "protection.trailing_stop",
            {"trailing_stop.stale_state"},
            {"symbol": "YZYUSDT"},
        ),
        (
            "Waiting 5s before reconnect attempt 2",
            "INFO",
            "websocket.improved_stream",
            {"websocket.reconnect"},
            {},
        ),
        (
            "Connection failed: Cannot connect to host",
            "ERROR",
            "websocket.binance_stream",
            {"websocket.failed", "exchange.binance"},
            {},
        ),
        (
            "🌊 Wave detected! Processing 39 signals for 2025-10-15T11:00:00+00:00",
            "INFO",
            "core.signal_processor_websocket",
            {"wave.detected"},
            {"signals": "39"},
        ),
        (
            "🎯 Wave 2025-10-15T11:00:00+00:00 complete: 5 positions opened, 2 failed, 0 "
            "validation errors, 1 duplicates",
            "INFO",
            "core.wave_signal_processor",
            {"wave.completed"},
            {"opened": "5", "failed": "2"},
        ),
        (
            'Rate limit hit: bybit {"retCode":10006,"retMsg":"Too many visits!"}',
            "WARNING",
            "utils.rate_limiter",
            {"timing.rate_limit", "exchange.bybit"},
            {},
        ),
        (
            "HTTP 429 Too Many Requests from binance",
            "WARNING",
            "core.exchange_manager",
            {"timing.rate_limit", "exchange.binance"},
            {},
        ),
        (
            "Failed to fetch positions | ccxt.base.errors.RequestTimeout: bybit GET timed out",
            "WARNING",
            "core.exchange_manager",
            {"timing.timeout", "exchange.bybit"},
            {},
        ),
        (  # the bot's case varies: "FAILED" here, "failed" in "Failed to set stop loss for X"
            "❌ SAROSUSDT: SL update FAILED on exchange, state rolled back (keeping old stop 0.04)",
            "ERROR",
            "protection.trailing_stop",
            {"stop_loss.failed"},
            {"symbol": "SAROSUSDT"},
        ),
        (
            "trailing_stop_sl_update_failed: {'symbol': 'PRCLUSDT', 'error': 'Exchange update "
            "failed, state rolled back', 'proposed_new_stop': 0.0394617}",
            "ERROR",
            "core.event_logger",
            {"stop_loss.failed", "event.trailing_stop_sl_update_failed", "error.event"},
            {"symbol": "PRCLUSDT", "event": "trailing_stop_sl_update_failed"},
        ),
        (
            "Trailing stop activated for CELOUSDT",
            "INFO",
            "core.position_manager",
            {"trailing_stop.activated"},
            {"symbol": "CELOUSDT"},
        ),
        (
            "🔌 [MARK] Connecting to wss://fstream.binance.com/stream",
            "INFO",
            "websocket.binance_stream",
            {"websocket.connecting", "exchange.binance"},
            {},
        ),
        ("✅ [MARK] Connected", "INFO", "websocket.binance_stream",
         {"websocket.connected", "exchange.binance"}, {}),
        (
            "Too many consecutive errors, reconnecting...",
            "WARNING",
            "websocket.improved_stream",
            {"websocket.reconnect"},
            {},
        ),
        (
            "✅ X1USDT: SL updated via trading_stop in 1520.25ms",
            "INFO",
            "protection.trailing_stop",
            {"stop_loss.updated", "timing.slow"},
            {"symbol": "X1USDT", "ms": "1520.25"},
        ),
        (
            "✅ [Bybit] Custom pong received at 12:00:01 (RTT: 2.50s)",
            "INFO",
            "websocket.improved_stream",
            {"timing.slow", "exchange.bybit"},
            {"s": "2.50"},
        ),
    ],
)
def test_categories_from_real_shapes(
    cat: Categoriser, message: str, level: str, logger: str, tags: set, fields: dict
) -> None:
    found = cat.matches(rec(message, level, logger))
    assert set(m.tag for m in found) == tags
    merged = {k: v for m in found for k, v in m.fields.items()}
    assert fields.items() <= merged.items()


@pytest.mark.parametrize(
    "message",
    [
        "Order 42913 placed at 0.0429",  # a number containing 429 is not a rate limit
        "price 1429.5, qty 4290",
        'Unexpected error in rate limited function: bybit {"retCode":110043}',  # a wrapper's name
        "⚡ X: Emergency SL update due to large movement - bypassing rate limit",
        "config: heartbeat_timeout=90",  # a setting, not a timeout
        "✅ X1USDT: SL updated via trading_stop in 85.10ms",  # under the slow threshold
        "✅ [Bybit] Custom pong received at 12:00:01 (RTT: 0.12s)",
        "SmartTrailingStopManager initialized with 30s timeout",  # a setting
        "trailing_stop_updated: {'symbol': 'X', 'action': 'skipped', 'skip_reason': "
        "'rate_limit: 3.1s elapsed, need 10s (wait 6.9s)'}",  # the trailing stop's own pacing
    ],
)
def test_not_timing_issues(cat: Categoriser, message: str) -> None:
    tags = cat.categorise(rec(message))
    assert not [t for t in tags if t.startswith("timing.")]


@pytest.mark.parametrize(
    ("message", "cont", "expected"),
    [
        (
            "Failed to write event batch",
            (
                "Traceback (most recent call last):",
                "TypeError: Object of type Decimal is not JSON serializable",
            ),
            "TypeError",
        ),
        ('ExchangeError: bybit {"retCode":170209,"retMsg":"x"}', (), "ExchangeError"),
        (
            "Unexpected error in rate limited function: bybit "
            '{"retCode":110043,"retMsg":"leverage not modified"}',
            (),
            "bybit 110043",
        ),
        (
            'Error fetching signals: column "exchange_id" does not exist',
            (),
            "Error fetching signals",
        ),
        (
            "Error opening position for AVLUSDT: price of AVL/USDT must be greater than minimum "
            "price precision of 0.00001",
            (),
            "Error opening position for <SYM>",
        ),
        (
            "price of PUNDIX/USDT must be greater than minimum price precision of 0.00001",
            (),
            "price of <SYM> must be greater than minimum price precision of N.N",
        ),
        ("Failed to create order", ("ccxt.base.errors.ExchangeError: bybit {}",), "ExchangeError"),
    ],
)
def test_error_types(cat: Categoriser, message: str, cont: tuple[str, ...], expected: str) -> None:
    r = rec(message, "ERROR", "core.exchange_manager", cont)
    assert Categoriser.error_type(r, cat.matches(r)) == expected


def test_error_patterns_only_for_error_records(cat: Categoriser) -> None:
    assert not [
        t
        for t in cat.categorise(rec("TypeError seen in a reply", "INFO"))
        if t.startswith("error.")
    ]
    assert "error.exception" in cat.categorise(rec("TypeError seen in a reply", "ERROR"))


def test_unparsed_records_have_no_categories(cat: Categoriser) -> None:
    assert cat.matches(LogRecord(1, None, "", "", "Position closed: XUSDT", parsed=False)) == ()


def test_slow_threshold_is_configurable() -> None:
    fast = Categoriser.load(slow_ms=50)
    assert "timing.slow" in fast.categorise(rec("✅ XUSDT: SL updated via trading_stop in 85.10ms"))


# -- pattern table ------------------------------------------------------------------------------


def test_overrides_replace_extend_and_disable() -> None:
    table = load_patterns(
        {
            "position": {"opened": [r"opened (?P<symbol>\w+)"]},  # replaces the default list
            "funding": {"paid": ["funding fee paid"]},  # a new category
            "zombie": {"found": []},  # switched off
        }
    )
    assert table["position"]["opened"] == [r"opened (?P<symbol>\w+)"]
    assert table["position"]["closed"]  # untouched
    assert "found" not in table["zombie"]
    cat = Categoriser(table)
    assert cat.categorise(rec("funding fee paid: 1.2 USDT")) == ("funding.paid",)
    assert "zombie.found" not in cat.categorise(rec("🧟 Found 3 zombie orders total:"))


def test_bad_regex_names_category_and_key() -> None:
    with pytest.raises(BotmonError) as err:
        Categoriser.load({"websocket": {"stale": ["(unclosed"]}})
    line = err.value.line()
    assert "websocket.stale" in line and "(unclosed" in line and "missing )" in line
    assert "\n" not in line


@pytest.mark.parametrize(
    "bad",
    [
        {"position": ["not", "a", "table"]},
        {"position": {"opened": [1, 2]}},
        {"bad.name": {"x": ["y"]}},
    ],
)
def test_bad_override_shapes(bad: dict) -> None:
    with pytest.raises(BotmonError):
        load_patterns(bad)


def test_every_default_pattern_compiles_and_table_is_complete() -> None:
    table = load_patterns()
    for category in (
        "position",
        "stop_loss",
        "trailing_stop",
        "websocket",
        "wave",
        "timing",
        "error",
        "exchange",
    ):
        assert table[category], category
    Categoriser(table)  # compiles


def test_literal_precheck_never_changes_the_answer(cat: Categoriser) -> None:
    """The needle pre-check is only a shortcut: a plain regex search must agree."""
    with open(FIXTURE, "rb") as fh:
        records = [r for r in parse_lines(fh) if r.parsed]
    extra = [
        "ſtop loss TRIGGERED",
        "STOP-LOSS hit for XUSDT",
        "Dısconnected from stream",
        "Too Many Visits",
    ]
    records += [rec(m, "ERROR", "websocket.bybit_stream") for m in extra]
    for r in records:
        naive = []
        for category, key, regexes in cat.rules():
            if category == "error" and r.level not in ("ERROR", "CRITICAL"):
                continue
            texts = [r.message] + ([r.logger] if category == "exchange" else [])
            texts += [r.continuation[-1]] if category == "error" and r.continuation else []
            if any(rx.search(t) for t in texts for rx in regexes):
                naive.append(f"{category}.{key}")
        got = [m.tag for m in cat.matches(r)]
        slow_dropped = "timing.slow" in naive and "timing.slow" not in got
        assert got == [t for t in naive if not (slow_dropped and t == "timing.slow")], r.message


def test_message_shape() -> None:
    assert (
        message_shape("✅ PUNDIXUSDT: SL updated via x in 12.5ms")
        == "<SYM>: SL updated via x in N.Nms"
    )


# -- regexes over digit-normalised text (the fast scan's pre-filter) ------------------------------

ZERO = str.maketrans("123456789", "000000000")


@pytest.mark.parametrize(
    ("pattern", "sensitive"),
    [
        (r"Position #\d+ for (?P<symbol>\w+)", False),
        (r"\bin (?P<ms>\d+(?:\.\d+)?) ?ms\b", False),
        (r'"retCode"\s*:\s*10006', True),
        (r"[0-5]x", True),
        (r"[0-9]x", False),
        (r"(\d)\1", True),
        (r"(?i)\bhttp 429\b", True),
    ],
)
def test_digit_sensitivity(pattern: str, sensitive: bool) -> None:
    assert is_digit_sensitive(re.compile(pattern)) is sensitive


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        (r'"retCode"\s*:\s*(?:10006|10018)\b', '{"retCode":10018,"retMsg":"x"}'),
        (r"(?i)\b(?:HTTP|status)[ :=]*429\b", "Status: 429"),
        (r"[0-5]x", "3x"),
        (r"[^5]x", "1x"),
        (r"(\d)\1", "77"),
        (r"(a)?(?(1)1|2)", "a1"),
        (r"a(?!1)b", "ab"),
        (r"(?<=1)b", "1b"),
        (r"\b429\b", "code 429"),
    ],
)
def test_loosened_regex_never_misses(pattern: str, text: str) -> None:
    original = re.compile(pattern)
    assert original.search(text)
    rule = KeyRule(original)
    normalised = text.translate(ZERO)
    assert rule.search(normalised, normalised.casefold())


def test_core_never_imports_textual() -> None:
    code = (
        "import sys\n"
        "import tui.sources.logparse, tui.sources.logtail, tui.analysis.logs, "
        "tui.analysis.logs_cli\n"
        "import tui.analysis.logs_report\n"
        "assert not [m for m in sys.modules if m == 'textual' or m.startswith('textual.')], "
        "'textual imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)
