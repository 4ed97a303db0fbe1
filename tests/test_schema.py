"""The reference schema (sql/schema/bot.sql) against the facts about the real one.

The expected values below are copied from ../shared/BOT_FACTS.md ("The real schema's details" and
the column lists, read off the production pg_dump): widths, NOT NULL, defaults, every index with
its predicate and uniqueness, the foreign key and both triggers. The test reads what PostgreSQL
actually built (pg_catalog), so a drift in bot.sql fails here, and the last tests show that rows
the real database rejects are rejected here too.
"""

from __future__ import annotations

import asyncpg
import pytest

TABLES = ("positions", "events", "trailing_stop_state", "orders")

# (table, column) -> (type as format_type() prints it, NOT NULL)
COLUMNS: dict[tuple[str, str], tuple[str, bool]] = {
    **{("positions", c): t for c, t in {
        "id": ("integer", True), "signal_id": ("integer", False),
        "symbol": ("character varying(20)", True), "exchange": ("character varying(50)", True),
        "side": ("character varying(10)", True), "quantity": ("numeric(20,8)", True),
        "entry_price": ("numeric(20,8)", True), "current_price": ("numeric(20,8)", False),
        "stop_loss_price": ("numeric(20,8)", False), "take_profit_price": ("numeric(20,8)", False),
        "unrealized_pnl": ("numeric(20,8)", False), "realized_pnl": ("numeric(20,8)", False),
        "fees": ("numeric(20,8)", False), "status": ("character varying(20)", True),
        "exit_reason": ("text", False), "opened_at": ("timestamp with time zone", False),
        "closed_at": ("timestamp with time zone", False),
        "updated_at": ("timestamp with time zone", False), "leverage": ("numeric(10,2)", False),
        "stop_loss": ("numeric(20,8)", False), "take_profit": ("numeric(20,8)", False),
        "pnl": ("numeric(20,8)", False), "pnl_percentage": ("numeric(10,4)", False),
        "trailing_activated": ("boolean", False),
        "created_at": ("timestamp with time zone", False), "error_details": ("jsonb", False),
        "retry_count": ("integer", False), "last_error_at": ("timestamp with time zone", False),
        "has_trailing_stop": ("boolean", True), "has_stop_loss": ("boolean", False),
        "exchange_order_id": ("character varying(100)", False),
        "trailing_activation_percent": ("numeric(10,4)", False),
        "trailing_callback_percent": ("numeric(10,4)", False),
        "signal_stop_loss_percent": ("numeric(10,4)", False),
        "spread_at_entry": ("numeric(10,4)", False),
    }.items()},
    **{("events", c): t for c, t in {
        "id": ("integer", True), "event_type": ("character varying(50)", True),
        "event_data": ("jsonb", False), "correlation_id": ("character varying(100)", False),
        "position_id": ("integer", False), "order_id": ("character varying(100)", False),
        "symbol": ("character varying(50)", False), "exchange": ("character varying(50)", False),
        "severity": ("character varying(20)", False), "error_message": ("text", False),
        "stack_trace": ("text", False), "created_at": ("timestamp with time zone", False),
    }.items()},
    **{("trailing_stop_state", c): t for c, t in {
        "id": ("bigint", True), "symbol": ("character varying(50)", True),
        "exchange": ("character varying(50)", True), "position_id": ("bigint", False),
        "state": ("character varying(20)", True), "is_activated": ("boolean", True),
        "highest_price": ("numeric(20,8)", False), "lowest_price": ("numeric(20,8)", False),
        "current_stop_price": ("numeric(20,8)", False),
        "stop_order_id": ("character varying(100)", False),
        "activation_price": ("numeric(20,8)", False),
        "activation_percent": ("numeric(10,4)", False),
        "callback_percent": ("numeric(10,4)", False), "entry_price": ("numeric(20,8)", True),
        "side": ("character varying(10)", True), "quantity": ("numeric(20,8)", True),
        "update_count": ("integer", False), "highest_profit_percent": ("numeric(10,4)", False),
        "created_at": ("timestamp with time zone", True),
        "activated_at": ("timestamp with time zone", False),
        "last_update_time": ("timestamp with time zone", False),
        "last_sl_update_time": ("timestamp with time zone", False),
        "last_updated_sl_price": ("numeric(20,8)", False), "metadata": ("jsonb", False),
        "last_peak_save_time": ("timestamp with time zone", False),
        "last_saved_peak_price": ("numeric(20,8)", False),
    }.items()},
    **{("orders", c): t for c, t in {
        "id": ("integer", True), "position_id": ("character varying(100)", False),
        "exchange": ("character varying(50)", True), "symbol": ("character varying(20)", True),
        "order_id": ("character varying(100)", False),
        "client_order_id": ("character varying(100)", False),
        "type": ("character varying(20)", True), "side": ("character varying(10)", True),
        "size": ("numeric(20,8)", False), "price": ("numeric(20,8)", False),
        "status": ("character varying(20)", True), "filled": ("numeric(20,8)", False),
        "remaining": ("numeric(20,8)", False), "fee": ("numeric(20,8)", False),
        "fee_currency": ("character varying(10)", False),
        "created_at": ("timestamp with time zone", False),
        "updated_at": ("timestamp with time zone", False),
    }.items()},
}

# Defaults other than the id sequences; timestamps default to the transaction time
# (CURRENT_TIMESTAMP and now() are the same function in PostgreSQL).
DEFAULTS: dict[tuple[str, str], str] = {
    ("positions", "fees"): "0", ("positions", "status"): "'active'",
    ("positions", "opened_at"): "now()", ("positions", "updated_at"): "now()",
    ("positions", "leverage"): "1.0", ("positions", "trailing_activated"): "false",
    ("positions", "created_at"): "now()", ("positions", "retry_count"): "0",
    ("positions", "has_trailing_stop"): "true", ("positions", "has_stop_loss"): "false",
    ("events", "severity"): "'INFO'", ("events", "created_at"): "now()",
    ("trailing_stop_state", "state"): "'inactive'",
    ("trailing_stop_state", "is_activated"): "false",
    ("trailing_stop_state", "update_count"): "0",
    ("trailing_stop_state", "highest_profit_percent"): "0",
    ("trailing_stop_state", "created_at"): "now()",
    ("orders", "filled"): "0", ("orders", "created_at"): "now()",
    ("orders", "updated_at"): "now()",
}

OPEN = "'active', 'entry_placed', 'pending_sl', 'pending_entry'"
# table -> {(columns, unique, predicate or None)}: every index except the primary keys.
INDEXES: dict[str, set[tuple[str, bool, str | None]]] = {
    "events": {
        ("correlation_id", False, None), ("created_at DESC", False, None),
        ("created_at DESC", False, "severity IN ('ERROR', 'CRITICAL')"),
        ("exchange", False, "exchange IS NOT NULL"), ("position_id", False, None),
        ("severity", False, None), ("symbol", False, "symbol IS NOT NULL"),
        ("event_type", False, None),
    },
    "orders": {("position_id", False, None), ("status", False, None)},
    "positions": {
        ("exchange_order_id", False, None), ("exit_reason", False, "exit_reason IS NOT NULL"),
        ("opened_at", False, None),
        ("signal_stop_loss_percent", False, "signal_stop_loss_percent IS NOT NULL"),
        ("status", False, None), ("symbol", False, None),
        ("symbol, exchange", True, f"status IN ({OPEN})"),
    },
    "trailing_stop_state": {
        ("is_activated", False, None), ("created_at DESC", False, None),
        ("exchange", False, None), ("last_peak_save_time DESC", False, None),
        ("position_id", False, None), ("symbol", False, None),
        ("symbol, exchange", True, None),
    },
}


@pytest.fixture
async def db(bot_db):
    conn = await asyncpg.connect(bot_db)
    yield conn
    await conn.close()


def _normal_default(text: str) -> str:
    """'active'::character varying -> 'active'; CURRENT_TIMESTAMP -> now()."""
    text = text.replace("::character varying", "").replace("::numeric", "")
    return "now()" if text in ("CURRENT_TIMESTAMP", "now()") else text


def _normal_predicate(text: str | None) -> str | None:
    """PostgreSQL's deparsed WHERE clause, in the words of BOT_FACTS."""
    if text is None:
        return None
    for cast in ("::character varying", "::text[]", "::text"):
        text = text.replace(cast, "")
    text = text.replace("(", "").replace(")", "")
    if " = ANY ARRAY[" in text:
        column, values = text.split(" = ANY ARRAY[")
        return f"{column} IN ({values.rstrip(']')})"
    return text


async def test_columns_widths_and_not_null_are_the_real_ones(db):
    rows = await db.fetch(
        "SELECT c.relname AS tab, a.attname AS col, format_type(a.atttypid, a.atttypmod) AS typ,"
        "       a.attnotnull AS notnull"
        "  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        "  JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'monitoring' AND c.relname = ANY($1) AND a.attnum > 0"
        "   AND NOT a.attisdropped", list(TABLES))
    actual = {(r["tab"], r["col"]): (r["typ"], r["notnull"]) for r in rows}
    assert actual == COLUMNS


async def test_defaults_are_the_real_ones(db):
    rows = await db.fetch(
        "SELECT c.relname AS tab, a.attname AS col, pg_get_expr(d.adbin, d.adrelid) AS expr"
        "  FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum"
        "  JOIN pg_class c ON c.oid = d.adrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'monitoring' AND c.relname = ANY($1)", list(TABLES))
    actual = {(r["tab"], r["col"]): _normal_default(r["expr"]) for r in rows
              if not r["expr"].startswith("nextval(")}
    assert actual == DEFAULTS
    serial = {(r["tab"], r["col"]) for r in rows if r["expr"].startswith("nextval(")}
    assert serial == {(t, "id") for t in TABLES}


async def test_every_index_of_the_real_schema_and_no_other(db):
    rows = await db.fetch(
        "SELECT t.relname AS tab, i.indisunique AS uniq, i.indisprimary AS pk,"
        "       pg_get_expr(i.indpred, i.indrelid) AS pred,"
        "       (SELECT string_agg(pg_get_indexdef(i.indexrelid, k, true)"
        "                          || CASE WHEN i.indoption[k - 1] & 1 = 1 THEN ' DESC' ELSE ''"
        "                             END, ', ' ORDER BY k)"
        "          FROM generate_series(1, i.indnkeyatts) AS k) AS cols"
        "  FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid"
        "  JOIN pg_namespace n ON n.oid = t.relnamespace"
        " WHERE n.nspname = 'monitoring' AND t.relname = ANY($1)", list(TABLES))
    actual: dict[str, set[tuple[str, bool, str | None]]] = {t: set() for t in TABLES}
    for r in rows:
        if r["pk"]:
            assert r["cols"] == "id"
            continue
        actual[r["tab"]].add((r["cols"], r["uniq"], _normal_predicate(r["pred"])))
    assert actual == INDEXES
    assert sum(len(v) for v in INDEXES.values()) == 24
    assert not any("closed_at" in cols for v in actual.values() for cols, _, _ in v)


async def test_foreign_key_cascades_from_positions(db):
    rows = await db.fetch(
        "SELECT conrelid::regclass::text AS tab, pg_get_constraintdef(oid) AS def"
        "  FROM pg_constraint WHERE contype = 'f'"
        "   AND connamespace = 'monitoring'::regnamespace")
    assert [(r["tab"], r["def"]) for r in rows] == [
        ("monitoring.trailing_stop_state",
         "FOREIGN KEY (position_id) REFERENCES monitoring.positions(id) ON DELETE CASCADE")]


async def test_both_triggers_exist_and_fire(db):
    rows = await db.fetch(
        "SELECT c.relname AS tab, t.tgname AS name, pg_get_triggerdef(t.oid) AS def"
        "  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        "  JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'monitoring' AND NOT t.tgisinternal ORDER BY 2")
    assert [(r["tab"], r["name"]) for r in rows] == [
        ("trailing_stop_state", "normalize_side_trigger"),
        ("positions", "update_positions_updated_at")]
    assert "BEFORE INSERT OR UPDATE ON monitoring.trailing_stop_state" in rows[0]["def"]
    assert "BEFORE UPDATE ON monitoring.positions" in rows[1]["def"]

    # normalize_side_trigger lower-cases side on insert and update
    pid = await db.fetchval(
        "INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price, "
        "updated_at) VALUES ('ALLUSDT', 'bybit', 'LONG', 1, 2, '2020-01-01') RETURNING id")
    await db.execute(
        "INSERT INTO monitoring.trailing_stop_state (symbol, exchange, position_id, entry_price, "
        "side, quantity) VALUES ('ALLUSDT', 'bybit', $1, 2, 'LONG', 1)", pid)
    assert await db.fetchval("SELECT side FROM monitoring.trailing_stop_state") == "long"
    await db.execute("UPDATE monitoring.trailing_stop_state SET side = 'Short'")
    assert await db.fetchval("SELECT side FROM monitoring.trailing_stop_state") == "short"
    # positions.side is stored as written (the bot's rows show upper-case too)
    assert await db.fetchval("SELECT side FROM monitoring.positions") == "LONG"

    # update_positions_updated_at: the database's clock, whatever the UPDATE sets
    async with db.transaction():
        now = await db.fetchval("SELECT now()")
        await db.execute("UPDATE monitoring.positions SET current_price = 3, "
                         "updated_at = '2020-01-01' WHERE id = $1", pid)
        assert await db.fetchval("SELECT updated_at FROM monitoring.positions") == now


@pytest.mark.parametrize("statement", [
    # widths: positions.symbol and orders.symbol are varchar(20)
    "INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price) "
    "VALUES ('A_SYMBOL_OF_21_CHARSX', 'bybit', 'long', 1, 1)",
    "INSERT INTO monitoring.orders (exchange, symbol, type, side, status) "
    "VALUES ('bybit', 'A_SYMBOL_OF_21_CHARSX', 'market', 'buy', 'open')",
    # NOT NULL: trailing_stop_state entry_price/side/quantity, orders type/status
    "INSERT INTO monitoring.trailing_stop_state (symbol, exchange) VALUES ('AUSDT', 'bybit')",
    "INSERT INTO monitoring.orders (exchange, symbol, side) VALUES ('bybit', 'AUSDT', 'buy')",
    "INSERT INTO monitoring.events (event_type) VALUES (NULL)",
    # one open position per (symbol, exchange)
    "INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price, status) "
    "VALUES ('AUSDT', 'bybit', 'long', 1, 1, 'active'), "
    "('AUSDT', 'bybit', 'short', 1, 1, 'pending_sl')",
    # one trailing-stop row per (symbol, exchange)
    "INSERT INTO monitoring.trailing_stop_state (symbol, exchange, entry_price, side, quantity) "
    "VALUES ('AUSDT', 'bybit', 1, 'long', 1), ('AUSDT', 'bybit', 1, 'long', 1)",
])
async def test_rows_the_real_database_rejects_are_rejected(db, statement):
    with pytest.raises((asyncpg.IntegrityConstraintViolationError,
                        asyncpg.StringDataRightTruncationError)):
        await db.execute(statement)


async def test_rows_the_real_database_accepts_are_accepted(db):
    # a 50-character trailing-stop symbol; a closed and an open position on the same pair
    await db.execute(
        "INSERT INTO monitoring.trailing_stop_state (symbol, exchange, entry_price, side, "
        "quantity) VALUES ($1, 'bybit', 1, 'long', 1)", "S" * 50)
    await db.execute(
        "INSERT INTO monitoring.positions (symbol, exchange, side, quantity, entry_price, status) "
        "VALUES ('AUSDT', 'bybit', 'long', 1, 1, 'closed'), ('AUSDT', 'bybit', 'long', 1, 1, "
        "'closed_by_sync'), ('AUSDT', 'bybit', 'long', 1, 1, 'active')")
    row = await db.fetchrow("SELECT has_trailing_stop, has_stop_loss, status, fees "
                            "FROM monitoring.positions ORDER BY id DESC LIMIT 1")
    assert tuple(row) == (True, False, "active", 0)
