"""Real-shaped bot logs for benchmarks, built from the bot's REAL lines.

    python bench/make_real_log.py OUT --mix production [--lines N] [--seed S]
    python bench/make_real_log.py OUT --mix storm

Every message comes from ``../shared/real/bot_log_lines.log`` (7,720 records the bot really
wrote): its symbols and numbers are redrawn (same kind of symbol, numbers of the same form and a
similar number of digits, as a float's ``repr`` prints them), nothing else is invented. Two mixes:

* ``production``: like the 8.07M-line audit log: ~95 % INFO, ~3.5 % WARNING, ~1.45 % ERROR,
  a few CRITICAL; tracebacks after the bot's "...:" error lines; the event logger's echo lines
  (``position_updated: {...}``, one per price tick, the most frequent event) dominate INFO.
* ``storm``: the real incident of 2025-10-23: trailing-stop SL updates failing on the exchange,
  each failure logged three times in the same millisecond (two echo lines and the module line)
  for one symbol, between ordinary lines: ~20 % ERROR.

Which share each kind of INFO line gets is an assumption (the real file quotes lines, it does not
weigh them): see ``INFO_SHARES``. The generator prints the level mix it wrote.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "real" / "bot_log_lines.log"

LINE_RE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) - (.+?) - ([A-Z]+) - (.*)$")
SYMBOL_RE = re.compile(r"\b(?:[A-Z0-9]{2,}/USDT(?::USDT)?|(?:\d{3,})?[A-Z][A-Z0-9]*USDT)\b")
NUMBER_RE = re.compile(r"\d+(?:\.\d+)?(?:e-?\d+)?")
UUID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
TOKEN_RE = re.compile(f"(?P<uuid>{UUID_RE.pattern})|(?P<sym>{SYMBOL_RE.pattern})|"
                      f"(?P<num>{NUMBER_RE.pattern})")

# Shares of INFO lines by the real template they come from (the rest: all other real INFO
# templates, each in proportion to how often the real file quotes it).
INFO_SHARES = {
    "position_updated: ": 0.40,  # the event logger's echo of each price tick
    "trailing_stop_updated: ": 0.10,
    "EventLogger wrote ": 0.06,
    "Aged position ": 0.10,  # "Aged position X registered (age=N.Nh)", every aged check
    "TS state RESTORED": 0.02,
}
LEVEL_SHARES = {
    # Shares of records picked; a storm failure writes three ERROR records, so the ERROR share
    # of the records written is ~1.45 % (production) and ~20 % (storm).
    "production": {"INFO": 0.9525, "WARNING": 0.035, "ERROR": 0.012, "CRITICAL": 0.0005},
    "storm": {"INFO": 0.901, "WARNING": 0.02, "ERROR": 0.078, "CRITICAL": 0.001},
}
STORM_SHARE = {"production": 0.10, "storm": 0.97}  # of ERROR lines: the SL-update-failure triples

# Tracebacks as the bot's Python writes them after its "...:" error lines (the real file holds
# the records only, not their continuation lines).
TRACEBACKS = [
    [
        "Traceback (most recent call last):",
        '  File "/home/bot/trading_bot/core/position_manager.py", line 1812, in '
        "check_positions_protection",
        "    sl_price = await self.exchange_manager.get_stop_loss(symbol)",
        '  File "/home/bot/trading_bot/core/exchange_manager.py", line 944, in get_stop_loss',
        "    orders = await self.exchange.fetch_open_orders(symbol, params=params)",
        '  File "/home/bot/venv/lib/python3.12/site-packages/ccxt/async_support/bybit.py", line '
        "5213, in fetch_open_orders",
        "    response = await self.privateGetV5OrderRealtime(self.extend(request, params))",
        'ccxt.base.errors.ExchangeError: bybit {"retCode":10001,"retMsg":"params error: symbol '
        'invalid","result":{},"retExtInfo":{},"time":1760328373871}',
    ],
    [
        "Traceback (most recent call last):",
        '  File "/home/bot/trading_bot/core/event_logger.py", line 212, in _flush',
        "    payload = json.dumps(event.data)",
        '  File "/usr/lib/python3.12/json/__init__.py", line 231, in dumps',
        "    return _default_encoder.encode(obj)",
        "TypeError: Object of type Decimal is not JSON serializable",
    ],
    [
        "Traceback (most recent call last):",
        '  File "/home/bot/trading_bot/core/aged_position_manager.py", line 377, in '
        "_update_exit_order",
        "    await self.exchange.edit_order(order_id, symbol, 'limit', side, amount, price)",
        '  File "/home/bot/venv/lib/python3.12/site-packages/ccxt/async_support/bybit.py", line '
        "4490, in edit_order",
        "    response = await self.privatePostV5OrderAmend(request)",
        'ccxt.base.errors.InvalidOrder: bybit {"retCode":10001,"retMsg":"The order remains '
        'unchanged","result":{},"retExtInfo":{},"time":1760713341207}',
    ],
]


@dataclass(frozen=True)
class Template:
    logger: str
    level: str
    parts: tuple[tuple[str, str], ...]  # (kind, text): kind "lit", "sym", "num", "uuid"
    weight: float = 1.0

    def render(self, gen: Generator, symbol: str) -> str:
        out = []
        for kind, text in self.parts:
            if kind == "lit":
                out.append(text)
            elif kind == "sym":
                out.append(symbol if "/" not in text else f"{symbol[:-4]}/USDT:USDT")
            elif kind == "num":
                out.append(gen.number(text))
            else:
                out.append(gen.uuid())
        return "".join(out)


def parse_template(logger: str, level: str, message: str) -> Template:
    parts: list[tuple[str, str]] = []
    pos = 0
    for m in TOKEN_RE.finditer(message):
        if m.start() > pos:
            parts.append(("lit", message[pos : m.start()]))
        parts.append((m.lastgroup or "lit", m.group(0)))
        pos = m.end()
    if pos < len(message):
        parts.append(("lit", message[pos:]))
    return Template(logger, level, tuple(parts))


def load_templates(source: Path) -> list[Template]:
    seen: Counter[Template] = Counter()
    with open(source, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            m = LINE_RE.match(line.rstrip("\n"))
            if m:
                seen[parse_template(m.group(2), m.group(3), m.group(4))] += 1
    return [Template(t.logger, t.level, t.parts, float(n)) for t, n in seen.items()]


class Generator:
    def __init__(self, templates: list[Template], mix: str, seed: int, start: datetime) -> None:
        self.rng = random.Random(seed)
        self.mix = mix
        self.t = start
        real_symbols = sorted({text for t in templates for kind, text in t.parts
                               if kind == "sym" and "/" not in text})
        self.symbols = real_symbols + self._more_symbols(300 - len(real_symbols))
        self.open = self.rng.sample(self.symbols, 70)
        self.by_level: dict[str, tuple[list[Template], list[float]]] = {}
        storm_texts = ("trailing_stop_sl_update_failed", "SL update FAILED")
        self.storm = [t for t in templates if any(s in _lit(t) for s in storm_texts)]
        for level in ("INFO", "WARNING", "ERROR", "CRITICAL"):
            pool = [t for t in templates if t.level == level and t not in self.storm]
            self.by_level[level] = (pool, self._weights(pool, level))

    def _more_symbols(self, n: int) -> list[str]:
        names: set[str] = set()
        while len(names) < n:
            base = "".join(self.rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
                           for _ in range(self.rng.randint(2, 7)))
            names.add(("1000" if self.rng.random() < 0.04 else "") + base + "USDT")
        return sorted(names)

    @staticmethod
    def _weights(pool: list[Template], level: str) -> list[float]:
        if level != "INFO":
            return [1.0 for _ in pool]  # every real warning/error shape, equally
        shared = {key: [t for t in pool if _lit(t).startswith(key) or key in _lit(t)]
                  for key in INFO_SHARES}
        special = {id(t): key for key, ts in shared.items() for t in ts}
        rest = [t for t in pool if id(t) not in special]
        rest_total = sum(t.weight for t in rest) or 1.0
        left = 1.0 - sum(INFO_SHARES.values())
        weights = []
        for t in pool:
            key = special.get(id(t))
            if key is None:
                weights.append(left * t.weight / rest_total)
            else:
                group = shared[key]
                weights.append(INFO_SHARES[key] * t.weight / sum(g.weight for g in group))
        return weights

    def number(self, original: str) -> str:
        rng = self.rng
        if "e" in original:
            mantissa = f"{rng.uniform(1, 9.99):.{rng.randint(1, 4)}f}".rstrip("0").rstrip(".")
            return f"{mantissa}e-{rng.randint(5, 8):02d}"
        whole, _, frac = original.partition(".")
        digits = len(whole)
        if digits == 1 and whole == "0":
            head = "0"
        else:
            width = max(1, digits + (rng.choice((-1, 0, 0, 0, 1)) if digits > 2 else 0))
            head = str(rng.randint(10 ** (width - 1) if width > 1 else 0, 10**width - 1))
        if not frac:
            return head
        # A float's repr drops trailing zeros: the number of decimals varies from line to line.
        places = max(1, len(frac) - rng.choice((0, 0, 0, 1, 1, 2)))
        tail = str(rng.randint(0, 10**places - 1)).zfill(places).rstrip("0") or "0"
        return f"{head}.{tail}"

    def uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def symbol(self) -> str:
        return self.rng.choice(self.open if self.rng.random() < 0.85 else self.symbols)

    def stamp(self) -> str:
        return self.t.strftime("%Y-%m-%d %H:%M:%S,") + f"{self.t.microsecond // 1000:03d}"

    def line(self, template: Template, symbol: str) -> str:
        return f"{self.stamp()} - {template.logger} - {template.level} - " + template.render(
            self, symbol)

    def records(self) -> list[list[str]]:
        """One or more records logged together (same millisecond), each with its lines."""
        rng = self.rng
        self.t += timedelta(seconds=rng.expovariate(300))
        if rng.random() < 0.002:  # a wave: a burst of lines within a second or two
            self.t += timedelta(milliseconds=rng.randint(1, 20))
        shares = LEVEL_SHARES[self.mix]
        level = rng.choices(list(shares), weights=list(shares.values()))[0]
        symbol = self.symbol()
        if level == "ERROR" and rng.random() < STORM_SHARE[self.mix]:
            # one failure, three lines in the same millisecond (the real pattern)
            echo = [t for t in self.storm if t.logger == "core.event_logger"]
            first, second = rng.sample(echo, 2) if len(echo) > 1 else (echo[0], echo[0])
            module = [t for t in self.storm if t.logger != "core.event_logger"]
            return [[self.line(first, symbol)], [self.line(second, symbol)],
                     [self.line(rng.choice(module), symbol)]]
        pool, weights = self.by_level[level]
        template = rng.choices(pool, weights=weights)[0]
        text = self.line(template, symbol)
        if level in ("ERROR", "CRITICAL") and text.endswith(":"):
            return [[text, *rng.choice(TRACEBACKS)]]
        return [[text]]


def _lit(t: Template) -> str:
    return "".join(text for kind, text in t.parts if kind == "lit")


def generate(path: str, lines: int, mix: str = "production", seed: int = 11,
             source: Path = REAL, start: str = "2025-10-18 07:06:00") -> Counter[str]:
    templates = load_templates(source)
    gen = Generator(templates, mix, seed, datetime.fromisoformat(start))
    levels: Counter[str] = Counter()
    written = 0
    buf: list[str] = []
    with open(path, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as out:
        while written < lines:
            for record in gen.records():
                levels[record[0].split(" - ", 3)[2]] += 1
                buf.extend(record)
                written += len(record)
            if len(buf) > 20000:
                out.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            out.write("\n".join(buf) + "\n")
    levels["lines"] = written
    return levels


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--mix", choices=sorted(LEVEL_SHARES), default="production")
    ap.add_argument("--lines", type=int, default=8_000_000)
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--source", type=Path, default=REAL, help="the real lines to build from")
    args = ap.parse_args(argv)
    if not args.source.exists():
        print(f"make_real_log: {args.source}: no such file (hint: the real lines live in "
              "../shared/real/ beside the project)", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    levels = generate(args.out, args.lines, args.mix, args.seed, args.source)
    total = levels.pop("lines")
    records = sum(levels.values())
    mix = ", ".join(f"{lv} {n / records:.2%}" for lv, n in levels.most_common())
    print(f"wrote {total:,} lines ({records:,} records: {mix}) to {args.out} in "
          f"{time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
