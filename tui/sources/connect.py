"""Read-only connections to the bot's database.

Every session botmon opens is read-only (``default_transaction_read_only``), carries a
``statement_timeout`` and ``application_name=botmon`` so a DBA can see and limit it. The DSN may
be empty: asyncpg then honours PGHOST/PGPORT/PGDATABASE/PGUSER/PGPASSWORD and ``~/.pgpass``.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import asyncpg

from tui.config import Config, redact, secrets_of
from tui.errors import ConfigError, DatabaseUnavailable

APPLICATION_NAME = "botmon"


def server_settings(config: Config, statement_timeout_ms: int | None = None,
                    plan_cache_mode: str | None = None) -> dict[str, str]:
    timeout = statement_timeout_ms or config.database.statement_timeout_ms
    settings = {
        "application_name": APPLICATION_NAME,
        "default_transaction_read_only": "on",
        "statement_timeout": str(int(timeout)),
        # Minute buckets are computed in UTC; the session zone only affects text output.
        "TimeZone": "UTC",
    }
    if plan_cache_mode:
        settings["plan_cache_mode"] = plan_cache_mode
    return settings


def check_environment(config: Config, environ: Any = None) -> None:
    """The libpq variables asyncpg reads when the DSN does not say: a malformed one would
    surface as a bare ValueError from inside the driver. Raises ConfigError (exit 2)."""
    environ = os.environ if environ is None else environ
    db = config.database
    port = environ.get("PGPORT", "")
    if port and not db.port and not _dsn_has_port(db.dsn):
        for part in port.split(","):
            if not part.strip().isdigit() or not 1 <= int(part) <= 65535:
                raise ConfigError("environment PGPORT", f"{part.strip()!r} is not a port "
                                  "number (1..65535)", "unset it or set e.g. PGPORT=5432")
    host = environ.get("PGHOST", "")
    if host and not db.host and not _dsn_has_host(db.dsn):
        for part in host.split(","):
            if part.count("[") != part.count("]") or (
                    "[" in part and not part.strip().startswith("[")):
                raise ConfigError("environment PGHOST", f"malformed host {part.strip()!r}",
                                  "e.g. PGHOST=db-host or PGHOST=::1")


def _dsn_has_host(dsn: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(dsn)
        return bool(parts.hostname) or "host=" in parts.query
    except ValueError:
        return False


def _dsn_has_port(dsn: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(dsn)
        return bool(parts.port) or "port=" in parts.query
    except ValueError:
        return False


def connect_kwargs(config: Config, statement_timeout_ms: int | None = None,
                   plan_cache_mode: str | None = None) -> dict[str, Any]:
    db = config.database
    kwargs: dict[str, Any] = {
        "server_settings": server_settings(config, statement_timeout_ms, plan_cache_mode),
        "timeout": db.connect_timeout_s,
        # asyncpg's client-side guard in case the network hangs beyond the server's timeout.
        "command_timeout": (statement_timeout_ms or db.statement_timeout_ms) / 1000.0 + 5.0,
    }
    if db.dsn:
        kwargs["dsn"] = db.dsn
    for key in ("host", "database", "user", "password"):
        if getattr(db, key):
            kwargs[key] = getattr(db, key)
    if db.port:
        kwargs["port"] = db.port
    return kwargs


def describe_target(config: Config) -> str:
    """host:port/database as user -- never the password."""
    db = config.database
    host, port, database, user = db.host, db.port, db.database, db.user
    if db.dsn:
        from urllib.parse import unquote, urlparse

        parsed = urlparse(db.dsn)
        host = host or (parsed.hostname or "")
        try:
            port = port or (parsed.port or 0)
        except ValueError:
            pass
        database = database or unquote(parsed.path.lstrip("/"))
        user = user or unquote(parsed.username or "")
    host = host or os.environ.get("PGHOST", "localhost")
    if not port:
        env_port = os.environ.get("PGPORT", "")
        port = int(env_port) if env_port.isdigit() else (env_port or 5432)
    user = user or os.environ.get("PGUSER", "") or _login_name()
    database = database or os.environ.get("PGDATABASE", "") or user
    return f"host={host} port={port} database={database} user={user}"


def _login_name() -> str:
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # noqa: BLE001 - only used for a message
        return "?"


def explain_connect_error(config: Config, exc: BaseException) -> DatabaseUnavailable:
    reason = redact(str(exc) or type(exc).__name__, secrets_of(config))
    if isinstance(exc, (ConnectionRefusedError, socket.gaierror, TimeoutError, OSError)):
        kind = "cannot reach the database"
    elif isinstance(exc, asyncpg.InvalidPasswordError):
        kind = "authentication failed"
    elif isinstance(exc, asyncpg.InvalidCatalogNameError):
        kind = "no such database"
    elif isinstance(exc, ValueError):
        kind = "invalid connection settings"
    else:
        kind = "cannot connect"
    return DatabaseUnavailable(
        describe_target(config), f"{kind}: {reason}",
        "check --dsn / PG* variables / ~/.pgpass, or try `botmon demo` for a self-contained run")


# ValueError: a connection setting the driver cannot parse (checked earlier, but the driver
# reads more than we check, e.g. a service file).
_CONNECT_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError,
                   ValueError)


async def connect(config: Config, statement_timeout_ms: int | None = None,
                  plan_cache_mode: str | None = None) -> asyncpg.Connection:
    """One read-only connection; connection failures become a one-line DatabaseUnavailable."""
    check_environment(config)
    try:
        return await asyncpg.connect(**connect_kwargs(config, statement_timeout_ms,
                                                      plan_cache_mode))
    except _CONNECT_ERRORS as exc:
        raise explain_connect_error(config, exc) from None


def qualified(config: Config, table_key: str) -> str:
    """``"monitoring"."events"`` for a table key such as ``events_table`` (validated names)."""
    db = config.database
    return f'"{db.schema}"."{getattr(db, table_key)}"'


def render_sql(config: Config, text: str) -> str:
    """Substitute ``{schema}``, ``{positions}``, ``{events}``, ``{trailing_stop}``, ``{orders}``.

    Only these tokens are replaced (not ``str.format``), so SQL may keep literal braces.
    """
    names = {
        "{schema}": f'"{config.database.schema}"',
        "{positions}": qualified(config, "positions_table"),
        "{events}": qualified(config, "events_table"),
        "{trailing_stop}": qualified(config, "trailing_stop_table"),
        "{orders}": qualified(config, "orders_table"),
    }
    for token, name in names.items():
        text = text.replace(token, name)
    return text
