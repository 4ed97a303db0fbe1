"""Static data for the simulated bot: symbols, event severities, exit reasons, log shapes.

Log message shapes are the real bot's: ../shared/real/bot_log_lines.log and BOT_FACTS.md "Log
file" (numbers replaced), and its own log calls for the lines those files do not quote (the
periodic sync, the protection check, the cleanup after a close). Where the bot's wording is
unknown the simulator writes nothing rather than invent a line a categoriser could learn from.
"""

from __future__ import annotations

import random

# Perpetual USDT symbols of the kind the bot trades (all fit positions.symbol varchar(20)).
SYMBOLS: tuple[str, ...] = (
    "PUNDIXUSDT", "NEIROCTOUSDT", "ALLUSDT", "AVLUSDT", "CLOUDUSDT", "YZYUSDT", "1000PEPEUSDT",
    "WIFUSDT", "BOMEUSDT", "ORDIUSDT", "1000SATSUSDT", "TIAUSDT", "SEIUSDT", "SUIUSDT", "APTUSDT",
    "ARBUSDT", "OPUSDT", "INJUSDT", "RENDERUSDT", "FETUSDT", "JUPUSDT", "PYTHUSDT", "WLDUSDT",
    "STRKUSDT", "DYMUSDT", "ALTUSDT", "MANTAUSDT", "PIXELUSDT", "PORTALUSDT", "AEVOUSDT",
    "ETHFIUSDT", "ENAUSDT", "WUSDT", "TNSRUSDT", "SAGAUSDT", "TAOUSDT", "OMNIUSDT", "REZUSDT",
    "BBUSDT", "NOTUSDT", "IOUSDT", "ZKUSDT", "LISTAUSDT", "ZROUSDT", "BANANAUSDT", "RENDERUSDT",
    "DOGSUSDT", "TONUSDT", "POPCATUSDT", "SUNUSDT", "CATIUSDT", "HMSTRUSDT", "EIGENUSDT",
    "SCRUSDT", "GOATUSDT", "MOODENGUSDT", "GRASSUSDT", "DRIFTUSDT", "PNUTUSDT", "ACTUSDT",
    "THEUSDT", "MEUSDT", "VIRTUALUSDT", "PENGUUSDT", "USUALUSDT", "AIXBTUSDT", "CGPTUSDT",
    "FARTCOINUSDT", "SONICUSDT", "SWARMSUSDT", "ANIMEUSDT", "TRUMPUSDT", "VTHOUSDT", "BERAUSDT",
    "LAYERUSDT", "IPUSDT", "KAITOUSDT", "SHELLUSDT", "REDUSDT", "BMTUSDT", "PARTIUSDT",
    "NILUSDT", "MUBARAKUSDT", "BROCCOLIUSDT", "GUNUSDT", "BABYUSDT", "WCTUSDT", "HYPERUSDT",
    "INITUSDT", "SIGNUSDT", "MILKUSDT", "OBOLUSDT", "DOODUSDT", "SOPHUSDT", "HUMAUSDT",
    "AUSDT", "SXTUSDT", "NXPCUSDT", "HOMEUSDT", "SPKUSDT", "NEWTUSDT", "SAHARAUSDT",
    "ERAUSDT", "TREEUSDT", "TOWNSUSDT", "PROVEUSDT", "WLFIUSDT", "SOMIUSDT", "XPLUSDT",
    "LINEAUSDT", "AVNTUSDT", "HEMIUSDT", "ZKCUSDT", "MITOUSDT", "0GUSDT", "ASTERUSDT",
    "COAIUSDT", "FFUSDT", "EDENUSDT", "XANUSDT", "MUSDT", "SKYAIUSDT", "DOLOUSDT", "OGUSDT",
)
SYMBOLS = tuple(dict.fromkeys(SYMBOLS))  # drop the accidental duplicate, keep the order

OPEN_STATUSES = ("active", "entry_placed", "pending_sl", "pending_entry")

# Severity the bot writes per event type (its log_event calls; BOT_FACTS for the CRITICAL ones and
# health_check_failed); anything not listed is INFO.
SEVERITY: dict[str, str] = {
    **{t: "CRITICAL" for t in ("emergency_close_all_triggered", "zombie_alert_triggered")},
    **{t: "ERROR" for t in (
        "exchange_error", "stop_loss_error", "position_error", "position_creation_failed",
        "signal_execution_failed", "trailing_stop_sl_update_failed", "database_error",
        "error_occurred", "stop_loss_set_failed",
    )},
    **{t: "WARNING" for t in (
        "health_check_failed", "zombie_orders_detected", "positions_without_sl_detected",
        "aged_position_detected", "warning_raised", "position_duplicate_prevented",
        "signal_validation_failed", "phantom_position_detected", "phantom_position_closed",
        "quantity_mismatch_detected", "stop_loss_triggered", "risk_limits_exceeded",
        "symbol_unavailable", "order_below_minimum", "position_not_found_on_exchange",
        "aggressive_cleanup_triggered",
    )},
}


def severity(event_type: str) -> str:
    return SEVERITY.get(event_type, "INFO")


def echo_level(severity_name: str) -> str:
    """The level of the event logger's echo line: it logs ERROR and WARNING as such, everything
    else (CRITICAL included) at INFO (core/event_logger.py)."""
    return severity_name if severity_name in ("ERROR", "WARNING") else "INFO"


# Exit reasons and statuses in the bot's own words (its close paths; see sim_ledger for the paths).
EXIT_SYNC = "sync_cleanup"              # the periodic sync closed a position gone from the exchange
STATUS_SYNC = "closed_by_sync"
EXIT_PHANTOM = "PHANTOM_CLEANUP"        # handle_real_zombies
CLEANUP_PHANTOM = "phantom_cleanup"     # its cleanup reason


def aged_exit_reason(pnl_percent: float) -> str:
    """The aged-position manager's MARKET close of a profitable aged position."""
    return f"IMMEDIATE_PROFIT_CLOSE (PnL: +{pnl_percent:.2f}%)"


def exchange_symbol(symbol: str, exchange: str) -> str:
    """How the exchange's stream names a symbol: Bybit PUNDIX/USDT:USDT, Binance PUNDIXUSDT."""
    return market_of(symbol) if exchange == "bybit" else symbol


FILTER_REASONS = (
    "spread_too_wide", "low_volume", "symbol_blacklisted", "min_notional", "open_interest_low",
    "recent_loss_on_symbol", "funding_rate", "score_below_threshold",
)

WS_HOSTS = {
    "binance": ("Binance", "wss://fstream.binance.com/ws/", "fstream.binance.com"),
    "bybit": ("Bybit", "wss://stream.bybit.com/v5/private", "stream.bybit.com"),
}

WS_FAILURES = (
    "Cannot connect to host {host}:443 ssl:default [Connection reset by peer]",
    "Cannot connect to host {host}:443 ssl:default [Temporary failure in name resolution]",
    "WebSocket connection is closed: code = 1006 (connection closed abnormally [internal]), "
    "no reason",
    "sent 1011 (internal error) keepalive ping timeout; no close frame received",
)

# The bot's health monitor (__main__): "⚠️ System health: degraded" then one line per component,
# "  - ⚡ DEGRADED: Signal Processor - WebSocket reconnecting (attempt 0)" (real lines).
HEALTH_FAILURES = (
    ("Signal Processor", "WebSocket reconnecting (attempt {n})"),
    ("Database", "slow queries ({ms}ms)"),
    ("Exchange {exchange}", "API latency {ms}ms"),
    ("Event Logger", "queue size {n}"),
)

BYBIT_ERRORS = (
    (170209, "Order price has too many decimals."),
    (110007, "ab not enough for new order"),
    (10006, "Too many visits. Exceeded the API Rate Limit."),
    (110017, "current position is zero, cannot fix reduce-only order qty"),
)

ROOT = "/home/elcrypto/TradingBot"
SITE = f"{ROOT}/venv/lib/python3.12/site-packages"


def exchange_error_text(rng: random.Random, exchange: str, now_ms: int) -> str:
    if exchange == "bybit":
        code, msg = rng.choice(BYBIT_ERRORS)
        return (f'bybit {{"retCode":{code},"retMsg":"{msg}","result":{{}},"retExtInfo":{{}},'
                f'"time":{now_ms}}}')
    code, msg = rng.choice(((-2019, "Margin is insufficient."),
                            (-1111, "Precision is over the maximum defined for this asset."),
                            (-4164, "Order's notional must be no smaller than 5 (unless you choose "
                                    "reduce only).")))
    return f'binance {{"code":{code},"msg":"{msg}"}}'


def traceback_exchange_error(exchange: str, text: str, rng: random.Random) -> str:
    return "\n".join((
        "Traceback (most recent call last):",
        f'  File "{ROOT}/core/exchange_manager.py", line {rng.randint(480, 560)}, in create_order',
        "    order = await self.exchange.create_order(symbol, type, side, amount, price, params)",
        f'  File "{SITE}/ccxt/async_support/{exchange}.py", line {rng.randint(3900, 4400)}, '
        "in create_order",
        "    response = await self.privatePostV5OrderCreate(request)" if exchange == "bybit"
        else "    response = await self.fapiPrivatePostOrder(request)",
        f'  File "{SITE}/ccxt/async_support/base/exchange.py", line 913, in request',
        "    return await self.fetch2(path, api, method, params, headers, body, config)",
        f'  File "{SITE}/ccxt/async_support/base/exchange.py", line 907, in fetch2',
        "    return await self.fetch(request['url'], request['method'], request['headers'], "
        "request['body'])",
        f'  File "{SITE}/ccxt/async_support/base/exchange.py", line 236, in fetch',
        "    self.handle_errors(http_status_code, http_status_text, url, method, headers, "
        "http_response, json_response, request_headers, request_body)",
        f'  File "{SITE}/ccxt/async_support/{exchange}.py", line {rng.randint(8000, 9000)}, '
        "in handle_errors",
        "    raise ExchangeError(feedback)  # unknown message",
        f"ccxt.base.errors.ExchangeError: {text}",
    ))


def traceback_undefined_column() -> str:
    return "\n".join((
        "Traceback (most recent call last):",
        f'  File "{ROOT}/core/signal_processor_websocket.py", line 412, in _fetch_signals',
        "    rows = await self.repository.get_signals_for_wave(wave_ts)",
        f'  File "{ROOT}/database/repository.py", line 233, in get_signals_for_wave',
        "    return await conn.fetch(query, *params)",
        f'  File "{SITE}/asyncpg/connection.py", line 690, in fetch',
        "    return await self._execute(query, args, 0, timeout)",
        f'  File "{SITE}/asyncpg/connection.py", line 1864, in _execute',
        "    result, _ = await self.__execute(",
        '  File "asyncpg/protocol/protocol.pyx", line 207, in bind_execute',
        'asyncpg.exceptions.UndefinedColumnError: column "exchange_id" does not exist',
    ))


def traceback_decimal_json() -> str:
    return "\n".join((
        "Traceback (most recent call last):",
        f'  File "{ROOT}/core/event_logger.py", line 187, in _write_batch',
        "    json.dumps(event.data),",
        '  File "/usr/lib/python3.12/json/__init__.py", line 231, in dumps',
        "    return _default_encoder.encode(obj)",
        '  File "/usr/lib/python3.12/json/encoder.py", line 200, in encode',
        "    chunks = self.iterencode(o, _one_shot=True)",
        '  File "/usr/lib/python3.12/json/encoder.py", line 258, in iterencode',
        "    return _iterencode(o, 0)",
        '  File "/usr/lib/python3.12/json/encoder.py", line 180, in default',
        "    raise TypeError(f'Object of type {o.__class__.__name__} '",
        "TypeError: Object of type Decimal is not JSON serializable",
    ))


def traceback_price_precision(exchange: str, market: str) -> str:
    return "\n".join((
        "Traceback (most recent call last):",
        f'  File "{ROOT}/core/stop_loss_manager.py", line 301, in set_stop_loss',
        "    price = self.exchange.price_to_precision(symbol, stop_price)",
        f'  File "{SITE}/ccxt/base/exchange.py", line 5012, in price_to_precision',
        "    raise InvalidOrder(self.id + ' price of ' + market['symbol'] + ' must be greater "
        "than minimum price precision of ' + self.number_to_string(precision))",
        f"ccxt.base.errors.InvalidOrder: {exchange} price of {market} must be greater than "
        "minimum price precision of 0.00001",
    ))


def market_of(symbol: str) -> str:
    """PUNDIXUSDT -> PUNDIX/USDT:USDT (ccxt's unified swap symbol)."""
    base = symbol[:-4] if symbol.endswith("USDT") else symbol
    return f"{base}/USDT:USDT"
