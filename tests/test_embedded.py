from __future__ import annotations

import asyncpg


async def test_bot_schema_is_loaded(bot_db):
    conn = await asyncpg.connect(bot_db)
    try:
        tables = await conn.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'monitoring' "
            "ORDER BY 1")
        assert [r["table_name"] for r in tables] == [
            "events", "orders", "positions", "trailing_stop_state"]
    finally:
        await conn.close()
