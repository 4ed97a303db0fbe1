"""Configuration: defaults < TOML file < ``BOTMON_*`` environment < command-line flags.

Every setting is declared once, in the dataclasses below, with its default (the bot's real names
from BOT_FACTS.md). The loader validates types and rejects unknown keys with a did-you-mean, so a
typo in an 8-hour audit config fails at start, not in hour six. The result is immutable.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from tui.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

ENV_PREFIX = "BOTMON_"
# Command-line flags that set a key (overrides), for messages that name what the user typed.
FLAGS = {"database.dsn": "--dsn", "poll.interval_s": "--interval", "run.out_dir": "--out",
         "logs.paths": "--log"}
DEFAULT_CONFIG_NAMES = ("botmon.toml",)


@dataclass(frozen=True)
class DatabaseConfig:
    # Empty dsn: asyncpg falls back to PGHOST/PGPORT/PGDATABASE/PGUSER/PGPASSWORD and ~/.pgpass.
    dsn: str = ""
    host: str = ""
    port: int = 0
    database: str = ""
    user: str = ""
    # Prefer PGPASSWORD, ~/.pgpass or BOTMON_DATABASE_PASSWORD over writing it in the file.
    password: str = ""
    schema: str = "monitoring"
    positions_table: str = "positions"
    events_table: str = "events"
    trailing_stop_table: str = "trailing_stop_state"
    orders_table: str = "orders"
    statement_timeout_ms: int = 2000
    connect_timeout_s: float = 5.0


@dataclass(frozen=True)
class PositionsConfig:
    open_statuses: tuple[str, ...] = ("active", "entry_placed", "pending_sl", "pending_entry")
    aged_hours: float = 3.0
    # How "has a stop-loss" is read off a position row:
    # flag = has_stop_loss is true; price = stop_loss_price is set;
    # flag_or_price / flag_and_price = either / both.
    # The bot writes stop_loss_price when it places the stop-loss, but sets has_stop_loss only
    # in its protection sync (every 120 s): either one means protected.
    stop_loss_check: str = "flag_or_price"
    # A fresh position counts as unprotected only after this long (from its own opened_at):
    # above the bot's 120 s protection sync, so a normal open never pages.
    unprotected_grace_s: float = 180.0
    # positions.stop_loss_price and trailing_stop_state.current_stop_price may differ by this
    # much (percent of the price) before the pair counts as inconsistent.
    sl_mismatch_tolerance_pct: float = 0.1
    # Statuses of rows that never became a position (an atomic open rolled back): neither an
    # open nor a close.
    never_opened_statuses: tuple[str, ...] = ("rolled_back", "canceled", "failed")


@dataclass(frozen=True)
class EventsConfig:
    """Which event types feed each counter. Entries may be glob patterns (``*_failed``), and
    ``type:subtype`` matches a type with that ``event_data.warning_type``."""

    # Opens and closes are counted from the positions table; these events only cross-check it.
    positions_opened_events: tuple[str, ...] = ("position_created",)
    positions_closed_events: tuple[str, ...] = ("position_closed",)
    price_updates: tuple[str, ...] = ("position_updated",)
    ts_activations: tuple[str, ...] = ("trailing_stop_activated",)
    sl_updates: tuple[str, ...] = ("trailing_stop_sl_updated", "trailing_stop_breakeven",
                                   "stop_moved_to_breakeven", "stop_loss_updated")
    # The trailing stop could not move its stop-loss (the old one stays), or a stop-loss could
    # not be placed: the 2025-10-23 incident was ~1,870 of these in four hours.
    sl_failures: tuple[str, ...] = ("trailing_stop_sl_update_failed", "stop_loss_error",
                                    "stop_loss_set_failed", "protection_sl_cancel_failed")
    zombies: tuple[str, ...] = ("zombie_order_cancelled",)
    emergency_closes: tuple[str, ...] = ("emergency_close_all_triggered",
                                         "warning_raised:ts_emergency_close_instant_cross")
    errors: tuple[str, ...] = ("*_error", "*_failed", "error_occurred", "*_exhausted",
                               "transaction_rolled_back")
    error_severities: tuple[str, ...] = ("ERROR", "CRITICAL")
    ws_reconnects: tuple[str, ...] = ("websocket_disconnected",)
    aged_detected: tuple[str, ...] = ("aged_position_detected",)
    unprotected_detected: tuple[str, ...] = ("positions_without_sl_detected",)
    # Left out of the event stream pane: per-tick noise.
    stream_exclude: tuple[str, ...] = ("position_updated", "trailing_stop_updated",
                                       "quantity_updated", "position_verified")
    # The bot's own start and stop (its state and uptime), and the risk events listed apart.
    bot_started: tuple[str, ...] = ("bot_started",)
    bot_stopped: tuple[str, ...] = ("bot_stopped",)
    risk: tuple[str, ...] = ("stop_loss_error", "stop_loss_set_failed",
                             "trailing_stop_sl_update_failed", "protection_sl_cancel_failed",
                             "emergency_close_all_triggered",
                             "warning_raised:ts_emergency_close_instant_cross",
                             "zombie_*", "aggressive_cleanup_triggered",
                             "positions_without_sl_detected")
    # A counter is measured only when the database holds one of its types written within this
    # many days (or one arrives during the run); otherwise it shows "—" with the reason.
    source_days: float = 7.0
    # Types the bot declares but no version writes (BOT_FACTS): named in the "—" reasons.
    never_written: tuple[str, ...] = (
        "websocket_*", "subscription_*", "order_placed", "stop_loss_updated",
        "trailing_stop_breakeven", "stop_moved_to_breakeven", "emergency_stop_placed",
        "transaction_*", "wave_buffer_exhausted", "position_recovery_*")


@dataclass(frozen=True)
class PollConfig:
    interval_s: float = 2.0
    # How long a missing event id (an insert not committed yet) is awaited before it is given up.
    lookback_s: float = 60.0
    # At start, load this many minutes of history so the 10-minute window is full at once.
    history_minutes: int = 10
    # Back-off ceiling while the database is unreachable.
    max_backoff_s: float = 30.0
    # Trailing-stop rows without an open position change slowly: read them this often.
    orphans_every_s: float = 30.0


@dataclass(frozen=True)
class RunConfig:
    duration_hours: float = 8.0
    out_dir: str = "./botmon-runs"
    # A minute's snapshot waits this long after the minute ends, for the bot's batched inserts.
    snapshot_grace_s: float = 10.0
    # At the end, wait this long before the final recount: the bot inserts its queued events
    # in batches every 5 s, so the rows of the last seconds are still on their way.
    final_wait_s: float = 6.0


@dataclass(frozen=True)
class LogsConfig:
    # Files or globs of the bot's log, e.g. "monitoring_logs/bot_*.log"; empty: no log source.
    paths: tuple[str, ...] = ()
    from_start: bool = False
    # Extra or replacement regexes per category, e.g. {websocket = {reconnect = ["..."]}}.
    patterns: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CheckConfig:
    # The bot's .env file: every key matching testnet_keys must be true before an audit.
    env_file: str = ".env"
    testnet_keys: tuple[str, ...] = ("*_TESTNET",)
    # Free space needed in the output directory for an 8-hour run's files.
    min_free_mb: int = 500
    # A log file not written for this long is reported as not growing.
    log_quiet_s: float = 120.0


@dataclass(frozen=True)
class PathsConfig:
    # Empty: the packaged defaults. Relative paths are relative to the config file.
    rules_dir: str = ""
    sql_dir: str = ""


@dataclass(frozen=True)
class MetricsConfig:
    # Prometheus /metrics (needs the `prometheus` extra). 0: off; --metrics-port sets it.
    port: int = 0
    # Loopback by default: the endpoint has no authentication.
    address: str = "127.0.0.1"
    # The `bot` label of every metric and notification; empty: the database's name.
    bot: str = ""


@dataclass(frozen=True)
class NotifyConfig:
    # Alert episodes of these severities are sent when they fire and when they resolve.
    severities: tuple[str, ...] = ("critical",)
    events: tuple[str, ...] = ("firing", "resolved")
    # POSTed in the Alertmanager webhook format (version 4). A secret: redacted everywhere.
    webhook_url: str = ""
    # Telegram: both or neither. Prefer BOTMON_NOTIFY_TELEGRAM_BOT_TOKEN to the file.
    telegram_bot_token: str = ""
    telegram_chat_id: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    timeout_s: float = 5.0
    # Further attempts after a failed send (network error, 5xx, 429), with doubling back-off.
    retries: int = 3
    retry_backoff_s: float = 2.0
    # Per channel; Telegram allows about 20 messages a minute in one group.
    rate_limit_per_minute: int = 20


@dataclass(frozen=True)
class Config:
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    positions: PositionsConfig = field(default_factory=PositionsConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    poll: PollConfig = field(default_factory=PollConfig)
    run: RunConfig = field(default_factory=RunConfig)
    logs: LogsConfig = field(default_factory=LogsConfig)
    check: CheckConfig = field(default_factory=CheckConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    source: str = "defaults"  # the config file's path, for messages
    base_dir: str = "."  # relative paths in the file resolve against this

    def resolve(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else Path(self.base_dir) / path

    @property
    def rules_dir(self) -> Path:
        from tui.resources import data_path

        return self.resolve(self.paths.rules_dir) if self.paths.rules_dir else data_path("rules")

    @property
    def sql_dir(self) -> Path:
        from tui.resources import data_path

        return self.resolve(self.paths.sql_dir) if self.paths.sql_dir else data_path("sql")


_SECTIONS: dict[str, type] = {
    "database": DatabaseConfig, "positions": PositionsConfig, "events": EventsConfig,
    "poll": PollConfig, "run": RunConfig, "logs": LogsConfig, "check": CheckConfig,
    "paths": PathsConfig, "metrics": MetricsConfig, "notify": NotifyConfig}
_VALID_CHOICES = {
    ("positions", "stop_loss_check"): ("flag", "price", "flag_or_price", "flag_and_price"),
}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _section_types(name: str) -> dict[str, Any]:
    return typing.get_type_hints(_SECTIONS[name])


def _did_you_mean(word: str, options: list[str]) -> str | None:
    close = difflib.get_close_matches(word, options, n=1)
    return f"did you mean '{close[0]}'?" if close else None


def _describe(expected: Any) -> str:
    origin = typing.get_origin(expected)
    if origin is tuple:
        return "a list of strings"
    if expected is dict or origin is dict:
        return "a table"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        expected, str(expected))


def _coerce(value: Any, expected: Any, where: str, from_text: bool) -> Any:
    """Check (or, for environment strings, parse) ``value`` as ``expected``."""
    bad = ConfigError(where, f"expected {_describe(expected)}, got {value!r}")
    origin = typing.get_origin(expected)
    if origin is tuple:
        if from_text and isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad
        return tuple(value)
    if expected is dict or origin is dict:
        if not isinstance(value, dict):
            raise bad
        return value
    if expected is bool:
        if from_text and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
        if not isinstance(value, bool):
            raise bad
        return value
    if expected is int:
        if from_text and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise bad from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if expected is float:
        if from_text and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise bad from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if expected is str:
        if not isinstance(value, str):
            raise bad
        return value
    raise bad


def _line_of(text: str, section: str, key: str) -> int | None:
    """Best-effort line number of ``key`` in ``[section]`` (tomllib keeps no positions)."""
    current = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            current = stripped.strip("[]").strip()
        elif current == section and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return number
    return None


class _Builder:
    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
        self.origins: dict[str, str] = {}  # "section.key" -> where its value came from

    def set(self, section: str, key: str, value: Any, where: str, from_text: bool = False) -> None:
        if section not in _SECTIONS:
            raise ConfigError(where, f"unknown section [{section}]",
                              _did_you_mean(section, list(_SECTIONS))
                              or f"sections are {', '.join(_SECTIONS)}")
        types = _section_types(section)
        if key not in types:
            raise ConfigError(where, f"unknown key '{section}.{key}'",
                              _did_you_mean(key, list(types))
                              or f"keys of [{section}]: {', '.join(types)}")
        value = _coerce(value, types[key], where, from_text)
        self.values[section][key] = value
        self.origins[f"{section}.{key}"] = where

    def build(self, source: str, base_dir: str) -> Config:
        sections = {name: _SECTIONS[name](**vals) for name, vals in self.values.items()}
        config = Config(**sections, source=source, base_dir=base_dir)
        _validate(config, self.origins)
        return config


def _validate(config: Config, origins: Mapping[str, str] | None = None) -> None:
    src = config.source
    origins = origins or {}

    def where(dotted: str) -> str:
        """The file line, environment variable or flag the value came from."""
        return origins.get(dotted) or f"{src}: key '{dotted}'"

    for section in _SECTIONS:
        for key, expected in _section_types(section).items():
            value = getattr(getattr(config, section), key)
            if expected is float and not math.isfinite(value):
                raise ConfigError(where(f"{section}.{key}"), f"expected a finite number, got "
                                  f"{value!r}")
    for (section, key), choices in _VALID_CHOICES.items():
        value = getattr(getattr(config, section), key)
        if value not in choices:
            raise ConfigError(f"{src}: key '{section}.{key}'",
                              f"expected one of {', '.join(choices)}, got {value!r}",
                              _did_you_mean(value, list(choices)))
    positive = (("poll", "interval_s"), ("poll", "lookback_s"), ("positions", "aged_hours"),
                ("database", "statement_timeout_ms"), ("database", "connect_timeout_s"),
                ("poll", "max_backoff_s"))
    for section, key in positive:
        value = getattr(getattr(config, section), key)
        if value <= 0:
            raise ConfigError(where(f"{section}.{key}"), f"expected a number > 0, got {value!r}")
    for section, key in (("run", "duration_hours"), ("run", "snapshot_grace_s"),
                         ("run", "final_wait_s"), ("positions", "unprotected_grace_s"),
                         ("check", "min_free_mb"), ("check", "log_quiet_s"),
                         ("positions", "sl_mismatch_tolerance_pct")):
        value = getattr(getattr(config, section), key)
        if value < 0:
            raise ConfigError(where(f"{section}.{key}"),
                              f"expected a number >= 0, got {value!r}")
    if not 0 <= config.poll.history_minutes <= 120:
        raise ConfigError(where("poll.history_minutes"),
                          f"expected 0..120, got {config.poll.history_minutes!r}")
    if not 0 <= config.database.port <= 65535:
        raise ConfigError(where("database.port"), f"expected a port 1..65535, got "
                          f"{config.database.port!r}")
    if config.database.dsn:
        problem = dsn_problem(config.database.dsn)
        if problem:
            raise ConfigError(where("database.dsn"), redact(problem, secrets_of(config)),
                              "postgresql://user@host:5432/database (password: PGPASSWORD or "
                              "~/.pgpass)")
    db = config.database
    for key in ("schema", "positions_table", "events_table", "trailing_stop_table",
                "orders_table"):
        if not _IDENTIFIER.match(getattr(db, key)):
            raise ConfigError(f"{src}: key 'database.{key}'",
                              f"expected a plain SQL identifier, got {getattr(db, key)!r}")
    if not config.positions.open_statuses:
        raise ConfigError(f"{src}: key 'positions.open_statuses'", "expected at least one status")
    _validate_fleet(config)


_NOTIFY_CHOICES = {"severities": ("critical", "warning", "info"),
                   "events": ("firing", "resolved")}


def _validate_fleet(config: Config) -> None:
    """[metrics] and [notify]."""
    src = config.source
    if not 0 <= config.metrics.port <= 65535:
        raise ConfigError(f"{src}: key 'metrics.port'", "expected 0..65535 (0: no /metrics)")
    notify = config.notify
    for key, choices in _NOTIFY_CHOICES.items():
        for value in getattr(notify, key):
            if value not in choices:
                raise ConfigError(f"{src}: key 'notify.{key}'",
                                  f"expected some of {', '.join(choices)}, got {value!r}",
                                  _did_you_mean(value, list(choices)))
    for key in ("webhook_url", "telegram_api_url"):
        url = getattr(notify, key)
        if url and not re.match(r"^https?://[^/\s]+", url):
            raise ConfigError(f"{src}: key 'notify.{key}'", "expected an http:// or https:// URL")
    if bool(notify.telegram_bot_token) != bool(notify.telegram_chat_id):
        raise ConfigError(f"{src}: key 'notify.telegram_chat_id'",
                          "Telegram needs both telegram_bot_token and telegram_chat_id",
                          "set both, or neither to turn Telegram off")
    if notify.retries < 0 or notify.retry_backoff_s < 0:
        raise ConfigError(f"{src}: key 'notify.retries'", "expected numbers >= 0")
    for key in ("timeout_s", "rate_limit_per_minute"):
        if getattr(notify, key) <= 0:
            raise ConfigError(f"{src}: key 'notify.{key}'", "expected a number > 0")


_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def _port_problem(text: str, what: str) -> str | None:
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= 65535:
            return f"{what} {part!r} is not a port number (1..65535)"
    return None


def dsn_problem(dsn: str) -> str | None:
    """What makes a connection URI unusable, before anything is written or connected; None
    when it is fine. (asyncpg would raise a bare ValueError from deep inside for these.)"""
    from urllib.parse import parse_qs, urlsplit

    scheme, sep, _ = dsn.partition("://")
    if not sep:
        return "not a connection URI"
    if scheme.lower() not in ("postgresql", "postgres"):
        return f"scheme {scheme!r} is not postgresql://"
    try:
        parts = urlsplit(dsn)
    except ValueError as exc:  # e.g. "Invalid IPv6 URL": an unclosed [
        return f"malformed host ({exc})"
    netloc = parts.netloc.rpartition("@")[2]
    for spec in filter(None, netloc.split(",")):
        if spec.startswith("["):
            host, bracket, rest = spec[1:].partition("]")
            if not bracket or not host:
                return f"malformed IPv6 host {spec!r} (write it as [::1]:5432)"
            if rest and not rest.startswith(":"):
                return f"malformed host {spec!r}"
            port = rest[1:] if rest else None
        else:
            if spec.count(":") > 1:
                return f"IPv6 host {spec!r} must be in brackets, e.g. [::1]:5432"
            port = spec.partition(":")[2] if ":" in spec else None
        if port is not None:
            problem = _port_problem(port, "port")
            if problem:
                return problem
    query = parse_qs(parts.query)
    for value in query.get("port", []):
        problem = _port_problem(value, "port parameter")
        if problem:
            return problem
    for value in query.get("sslmode", []):
        if value not in _SSLMODES:
            return f"sslmode {value!r} is not one of {', '.join(_SSLMODES)}"
    return None


def find_config_file(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    if explicit:
        return Path(explicit)
    if environ.get(ENV_PREFIX + "CONFIG"):
        return Path(environ[ENV_PREFIX + "CONFIG"])
    for name in DEFAULT_CONFIG_NAMES:
        if Path(name).exists():
            return Path(name)
    return None


def load_config(path: str | Path | None = None, *, environ: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Load the configuration. ``overrides`` are flag values as ``{"poll.interval_s": 5}``."""
    environ = os.environ if environ is None else environ
    builder = _Builder()
    file_path = find_config_file(str(path) if path else None, environ)
    source, base_dir = "defaults", "."
    if file_path is not None:
        source = str(file_path)
        base_dir = str(file_path.resolve().parent)
        try:
            text = file_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(source, f"cannot read the config file: {exc.strerror or exc}",
                              "check the path given to --config or BOTMON_CONFIG") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(source, f"not valid TOML: {exc}",
                              "compare with config.example.toml") from None
        for section, table in data.items():
            if not isinstance(table, dict):
                raise ConfigError(f"{source}: key '{section}'", "expected a [section] table",
                                  _did_you_mean(section, list(_SECTIONS)))
            for key, value in table.items():
                line = _line_of(text, section, key)
                where = f"{source}:{line}" if line else source
                builder.set(section, key, value, f"{where}: key '{section}.{key}'")

    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        rest = name[len(ENV_PREFIX):].lower()
        section = next((s for s in _SECTIONS if rest.startswith(s + "_")), None)
        if section is None:
            raise ConfigError(f"environment {name}", "names no config section",
                              f"use {ENV_PREFIX}<SECTION>_<KEY>, e.g. BOTMON_DATABASE_DSN")
        builder.set(section, rest[len(section) + 1:], value, f"environment {name}",
                    from_text=True)

    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        flag = FLAGS.get(dotted)
        builder.set(section, key, value,
                    f"{flag} ({dotted})" if flag else f"flag for '{dotted}'")
    return builder.build(source, base_dir)


# -- secrets ----------------------------------------------------------------------------------

_DSN_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)([^@\s]*)(@)")
_PARAM_PASSWORD = re.compile(r"(password=)([^&\s]+)", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"^[a-z]+://[^:/@\s]*:([^@\s]+)@", re.IGNORECASE)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove passwords from DSNs, ``password=`` parameters and any known secret value."""
    text = _DSN_PASSWORD.sub(lambda m: m.group(1) + "***" + m.group(3), text)
    text = _PARAM_PASSWORD.sub(lambda m: m.group(1) + "***", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def secrets_of(config: Config) -> tuple[str, ...]:
    found = [config.database.password]
    match = _DSN_PASSWORD.search(config.database.dsn)
    if match:
        found.append(match.group(2))
    match = _PARAM_PASSWORD.search(config.database.dsn)
    if match:
        found.append(match.group(2))
    found.append(os.environ.get("PGPASSWORD", ""))
    # Notification credentials: the bot token, and the whole webhook URL (services put the
    # token in its path or query) as well as its password.
    found.append(config.notify.telegram_bot_token)
    found.append(config.notify.webhook_url)
    match = _URL_PASSWORD.search(config.notify.webhook_url)
    if match:
        found.append(match.group(1))
    # Longest first: a password inside the URL must not leave the rest of the URL readable.
    return tuple(sorted((s for s in found if s and len(s) >= 3), key=len, reverse=True))
