"""The simulated bot's incidents: random, at rates per bot hour (``SimParams.*_per_hour``).

Each handler writes what the real bot writes for it: log lines in its wording and only event
types its version writes. WebSocket trouble and stale price streams are log lines only (no
version writes ``websocket_*`` or ``subscription_*`` events).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from tui.demo import sim_catalog as cat

if TYPE_CHECKING:
    from tui.demo.simulator import BotSimulator

Handler = Callable[["BotSimulator", datetime], Awaitable[None]]


async def ws_reconnect(sim: BotSimulator, now: datetime) -> None:
    """A private stream drops and comes back: log lines only, in the streams' own words
    ("WebSocket closed", "Waiting Ns before reconnect attempt N", "Connection failed",
    "Connecting to X", "X WebSocket connected"; Bybit's health check "connection unhealthy")."""
    ex = sim.rng.choice(sim.exchanges)
    name, url, host = cat.WS_HOSTS.get(ex, (ex.title(), f"wss://{ex}", ex))
    logger = sim.rng.choice(("websocket.improved_stream", f"websocket.{ex}_stream"))
    lg = sim.log
    if ex == "bybit" and sim.rng.random() < 0.5:
        lg.warning(now, logger, f"{name} connection unhealthy, reconnecting...")
        lg.info(now, logger, f"🔄 IMMEDIATE RECONNECT initiated for {name}")
    else:
        lg.warning(now, logger, "WebSocket closed: "
                   + sim.rng.choice(cat.WS_FAILURES[2:]).format(host=host))
    lg.info(now, logger, "Waiting 5s before reconnect attempt 1")
    lg.warning(now, "__main__", "  - Signal Processor: degraded - WebSocket reconnecting "
               "(attempt 0)")
    failures = 1 if sim.rng.random() < 0.3 else 0

    async def attempt(n: int) -> None:
        lg.info(sim._now, logger, f"Connecting to {name}: {url}")
        if n <= failures:
            reason = sim.rng.choice(cat.WS_FAILURES[:2]).format(host=host)
            lg.error(sim._now, logger, f"Connection failed: {reason}")
            if ex == "binance" and sim.rng.random() < 0.3:
                lg.error(sim._now, logger, "Failed to create listen key: 503")
            lg.info(sim._now, logger, f"Waiting {5 * 2 ** n}s before reconnect attempt {n + 1}")
            sim._later(5.0 * 2 ** n, lambda: attempt(n + 1))
        else:
            lg.info(sim._now, logger, f"{name} WebSocket connected")

    sim._later(5.0, lambda: attempt(1))


async def zombies(sim: BotSimulator, now: datetime) -> None:
    ex = "binance" if "binance" in sim.exchanges else sim.exchanges[0]
    n = sim.rng.randint(1, 4)
    lg = sim.log
    sim.emit("zombie_orders_detected", {"exchange": ex, "count": n}, exchange=ex)
    lg.warning(now, "core.binance_zombie_manager", f"🧟 Found {n} zombie orders total:")
    orders = [(sim.rng.choice(cat.SYMBOLS), sim._order_id(ex)) for _ in range(n)]
    lg.info(now, "core.binance_zombie_manager", f"🧹 Starting cleanup of {n} zombie orders...")
    for sym, oid in orders:
        sim.emit("zombie_order_cancelled", {"symbol": sym, "order_id": oid,
                                            "reason": "no_position"},
                 symbol=sym, exchange=ex, order_id=oid)
    sim.emit("zombie_cleanup_completed", {"exchange": ex, "cancelled": n, "failed": 0},
             exchange=ex)
    if n >= 4:
        sim.emit("zombie_alert_triggered", {"exchange": ex, "zombie_count": n, "threshold": 3},
                 exchange=ex)


async def health_check_failed(sim: BotSimulator, now: datetime) -> None:
    component, issue = sim.rng.choice(cat.HEALTH_FAILURES)
    ex = sim.rng.choice(sim.exchanges)
    component = component.format(exchange=ex)
    issue = issue.format(n=sim.rng.randint(0, 5), ms=sim.rng.randint(900, 4000))
    sim.emit("health_check_failed", {"component": component, "status": "degraded",
                                     "issue": issue})
    sim.log.warning(now, "__main__", "⚠️ System health: degraded")
    sim.log.warning(now, "__main__", f"  - ⚡ DEGRADED: {component} - {issue}")


async def order_error(sim: BotSimulator, now: datetime) -> None:
    pos = sim.rng.choice(sim.open_positions) if sim.open_positions else None
    ex = pos.exchange if pos else sim.rng.choice(sim.exchanges)
    text = cat.exchange_error_text(sim.rng, ex, int(now.timestamp() * 1000))
    tb = cat.traceback_exchange_error(ex, text, sim.rng)
    sim.emit("exchange_error", {"operation": "create_order", "error": text}, pos=pos, exchange=ex,
             error=text, stack=tb)
    sim.log.error(now, "core.order_executor",
                  f"❌ Failed to execute order after 9 attempts: {text}")
    sim.log.error(now, "core.exchange_manager", f"ExchangeError: {text}", traceback=tb)


async def rate_limit(sim: BotSimulator, now: datetime) -> None:
    # utils.rate_limiter wraps every exchange call: most of what it logs is not a rate limit
    # ("leverage not modified"); some are (Bybit 10006, Binance -1003).
    roll = sim.rng.random()
    ex = sim.rng.choice(sim.exchanges)
    if roll < 0.5 and "bybit" in sim.exchanges:
        text = 'bybit {"retCode":110043,"retMsg":"leverage not modified"}'
    elif ex == "bybit":
        text = 'bybit {"retCode":10006,"retMsg":"Too many visits. Exceeded the API Rate Limit."}'
    else:
        text = (f'{ex} {{"code":-1003,"msg":"Too much request weight used; current limit is '
                '2400 request weight per 1 MINUTE. Please use WebSocket Streams for live '
                'updates to avoid polling the API."}')
    sim.log.error(now, "utils.rate_limiter", f"Unexpected error in rate limited function: {text}")
    if "110043" not in text:
        sim.emit("exchange_error", {"operation": "rate_limited_call", "error": text},
                 exchange=text.split(" ", 1)[0], error=text)


async def traceback(sim: BotSimulator, now: datetime) -> None:
    kind = sim.rng.randrange(3)
    lg = sim.log
    if kind == 0:
        lg.error(now, "core.signal_processor_websocket",
                 'Error fetching signals: column "exchange_id" does not exist',
                 traceback=cat.traceback_undefined_column())
        sim.emit("database_error", {"operation": "get_signals_for_wave",
                                    "error": 'column "exchange_id" does not exist'},
                 error='column "exchange_id" does not exist')
    elif kind == 1:
        lg.error(now, "core.event_logger", "EventLogger batch write failed: Object of type "
                 "Decimal is not JSON serializable", traceback=cat.traceback_decimal_json())
        sim.emit("error_occurred", {"component": "event_logger"},
                 error="TypeError: Object of type Decimal is not JSON serializable")
    else:
        ex = sim.rng.choice(sim.exchanges)
        sym = sim.rng.choice(cat.SYMBOLS)
        market = cat.market_of(sym)
        msg = f"{ex} price of {market} must be greater than minimum price precision of 0.00001"
        lg.error(now, "core.stop_loss_manager", f"Failed to set Stop Loss for {sym}: {msg}",
                 traceback=cat.traceback_price_precision(ex, market))
        sim.emit("stop_loss_set_failed", {"symbol": sym, "reason": "price_precision"},
                 symbol=sym, exchange=ex, error=msg)


async def asyncio_noise(sim: BotSimulator, now: datetime) -> None:
    sim.log.error(now, "asyncio", "Unclosed client session",
                  traceback="client_session: <aiohttp.client.ClientSession object at "
                  f"0x7f{sim.rng.getrandbits(40):010x}>")


async def stale_price(sim: BotSimulator, now: datetime) -> None:
    symbols = [x.symbol for x in sim.open_positions] or list(cat.SYMBOLS)
    sym = sim.rng.choice(symbols)
    silence = sim.rng.randint(301, 420)
    sim.log.warning(now, "websocket.unified_price_monitor",
                    f"⚠️ STALE PRICE: {sym} - no updates for {silence}s (threshold: 300s)")


async def garbled_line(sim: BotSimulator, now: datetime) -> None:
    # a message cut in the middle of a multi-byte character: invalid UTF-8 in the file
    sim.log.warning(now, "websocket.event_router", "Unparsed message from stream: {\"m\":\"",
                    raw=b"\xf0\x9f\x8c" + b'"}')


async def phantom(sim: BotSimulator, now: datetime) -> None:
    """A position closed outside the bot (by hand on the exchange, a liquidation): the bot
    finds it at its next sync."""
    trading = [x for x in sim.open_positions if x.trades]
    if trading:
        pos = sim.rng.choice(trading)
        sim._gone(pos, "manual", pos.price)


async def emergency_close(sim: BotSimulator, now: datetime) -> None:
    trading = [x for x in sim.open_positions if x.trades]
    sim.emit("emergency_close_all_triggered", {"reason": "daily_loss_limit",
                                               "positions": len(trading)},
             error="Emergency close all: daily loss limit reached")
    sim.log.log(now, "core.position_manager", "CRITICAL",
                f"🚨 EMERGENCY CLOSE ALL triggered: daily loss limit reached, closing "
                f"{len(trading)} positions")
    for pos in trading:
        sim._gone(pos, "emergency", pos.price)


# kind -> (handler, SimParams attribute with its rate per bot hour)
KINDS: dict[str, tuple[Handler, str]] = {
    "ws_reconnect": (ws_reconnect, "ws_reconnects_per_hour"),
    "zombies": (zombies, "zombies_per_hour"),
    "health_check_failed": (health_check_failed, "health_check_failed_per_hour"),
    "order_error": (order_error, "order_errors_per_hour"),
    "rate_limit": (rate_limit, "rate_limit_errors_per_hour"),
    "traceback": (traceback, "traceback_errors_per_hour"),
    "asyncio_noise": (asyncio_noise, "asyncio_noise_per_hour"),
    "stale_price": (stale_price, "stale_price_per_hour"),
    "garbled_line": (garbled_line, "garbled_lines_per_hour"),
    "phantom": (phantom, "phantoms_per_hour"),
    "emergency_close": (emergency_close, "emergency_close_per_hour"),
}


async def run(sim: BotSimulator, kind: str, now: datetime) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown incident {kind!r}; choose one of {', '.join(KINDS)}")
    await KINDS[kind][0](sim, now)


async def maybe(sim: BotSimulator, now: datetime, bot_hours: float) -> None:
    """Each incident happens with its Poisson probability over ``bot_hours``."""
    if bot_hours <= 0:
        return
    for handler, attr in KINDS.values():
        rate = getattr(sim.p, attr)
        if rate > 0 and sim.rng.random() < 1 - math.exp(-rate * bot_hours):
            await handler(sim, now)
