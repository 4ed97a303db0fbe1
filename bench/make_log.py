"""Generate a realistic bot log for benchmarks: ``python bench/make_log.py OUT [--lines N]``.

The shapes are the bot's real ones (BOT_FACTS.md and its source): mostly INFO price/position
lines, signal waves at minutes 5/20/35/50 with positions opened and some failing, protection
checks every 5 minutes, trailing-stop activity, WebSocket reconnects, ERRORs with tracebacks,
emoji, Cyrillic text, a few invalid UTF-8 bytes, and numbers that contain "429" without being
rate limits. About 300 lines/s of log time, like the real 8-hour run.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timedelta

TRACE_DECIMAL = [
    "Traceback (most recent call last):",
    '  File "/app/core/event_logger.py", line 212, in _flush',
    "    payload = json.dumps(event.data)",
    '  File "/usr/lib/python3.12/json/__init__.py", line 231, in dumps',
    "    return _default_encoder.encode(obj)",
    "TypeError: Object of type Decimal is not JSON serializable",
]
TRACE_EXCHANGE = [
    "Traceback (most recent call last):",
    '  File "/app/core/exchange_manager.py", line 577, in create_order',
    "    order = await self.exchange.create_order(symbol, type, side, amount, price, params)",
    '  File "/app/venv/lib/python3.12/site-packages/ccxt/async_support/bybit.py", line 4310, in '
    "create_order",
    "    response = await self.privatePostV5OrderCreate(request)",
    "ccxt.base.errors.ExchangeError: bybit "
    '{"retCode":170209,"retMsg":"This trading pair is only available to the China region."}',
]


class LogWriter:
    def __init__(self, out, rng: random.Random, start: datetime) -> None:  # noqa: ANN001
        self.out = out
        self.rng = rng
        self.t = start
        self.lines = 0
        self.buf: list[bytes] = []
        self.symbols = self._symbols()
        self.prices = {s: 10 ** rng.uniform(-5, 3) for s in self.symbols}
        self.open: list[str] = []
        self.pos_id = 1000
        self.order_id = 14293332

    def _symbols(self) -> list[str]:
        rng = self.rng
        names = set()
        while len(names) < 320:
            base = "".join(
                rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(rng.randint(2, 7))
            )
            if rng.random() < 0.05:
                base = "1000" + base
            names.add(base + "USDT")
        return sorted(names)

    def stamp(self) -> str:
        return self.t.strftime("%Y-%m-%d %H:%M:%S,") + f"{self.t.microsecond // 1000:03d}"

    def emit(
        self,
        logger: str,
        level: str,
        message: str,
        extra: list[str] | None = None,
        raw: bytes = b"",
    ) -> None:
        line = f"{self.stamp()} - {logger} - {level} - {message}".encode()
        if raw:
            line += raw
        self.buf.append(line)
        self.lines += 1
        for x in extra or ():
            self.buf.append(x.encode())
            self.lines += 1
        if len(self.buf) >= 20000:
            self.flush()

    def flush(self) -> None:
        self.buf.append(b"")
        self.out.write(b"\n".join(self.buf))
        self.buf = []

    def price(self, sym: str) -> str:
        p = self.prices[sym] * (1 + self.rng.uniform(-0.003, 0.003))
        self.prices[sym] = p
        return f"{p:.8f}" if p < 1 else f"{p:.4f}"

    def tick(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


def background(w: LogWriter) -> None:
    """One ordinary line: what dominates the bot's log."""
    r = w.rng.random()
    sym = w.rng.choice(w.open) if w.open and w.rng.random() < 0.8 else w.rng.choice(w.symbols)
    if r < 0.34:
        w.emit(
            "core.position_manager", "INFO", f"Position update: {sym}, mark_price={w.price(sym)}"
        )
    elif r < 0.50:
        pnl = w.rng.uniform(-3, 3)
        w.emit(
            "websocket.bybit_stream",
            "INFO",
            f"📊 [BYBIT] {sym} size={w.rng.randint(1, 90000)} mark={w.price(sym)} pnl={pnl:.2f}%",
        )
    elif r < 0.64:
        w.emit("websocket.binance_stream", "INFO", f"Binance mark price {sym}: {w.price(sym)}")
    elif r < 0.74:
        profit = w.rng.uniform(-2, 1.4)
        w.emit(
            "protection.trailing_stop",
            "INFO",
            f"[TS] {sym} @ {w.price(sym)} | profit: {profit:.2f}% | activation: {w.price(sym)} | "
            "state: WAITING",
        )
    elif r < 0.82:
        w.emit(
            "database.repository",
            "INFO",
            f"Updated position {w.rng.randint(1000, 9999)}: current_price={w.price(sym)}, "
            f"pnl={w.rng.uniform(-50, 50):.4f}",
        )
    elif r < 0.88:
        w.emit(
            "core.event_logger",
            "INFO",
            f"Event logged: position_updated for {sym} (queue={w.rng.randint(0, 120)})",
        )
    elif r < 0.91:
        w.emit(
            "core.position_manager",
            "INFO",
            f"📊 {sym}: PnL {w.rng.uniform(-5, 5):.2f}% (entry {w.price(sym)})",
        )
    elif r < 0.93:
        w.order_id += w.rng.randint(1, 500)
        w.emit(
            "core.exchange_manager",
            "INFO",
            f"Order {w.order_id} status: open, filled 0.{w.rng.randint(0, 999):03d}",
        )
    elif r < 0.95:
        w.emit("core.position_synchronizer", "INFO", f"Позиция {sym} синхронизирована с биржей ✅")
    elif r < 0.97:
        w.emit(
            "websocket.unified_price_monitor",
            "INFO",
            f"✅ aged_position_manager subscribed to {sym} (priority={w.rng.randint(1, 100)})",
        )
    elif r < 0.985:
        w.emit(
            "core.signal_processor_websocket",
            "INFO",
            f"📡 Heartbeat from signal server, {w.rng.randint(0, 40)} pending",
        )
    else:
        w.emit(
            "core.aged_position_manager",
            "INFO",
            f"Aged check: {sym} age={w.rng.uniform(0, 3):.2f}h",
        )


def rare(w: LogWriter) -> None:
    """Warnings, errors and the events the audit looks for."""
    rng = w.rng
    sym = rng.choice(w.symbols)
    r = rng.random()
    if r < 0.10:
        w.emit(
            "core.event_logger",
            "ERROR",
            "Failed to write event batch: Object of type Decimal is not JSON serializable",
            TRACE_DECIMAL,
        )
    elif r < 0.18:
        w.emit(
            "core.exchange_manager", "ERROR", f"Failed to create order for {sym}", TRACE_EXCHANGE
        )
    elif r < 0.26:
        w.emit(
            "core.signal_processor_websocket",
            "ERROR",
            'Error fetching signals: column "exchange_id" does not exist',
        )
    elif r < 0.34:
        w.emit(
            "utils.rate_limiter",
            "ERROR",
            "Unexpected error in rate limited function: bybit "
            '{"retCode":110043,"retMsg":"leverage not modified"}',
        )
    elif r < 0.40:
        w.emit(
            "utils.rate_limiter",
            "WARNING",
            'Rate limit hit: bybit {"retCode":10006,"retMsg":"Too many visits!"}',
        )
    elif r < 0.46:
        w.emit(
            "core.exchange_manager",
            "WARNING",
            f"Request timeout for fetch_positions ({rng.choice(['binance', 'bybit'])}), retrying "
            "in 2s",
        )
    elif r < 0.52:
        w.emit(
            "asyncio",
            "ERROR",
            "Unclosed client session",
            [
                "client_session: <aiohttp.client.ClientSession object at "
                f"0x7f{rng.randint(0, 16**10):010x}>"
            ],
        )
    elif r < 0.58:
        w.emit(
            "protection.trailing_stop",
            "WARNING",
            f"⚠️ {sym}: TS state exists in DB but no position on exchange - deleting stale TS state",
        )
    elif r < 0.66:
        w.emit(
            "core.position_manager",
            "WARNING",
            f"⚠️ Stop Loss already exists at {w.price(sym)}, skipping",
        )
    elif r < 0.72:
        w.emit(
            "core.position_manager",
            "ERROR",
            f"Error opening position for {sym}: price of {sym[:-4]}/USDT must be greater than "
            "minimum price precision of 0.00001",
        )
    elif r < 0.78:
        # numbers with 429 in them are not rate limits
        w.emit(
            "core.exchange_manager",
            "INFO",
            f"Order 429{rng.randint(10000, 99999)} placed at 0.0429{rng.randint(0, 99)}",
        )
    elif r < 0.84:
        w.emit(
            "core.binance_zombie_manager",
            "INFO",
            f"🧟 Found {rng.randint(0, 4)} zombie orders total:",
        )
    elif r < 0.90:
        w.emit(
            "core.position_manager",
            "WARNING",
            f"Position {sym} not found on {rng.choice(['binance', 'bybit'])}",
        )
    elif r < 0.95:
        w.emit(
            "core.position_manager",
            "INFO",
            f"Данные позиции {sym} обновлены",
            raw=b" \xff\xfe (bad bytes)",
        )
    else:
        w.emit(
            "core.stop_loss_manager",
            "ERROR",
            f'Failed to set Stop Loss for {sym}: bybit {{"retCode":10001,"retMsg":"params error"}}',
        )


def wave(w: LogWriter) -> None:
    rng = w.rng
    n = rng.randint(60, 110)
    iso = (
        w.t.replace(minute=(w.t.minute // 15) * 15, second=0, microsecond=0).isoformat() + "+00:00"
    )
    w.emit(
        "core.signal_processor_websocket",
        "INFO",
        f"🌊 Wave detected! Processing {n} signals for {iso}",
    )
    opened = failed = skipped = 0
    started = w.t
    for _ in range(n):
        sym = rng.choice(w.symbols)
        side = rng.choice(["BUY", "SELL"])
        w.tick(rng.uniform(0.001, 0.05))
        w.emit(
            "core.wave_signal_processor",
            "INFO",
            f"Processing signal #{rng.randint(100000, 999999)}: {sym} {side}",
        )
        if rng.random() < 0.2 and len(w.open) < 80:
            w.pos_id += 1
            w.emit(
                "core.position_manager",
                "INFO",
                f"Opening position ATOMICALLY: {sym} {side} {rng.randint(1, 5000)}",
            )
            if rng.random() < 0.9:
                w.emit(
                    "core.position_manager",
                    "INFO",
                    f"✅ Position #{w.pos_id} for {sym} opened ATOMICALLY at "
                    f"${float(w.price(sym)):.4f}",
                )
                w.emit(
                    "core.atomic_position_manager",
                    "INFO",
                    "✅ Position created ATOMICALLY with guaranteed SL",
                )
                w.emit(
                    "core.position_manager",
                    "INFO",
                    f"✅ Added {sym} to tracked positions (total: {len(w.open) + 1})",
                )
                w.open.append(sym)
                opened += 1
            else:
                w.emit(
                    "core.position_manager",
                    "ERROR",
                    f"Error opening position for {sym}: Position creation rolled back: order "
                    "rejected",
                )
                w.emit(
                    "core.atomic_position_manager",
                    "ERROR",
                    f"❌ Atomic operation failed: pos_{sym}_{int(w.t.timestamp())}"
                    " - order rejected",
                )
                failed += 1
        else:
            skipped += 1
    ms = (w.t - started).total_seconds() * 1000
    w.emit(
        "core.wave_signal_processor",
        "INFO",
        f"🎯 Wave {iso} complete: {opened} positions opened, {failed} failed, {rng.randint(0, 5)} "
        f"validation errors, {rng.randint(0, 9)} duplicates",
    )
    rate = 100 * opened / max(1, opened + failed)
    w.emit(
        "core.signal_processor_websocket",
        "INFO",
        f"🌊 Wave processing complete in {ms:.0f}ms: ✅ {opened} successful, ❌ {failed} failed, ⏭️ "
        f"{skipped} skipped, 📊 Success rate: {rate:.1f}%",
    )


def protection_check(w: LogWriter) -> None:
    for sym in list(w.open):
        w.order_id += 7
        w.emit(
            "core.stop_loss_manager",
            "INFO",
            f"✅ Position {sym} has Stop Loss order: {w.order_id} at {w.price(sym)}",
        )
        w.tick(0.004)
    if w.open:
        w.emit("core.position_manager", "INFO", "✅ All loaded positions have stop losses")


def trailing(w: LogWriter) -> None:
    if not w.open:
        return
    sym = w.rng.choice(w.open)
    r = w.rng.random()
    if r < 0.1:
        w.emit(
            "protection.trailing_stop",
            "INFO",
            f"✅ {sym}: Trailing stop ACTIVATED at {w.price(sym)}, stop at {w.price(sym)}",
        )
    else:
        a, b = w.price(sym), w.price(sym)
        w.emit(
            "protection.trailing_stop",
            "INFO",
            f"📈 {sym}: SL moved - Trailing stop updated from {a} to {b} "
            f"(+{w.rng.uniform(0.1, 0.9):.2f}%)",
        )
    took = w.rng.uniform(40, 400) if w.rng.random() > 0.05 else w.rng.uniform(1000, 3000)
    w.emit(
        "protection.trailing_stop", "INFO", f"✅ {sym}: SL updated via trading_stop in {took:.2f}ms"
    )


def close_one(w: LogWriter) -> None:
    if w.open:
        sym = w.open.pop(w.rng.randrange(len(w.open)))
        w.emit("websocket.bybit_stream", "INFO", f"Position closed: {sym}")


def reconnect(w: LogWriter) -> None:
    w.emit("websocket.improved_stream", "CRITICAL", "🔄 IMMEDIATE RECONNECT initiated for Bybit")
    w.emit("websocket.improved_stream", "INFO", "Waiting 5s before reconnect attempt 1")
    w.emit(
        "websocket.improved_stream",
        "INFO",
        "Connecting to Bybit: wss://stream.bybit.com/v5/private",
    )
    w.emit("websocket.improved_stream", "INFO", "Bybit WebSocket connected")


def generate(path: str, lines: int, seed: int = 7, start: str = "2025-10-15 09:00:00") -> int:
    rng = random.Random(seed)
    with open(path, "wb", buffering=1 << 20) as out:
        w = LogWriter(out, rng, datetime.fromisoformat(start))
        w.emit("__main__", "INFO", "🚀 Trading bot starting (botmon benchmark log)")
        last_wave = last_check = None
        next_ping = w.t
        while w.lines < lines:
            w.tick(rng.expovariate(300))
            if w.t >= next_ping:  # the bot pings Bybit every 20 s
                next_ping = w.t + timedelta(seconds=20)
                rtt = rng.uniform(0.03, 0.4) if rng.random() > 0.02 else rng.uniform(1.0, 4.0)
                w.emit(
                    "websocket.improved_stream",
                    "INFO",
                    f"✅ [Bybit] Custom pong received at {w.t:%H:%M:%S} (RTT: {rtt:.2f}s)",
                )
            minute = w.t.minute
            slot = (w.t.hour, minute)
            if minute in (5, 20, 35, 50) and last_wave != slot:
                last_wave = slot
                wave(w)
            if minute % 5 == 0 and last_check != slot:
                last_check = slot
                protection_check(w)
            r = rng.random()
            if r < 0.004:
                rare(w)
            elif r < 0.0048:
                trailing(w)
            elif r < 0.0050:
                close_one(w)
            elif r < 0.005001:  # a handful per 8 hours
                reconnect(w)
            else:
                background(w)
        w.flush()
        return w.lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--lines", type=int, default=8_000_000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    n = generate(args.out, args.lines, args.seed)
    print(f"wrote {n:,} lines to {args.out} in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
