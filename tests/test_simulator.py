"""The simulated bot against a real PostgreSQL: no sleeps, a manual clock drives every step."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest

from tui.demo.sim_log import LINE_RE
from tui.demo.sim_versions import NEVER_WRITTEN, ONLY_2025_10, VERSIONS, WRITTEN_2026
from tui.demo.simulator import BotSimulator, ManualClock, SimParams

UTC = timezone.utc
OPEN = ("active", "entry_placed", "pending_sl", "pending_entry")


def quiet(**overrides) -> SimParams:
    """Defaults without random incidents or random unprotected positions (tests force them)."""
    base = SimParams(unprotected_probability=0.0, ws_reconnects_per_hour=0, zombies_per_hour=0,
                     health_check_failed_per_hour=0, order_errors_per_hour=0,
                     rate_limit_errors_per_hour=0, traceback_errors_per_hour=0,
                     asyncio_noise_per_hour=0, stale_price_per_hour=0,
                     garbled_lines_per_hour=0, phantoms_per_hour=0, emergency_close_per_hour=0)
    return replace(base, **overrides)


def before_wave(seconds: float = 10.0) -> datetime:
    """A time ``seconds`` before minute 5 of the current hour (at most an hour ago)."""
    now = datetime.now(UTC)
    mark = now.replace(minute=5, second=0, microsecond=0)
    if mark > now:
        mark -= timedelta(hours=1)
    return mark - timedelta(seconds=seconds)


@pytest.fixture
async def make_sim(bot_db, tmp_path):
    sims: list[BotSimulator] = []

    def factory(**kw) -> BotSimulator:
        kw.setdefault("seed", 7)
        kw.setdefault("clock", ManualClock(kw.pop("start", None)))
        kw.setdefault("params", quiet())
        log_path = kw.pop("log_path", tmp_path / "bot.log")
        sim = BotSimulator(bot_db, log_path, **kw)
        sims.append(sim)
        return sim

    yield factory
    for sim in sims:
        await sim.stop()


@pytest.fixture
async def db(bot_db):
    conn = await asyncpg.connect(bot_db)
    yield conn
    await conn.close()


async def event_types(db) -> Counter[str]:
    return Counter({r["event_type"]: r["n"] for r in await db.fetch(
        "SELECT event_type, count(*) AS n FROM monitoring.events GROUP BY 1")})


def test_version_lists_follow_the_facts():
    assert not WRITTEN_2026 & NEVER_WRITTEN
    assert not ONLY_2025_10 & WRITTEN_2026
    assert not any(t.startswith(("websocket_", "subscription_")) for v in VERSIONS.values()
                   for t in v.written)
    assert VERSIONS["2025-10"].written == WRITTEN_2026 | ONLY_2025_10
    assert len(WRITTEN_2026) == 51


async def test_seed_creates_open_positions_on_several_exchanges(make_sim, db):
    sim = make_sim()
    await sim.seed(n_open=30, n_closed=5)
    now = sim.clock()

    rows = await db.fetch("SELECT * FROM monitoring.positions WHERE status = ANY($1)", list(OPEN))
    assert len(rows) == 30
    assert {r["exchange"] for r in rows} == {"binance", "bybit"}
    assert all(r["has_stop_loss"] and r["stop_loss_price"] is not None for r in rows)
    ages = [(now - r["opened_at"]).total_seconds() / 3600 for r in rows]
    assert max(ages) <= 4.9 and min(ages) >= 0
    assert sum(a > 3 for a in ages) >= 2, "a few positions must already be aged"
    assert len({(r["symbol"], r["exchange"]) for r in rows}) == 30
    # the bot opens at its waves only: minutes 5/20/35/50, within seconds
    assert {r["opened_at"].minute % 15 for r in rows} == {5}

    ts = await db.fetch("SELECT * FROM monitoring.trailing_stop_state")
    assert {t["position_id"] for t in ts} == {r["id"] for r in rows}
    assert {t["state"] for t in ts} <= {"waiting", "active"}
    assert all(t["activation_percent"] == 1.5 and t["callback_percent"] == 0.5 for t in ts)

    closed = await db.fetch("SELECT * FROM monitoring.positions WHERE NOT status = ANY($1)",
                            list(OPEN))
    assert len(closed) == 5
    assert all(r["closed_at"] and r["exit_reason"] and r["realized_pnl"] is not None
               for r in closed)
    assert {r["status"] for r in closed} <= {"closed", "closed_by_sync"}
    types = await event_types(db)
    assert types == Counter({"bot_started": 1, "sync_started": 1, "synchronization_started": 1,
                             "position_verified": 30, "synchronization_completed": 1,
                             "sync_completed": 1, "positions_loaded": 1})


@pytest.mark.parametrize("version", ["2026-03", "2025-10"])
async def test_atomic_open_stop_price_at_once_flag_at_the_next_sync(make_sim, db, version):
    sim = make_sim(start=before_wave(5), speed=1.0, bot_version=version)
    await sim.seed(n_open=10, n_closed=0)
    await sim.advance(5, tick=1.0)  # crosses minute 5: the wave
    assert sim.stats.waves == 1
    pending = await db.fetch("SELECT status, has_stop_loss FROM monitoring.positions "
                             "WHERE status <> 'active' AND status = ANY($1)", list(OPEN))
    assert pending and all(r["status"] == "pending_entry" and not r["has_stop_loss"]
                           for r in pending)
    wave_at = sim.clock()

    lag: dict[int, float] = {}
    for _ in range(150):  # 150 s of bot time at speed 1: every sync of 120 s passes once
        await sim.advance(1, tick=1.0)
        for r in await db.fetch("SELECT id, status, stop_loss_price, has_stop_loss "
                                "FROM monitoring.positions WHERE opened_at >= $1", wave_at
                                - timedelta(seconds=5)):
            if r["status"] == "active" and r["stop_loss_price"] is not None:
                if not r["has_stop_loss"]:
                    lag[r["id"]] = lag.get(r["id"], 0) + 1
                else:
                    lag.setdefault(r["id"], 0)
    await sim.flush()
    new = await db.fetch("SELECT * FROM monitoring.positions WHERE opened_at >= $1 "
                         "AND status <> 'rolled_back'", wave_at - timedelta(seconds=5))
    assert 3 <= len(new) <= 9
    assert all(r["status"] == "active" and r["has_stop_loss"] and r["stop_loss_price"]
               for r in new)
    # the flag lagged behind the price for every new position, never more than one sync
    assert set(lag) == {r["id"] for r in new}
    assert all(0 < s <= sim.p.sync_interval for s in lag.values()), lag
    for r in new:  # stop on the losing side of the entry
        sign = 1 if r["side"] == "long" else -1
        assert sign * (r["entry_price"] - r["stop_loss_price"]) > 0

    per_position = await db.fetch(
        "SELECT position_id, array_agg(event_type ORDER BY id) AS types FROM monitoring.events "
        "WHERE position_id = ANY($1) GROUP BY 1", [r["id"] for r in new])
    for row in per_position:
        lifecycle = [t for t in row["types"] if t != "position_updated"]
        expected = ["order_filled", "trailing_stop_created"]
        if version == "2025-10":  # the wrapper around the atomic open
            expected = ["position_created", *expected]
        assert lifecycle[:len(expected)] == expected
        assert "stop_loss_placed" not in row["types"] and "order_placed" not in row["types"]
    types = await event_types(db)
    assert ("wave_detected" in types) is (version == "2025-10")
    assert ("position_created" in types) is (version == "2025-10")


@pytest.mark.parametrize("version", ["2026-03", "2025-10"])
async def test_a_long_run_writes_only_the_versions_types_and_the_ledger_is_exact(
        make_sim, db, version):
    params = quiet(ws_reconnects_per_hour=2, zombies_per_hour=2, health_check_failed_per_hour=11,
                   order_errors_per_hour=2, rate_limit_errors_per_hour=2,
                   traceback_errors_per_hour=2, stale_price_per_hour=2, phantoms_per_hour=3,
                   unprotected_probability=0.05, volatility=0.02, aged_close_probability=1.0)
    sim = make_sim(speed=15.0, params=params, bot_version=version, seed=11)
    await sim.seed(n_open=40, n_closed=5)
    for kind in ("ws_reconnect", "zombies", "order_error", "traceback", "stale_price",
                 "phantom", "garbled_line", "asyncio_noise", "rate_limit"):
        await sim.trigger(kind)
    await sim.advance(1800, tick=1.0)  # 30 real minutes = 7.5 bot hours
    await sim.trigger("emergency_close")  # everything still open goes at the next sync
    await sim.advance(20, tick=1.0)
    await sim.flush()

    # 1. only what this version writes; never a websocket/subscription type
    types = await event_types(db)
    written = VERSIONS[version].written
    assert set(types) <= written, set(types) - written
    assert not any(t.startswith(("websocket_", "subscription_")) for t in types)
    assert types.most_common(1)[0][0] == "position_updated"
    expected = {"order_filled", "trailing_stop_created", "trailing_stop_activated",
                "trailing_stop_sl_updated", "stop_loss_triggered", "trailing_stop_removed",
                "position_cleanup", "phantom_position_detected", "phantom_position_closed",
                "health_check_failed", "exchange_error", "zombie_orders_detected",
                "emergency_close_all_triggered", "position_creation_failed"}
    if version == "2025-10":
        expected |= {"position_created", "wave_detected", "wave_completed", "signal_executed",
                     "aged_position_detected"}
    else:
        assert not set(types) & (ONLY_2025_10 | {"position_created", "stop_loss_placed"})
    assert expected <= set(types), expected - set(types)
    assert sum(types.values()) == sim.stats.events == sim.events.written

    # 2. the ledger equals the table, minute by minute and per exchange
    ledger = sim.ledger
    opened = Counter({(r["m"], r["exchange"]): r["n"] for r in await db.fetch(
        "SELECT date_trunc('minute', opened_at) AS m, exchange, count(*) AS n "
        "FROM monitoring.positions GROUP BY 1, 2")})
    assert opened == ledger.opened()
    closed = Counter({(r["m"], r["exchange"]): r["n"] for r in await db.fetch(
        "SELECT date_trunc('minute', coalesce(closed_at, updated_at)) AS m, exchange, "
        "count(*) AS n FROM monitoring.positions WHERE NOT status = ANY($1) GROUP BY 1, 2",
        list(OPEN))})
    assert closed == ledger.closed()
    events = Counter({(r["m"], r["event_type"]): r["n"] for r in await db.fetch(
        "SELECT date_trunc('minute', created_at) AS m, event_type, count(*) AS n "
        "FROM monitoring.events GROUP BY 1, 2")})
    assert events == ledger.events
    assert ledger.open_ids() == {r["id"] for r in await db.fetch(
        "SELECT id FROM monitoring.positions WHERE status = ANY($1)", list(OPEN))}
    paths = Counter(p.close_path for p in ledger.positions.values() if p.close_path)
    assert paths["sync"] > 10 and paths["phantom"] >= 1 and paths["bot"] >= 1
    assert paths["rolled_back"] >= 1

    # 3. closes by the sync, by stop hits and phantoms write no position_closed; the bot's do
    closed_events = {r["position_id"]: r["n"] for r in await db.fetch(
        "SELECT position_id, count(*) AS n FROM monitoring.events "
        "WHERE event_type = 'position_closed' GROUP BY 1")}
    by_path = {p.id: p.close_path for p in ledger.positions.values()}
    assert {by_path[pid] for pid in closed_events} == {"bot"}
    assert all(n == 1 for n in closed_events.values())
    assert len(closed_events) == paths["bot"]
    statuses = {r["status"]: r["n"] for r in await db.fetch(
        "SELECT status, count(*) AS n FROM monitoring.positions GROUP BY 1")}
    assert statuses["closed_by_sync"] >= paths["sync"] - 5  # the seeded ones count too
    assert statuses.get("rolled_back") == paths["rolled_back"]

    # 4. stop-loss hits sometimes log stop_loss_triggered, always before the sync closes them
    hits = await db.fetch(
        "SELECT e.created_at, p.closed_at FROM monitoring.events e JOIN monitoring.positions p "
        "ON p.id = e.position_id WHERE e.event_type = 'stop_loss_triggered'")
    assert hits and all(h["closed_at"] is None or h["created_at"] <= h["closed_at"] for h in hits)
    instant = await db.fetch("SELECT event_data FROM monitoring.events "
                             "WHERE event_type = 'warning_raised'")
    assert all('"ts_emergency_close_instant_cross"' in r["event_data"] for r in instant)


async def test_closed_positions_carry_a_consistent_exit(make_sim, db):
    sim = make_sim(speed=15.0, params=quiet(volatility=0.03, aged_close_probability=1.0,
                                            phantoms_per_hour=3, phantom_bare_probability=0.0))
    await sim.seed(n_open=40, n_closed=0)
    await sim.advance(1200, tick=1.0)
    await sim.flush()

    rows = await db.fetch("SELECT * FROM monitoring.positions WHERE closed_at IS NOT NULL")
    assert len(rows) > 10
    reasons = Counter(r["exit_reason"].split(" (")[0] for r in rows)
    assert set(reasons) <= {"sync_cleanup", "PHANTOM_CLEANUP", "IMMEDIATE_PROFIT_CLOSE"}
    assert reasons["sync_cleanup"] > 5
    for r in rows:
        sign = 1 if r["side"] == "long" else -1
        exit_price, entry, qty = r["current_price"], r["entry_price"], r["quantity"]
        pnl = sign * (exit_price - entry) * qty
        assert abs(float(r["realized_pnl"] - pnl)) <= 1e-6 * max(1.0, abs(float(pnl)))
        assert r["pnl"] == r["realized_pnl"] and r["unrealized_pnl"] == 0
        pct = float(sign * (exit_price / entry - 1) * 100)
        assert abs(float(r["pnl_percentage"]) - pct) < 0.001
        assert r["fees"] > 0 and r["closed_at"] >= r["opened_at"]
        if r["exit_reason"].startswith("IMMEDIATE_PROFIT_CLOSE"):
            assert r["realized_pnl"] > 0 and r["status"] == "closed"
        if r["exit_reason"] == "sync_cleanup":
            assert r["status"] == "closed_by_sync"
    # wins and losses both: stop-losses below the entry, trailing stops above
    assert any(r["realized_pnl"] > 0 for r in rows) and any(r["realized_pnl"] < 0 for r in rows)
    # the open ones follow the price
    for r in await db.fetch("SELECT * FROM monitoring.positions WHERE status = 'active'"):
        sign = 1 if r["side"] == "long" else -1
        pnl = sign * (r["current_price"] - r["entry_price"]) * r["quantity"]
        assert abs(float(r["unrealized_pnl"] - pnl)) <= 1e-6 * max(1.0, abs(float(pnl)))
    active, moved = await db.fetchrow(
        "SELECT count(*), count(*) FILTER (WHERE current_price <> entry_price) "
        "FROM monitoring.positions WHERE status = 'active' AND opened_at < $1",
        sim.clock() - timedelta(seconds=120))  # time for a few price ticks
    assert active and moved >= 0.8 * active


async def test_a_stop_hit_stays_open_until_the_sync_closes_it(make_sim, db):
    sim = make_sim(speed=1.0, params=quiet(stop_loss_triggered_probability=1.0))
    await sim.seed(n_open=3, n_closed=0)
    pos = sim.open_positions[0]
    await sim.advance(1)
    sim._prices[pos.symbol] = pos.stop * (0.99 if pos.side == "long" else 1.01)  # noqa: SLF001
    for _ in range(30):  # ticks until this position's price tick crosses its stop
        await sim.advance(1)
        if pos.gone:
            break
    assert pos.gone == ("trailing_stop" if pos.ts_activated else "stop_loss")
    await sim.flush()
    row = await db.fetchrow("SELECT * FROM monitoring.positions WHERE id = $1", pos.id)
    assert row["status"] == "active" and row["closed_at"] is None  # the table does not know yet
    assert await db.fetchval("SELECT count(*) FROM monitoring.events WHERE position_id = $1 "
                             "AND event_type = 'stop_loss_triggered'", pos.id) == 1
    await sim.trigger("sync")
    await sim.flush()
    row = await db.fetchrow("SELECT * FROM monitoring.positions WHERE id = $1", pos.id)
    assert (row["status"], row["exit_reason"]) == ("closed_by_sync", "sync_cleanup")
    assert row["closed_at"] == sim.clock()
    types = [r["event_type"] for r in await db.fetch(
        "SELECT event_type FROM monitoring.events WHERE position_id = $1 ORDER BY id", pos.id)]
    assert "position_closed" not in types and "trailing_stop_removed" in types
    assert sim.ledger.positions[pos.id].close_path == "sync"


async def test_a_phantom_close_may_leave_closed_at_empty(make_sim, db):
    sim = make_sim(params=quiet(phantom_bare_probability=1.0))
    await sim.seed(n_open=3, n_closed=0)
    await sim.trigger("phantom")
    await sim.trigger("sync")
    await sim.flush()
    row = await db.fetchrow("SELECT * FROM monitoring.positions WHERE NOT status = ANY($1)",
                            list(OPEN))
    assert (row["status"], row["closed_at"], row["exit_reason"]) == ("closed", None, None)
    entry = sim.ledger.positions[row["id"]]
    assert entry.close_path == "phantom" and entry.closed_at is None
    assert entry.close_time == row["updated_at"]  # the database's clock at the close
    types = await event_types(db)
    assert types["phantom_position_detected"] == types["phantom_position_closed"] == 1
    assert "position_closed" not in types


async def test_events_wait_in_the_queue_then_flush_by_size_or_time(make_sim, db):
    sim = make_sim(speed=1.0)
    await sim.seed(n_open=0, n_closed=0)
    seeded = await db.fetchval("SELECT count(*) FROM monitoring.events")
    t0 = sim.clock()
    await sim.advance(1)
    await sim.trigger("health_check_failed")
    await sim.step(t0 + timedelta(seconds=3))
    assert await db.fetchval("SELECT count(*) FROM monitoring.events") == seeded  # still queued
    await sim.step(t0 + timedelta(seconds=5))  # 5 s after the last write
    assert await db.fetchval("SELECT count(*) FROM monitoring.events") == seeded + 1
    # created_at is stamped when the event happened, not when it was written
    stamped = await db.fetchval("SELECT created_at FROM monitoring.events "
                                "WHERE event_type = 'health_check_failed'")
    assert stamped == t0 + timedelta(seconds=1)

    for _ in range(250):  # more than a batch: written at the next step, in batches of 100
        sim.emit("position_updated", {"price": 1.0})
    batches = sim.events.batches
    await sim.step(t0 + timedelta(seconds=5.5))
    assert await db.fetchval("SELECT count(*) FROM monitoring.events") == seeded + 251
    assert sim.events.pending == 0
    assert sim.events.batches - batches == 3


async def test_a_type_the_version_never_writes_is_refused(make_sim):
    sim = make_sim()
    with pytest.raises(ValueError, match="never writes 'websocket_disconnected'"):
        sim.emit("websocket_disconnected", {})
    with pytest.raises(ValueError, match="never writes 'wave_detected'"):
        sim.emit("wave_detected", {})
    make_sim(bot_version="2025-10").emit("wave_detected", {})
    with pytest.raises(ValueError, match="unknown bot version '2024-01'"):
        make_sim(bot_version="2024-01")


async def test_smaller_ids_can_commit_after_larger_ids(make_sim, db, bot_db):
    sim = make_sim(params=quiet(reorder_probability=1.0))
    await sim.open()
    seen: list[list[int]] = []

    async def peek() -> None:
        # while the older half is uncommitted: larger ids visible, smaller ones not yet
        seen.append([r["id"] for r in await db.fetch("SELECT id FROM monitoring.events")])

    sim.events.on_hold = peek
    for i in range(100):
        sim.emit("position_updated", {"n": i}, when=sim.clock() + timedelta(milliseconds=i))
    await sim.flush()

    assert len(seen) == 1
    visible = seen[0]
    final = [r["id"] for r in await db.fetch("SELECT id FROM monitoring.events ORDER BY id")]
    assert len(final) == 100
    missing = sorted(set(final) - set(visible))
    assert visible and missing and max(missing) < min(visible)
    # the hidden rows are the older ones
    rows = await db.fetch("SELECT id, created_at FROM monitoring.events ORDER BY created_at")
    assert [r["id"] for r in rows][:len(missing)] == missing


async def test_forced_unprotected_position_is_flagged_then_protected(make_sim, db):
    sim = make_sim()
    await sim.seed(n_open=5)
    pid = await sim.open_position("PUNDIXUSDT", "bybit", side="long", unprotected_for=120)
    assert pid is not None
    await sim.advance(10, tick=0.5)
    row = await db.fetchrow("SELECT * FROM monitoring.positions WHERE id = $1", pid)
    assert row["status"] == "active" and row["has_stop_loss"] is False
    assert row["stop_loss_price"] is None

    await sim.trigger("sync")
    await sim.flush()
    flagged = await db.fetchrow("SELECT * FROM monitoring.events WHERE event_type = "
                                "'positions_without_sl_detected'")
    assert flagged is not None and '"PUNDIXUSDT"' in flagged["event_data"]
    assert await db.fetchval("SELECT count(*) FROM monitoring.events WHERE event_type = "
                             "'stop_loss_error' AND position_id = $1", pid) == 1
    row = await db.fetchrow("SELECT * FROM monitoring.positions WHERE id = $1", pid)
    assert row["has_stop_loss"] is False  # too early: the exchange still refuses it

    await sim.advance(250, tick=1.0)  # the first sync after 120 s places it
    row = await db.fetchrow("SELECT * FROM monitoring.positions WHERE id = $1", pid)
    # unless it went at -3 % meanwhile (market close, then closed by the sync)
    if row["status"] == "active" and not sim.ledger.positions[pid].close_path:
        assert row["has_stop_loss"] is True and row["stop_loss_price"] is not None
    else:
        assert row["status"] == "closed_by_sync" and row["exit_reason"] == "sync_cleanup"


async def test_log_lines_match_the_bot_format_with_tracebacks(make_sim, tmp_path):
    sim = make_sim(speed=15.0, log_path=tmp_path / "bot.log")
    await sim.seed(n_open=20)
    for kind in ("traceback", "order_error", "rate_limit", "asyncio_noise", "zombies",
                 "garbled_line", "emergency_close", *["ws_reconnect"] * 8):
        await sim.trigger(kind)
    await sim.advance(120)
    await sim.stop()

    data = (tmp_path / "bot.log").read_bytes()
    text = data.decode("utf-8", errors="replace")
    lines = text.splitlines()
    assert len(lines) > 200
    prefixed = [m for m in map(LINE_RE.match, lines) if m]
    continuation = [ln for ln in lines if not LINE_RE.match(ln)]
    assert len(prefixed) + len(continuation) == len(lines)
    assert LINE_RE.match(lines[0])
    # every unprefixed line belongs to a record above it at ERROR level (traceback, asyncio)
    last_level = None
    for ln in lines:
        m = LINE_RE.match(ln)
        if m:
            last_level = m.group(3)
        else:
            assert last_level in ("ERROR", "CRITICAL"), ln
    assert "Traceback (most recent call last):" in continuation
    assert any(ln.startswith("ccxt.base.errors.ExchangeError: ") for ln in continuation)
    assert any(ln.startswith("client_session: <aiohttp.client.ClientSession") for ln in lines)
    stamp = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}$")
    assert all(stamp.match(m.group(1)) for m in prefixed)
    times = [m.group(1) for m in prefixed]
    assert times == sorted(times), "records are appended in time order"

    loggers = {m.group(2) for m in prefixed}
    assert {"__main__", "core.position_manager", "core.signal_processor_websocket",
            "protection.trailing_stop", "utils.rate_limiter", "asyncio", "core.event_logger",
            "core.binance_zombie_manager"} <= loggers
    assert any(ln.startswith("websocket.") for ln in loggers)
    messages = [m.group(4) for m in prefixed]
    assert any(msg.startswith("Connection failed: ") for msg in messages)
    assert any(msg.startswith("WebSocket closed: ") for msg in messages)
    assert "Waiting 5s before reconnect attempt 1" in messages
    assert "Waiting 10s before reconnect attempt 2" in messages
    assert any(msg.endswith(" WebSocket connected") for msg in messages)
    assert any(re.fullmatch(r"🌊 Wave detected! Processing \d+ signals for \S+", msg)
               for msg in messages)
    assert any(re.fullmatch(r"✅ Position #\d+ for \w+ opened ATOMICALLY at \$[\d.]+", msg)
               for msg in messages)
    assert any(m.group(2) == "utils.rate_limiter" and m.group(4).startswith(
        "Unexpected error in rate limited function: ") for m in prefixed)
    assert any(re.fullmatch(r"🧟 Found \d+ zombie orders total:", msg) for msg in messages)
    assert any(m.group(3) == "CRITICAL" for m in prefixed)
    # the event logger echoes every event it queues, at its level (CRITICAL ones at INFO)
    echoes = Counter(m.group(4).split(":", 1)[0] for m in prefixed
                     if m.group(2) == "core.event_logger" and re.match(r"[a-z_]+: \{", m.group(4)))
    assert echoes == Counter(sim.stats.by_type)
    assert any(m.group(2) == "core.event_logger" and m.group(3) == "INFO"
               and m.group(4).startswith("emergency_close_all_triggered: {'reason': ")
               for m in prefixed)
    with pytest.raises(UnicodeDecodeError):  # a few invalid bytes, like the real log
        data.decode("utf-8")


def _shape(message: str) -> str:
    """Symbols and numbers out, so a message compares with the real one of the same kind."""
    message = re.sub(r"\b[0-9A-Z]{2,}USDT(?:/USDT:USDT)?\b", "<SYM>", message)
    message = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}", "N", message)
    return re.sub(r"\d+(?:\.\d+)?(?:e-?\d+)?", "N", message)


# Real lines (from ../shared/real/bot_log_lines.log) whose shape the demo must reproduce.
REAL_SHAPES = [
    ("core.position_manager", "INFO", "✅ Position #N for <SYM> opened ATOMICALLY at $N"),
    ("core.position_manager", "INFO", "✅ Position created ATOMICALLY with guaranteed SL"),
    ("core.position_manager", "INFO", "✅ Added <SYM> to tracked positions (total: N)"),
    ("core.position_manager", "INFO", "✅ Trailing stop initialized for <SYM>"),
    ("core.position_manager", "INFO", "Trailing stop activated for <SYM>"),
    ("core.position_manager", "INFO", "📊 Loaded N positions from database"),
    ("core.position_manager", "INFO", "✅ All loaded positions have stop losses"),
    ("core.position_manager", "INFO", "🎯 Initializing trailing stops for loaded positions..."),
    ("core.position_manager", "INFO", "🔍 Checking actual stop loss status on exchanges..."),
    ("core.stop_loss_manager", "INFO", "✅ Position <SYM> has Stop Loss order: N at N"),
    ("core.atomic_position_manager", "INFO", "🛡️ Placing stop-loss for <SYM> at N"),
    ("core.signal_processor_websocket", "INFO", "🌊 Wave detected! Processing N signals for "
     "N-N-NTN:N:N+N:N"),
    ("core.signal_processor_websocket", "INFO", "🎯 Wave N-N-NTN:N:N+N:N complete: N positions "
     "opened, N failed, N validation errors, N duplicates"),
    ("core.wave_signal_processor", "INFO", "🌊 Wave processing complete in Nms: ✅ N successful, "
     "❌ N failed, ⏭️ N skipped, 📊 Success rate: N%"),
    ("protection.trailing_stop", "ERROR", "❌ <SYM>: SL update FAILED on exchange, state rolled "
     "back (keeping old stop N)"),
    ("protection.trailing_stop", "INFO", "🗑️  <SYM>: Canceling Protection Manager SL (order_id=N, "
     "stopPrice=N) before TS activation"),
    ("core.binance_zombie_manager", "WARNING", "🧟 Found N zombie orders total:"),
    ("core.binance_zombie_manager", "INFO", "🧹 Starting cleanup of N zombie orders..."),
    ("core.aged_position_manager", "INFO", "📈 Processing aged position <SYM>:"),
    ("__main__", "INFO", "📊 Aged positions processed: N, breakeven: N, liquidated: N"),
    ("core.protection_adapters", "INFO", "Aged position <SYM> registered (age=Nh)"),
    ("core.position_manager", "WARNING", "⚠️ Found N positions in DB but not on bybit"),
    ("__main__", "WARNING", "⚠️ System health: degraded"),
    ("utils.rate_limiter", "ERROR", 'Unexpected error in rate limited function: bybit '
     '{"retCode":N,"retMsg":"leverage not modified"}'),
    ("websocket.unified_price_monitor", "WARNING", "⚠️ STALE PRICE: <SYM> - no updates for Ns "
     "(threshold: Ns)"),
]


async def test_log_messages_have_the_real_bots_wording(make_sim, tmp_path):
    real = Path(__file__).resolve().parents[1] / ".." / "shared" / "real" / "bot_log_lines.log"
    real_shapes = set()
    for line in real.read_text(encoding="utf-8", errors="replace").splitlines():
        m = LINE_RE.match(line)
        if m:
            real_shapes.add((m.group(2), m.group(3), _shape(m.group(4))))
    missing_in_real = [s for s in REAL_SHAPES if s not in real_shapes]
    assert not missing_in_real, missing_in_real

    params = quiet(volatility=0.03, sl_update_failure_probability=0.3, zombies_per_hour=1,
                   aged_close_probability=1.0)
    sim = make_sim(speed=15.0, params=params, log_path=tmp_path / "bot.log", seed=3)
    await sim.seed(n_open=40, n_closed=0)
    for kind in ("zombies", "rate_limit", "rate_limit", "rate_limit", "health_check_failed",
                 "stale_price"):
        await sim.trigger(kind)
    await sim.advance(900)
    await sim.stop()
    demo = set()
    for line in (tmp_path / "bot.log").read_text(encoding="utf-8",
                                                 errors="replace").splitlines():
        m = LINE_RE.match(line)
        if m:
            demo.add((m.group(2), m.group(3), _shape(m.group(4))))
    missing = [s for s in REAL_SHAPES if s not in demo]
    assert not missing, missing


async def test_log_rotation_keeps_every_line(make_sim, tmp_path):
    path = tmp_path / "rot" / "bot.log"
    sim = make_sim(speed=15.0, log_path=path, max_bytes=20_000, backup_count=80)
    await sim.seed(n_open=30)
    await sim.advance(300)
    await sim.stop()
    files = sorted(path.parent.iterdir())
    assert len(files) >= 3 and (path.parent / "bot.log.1").exists()
    total = sum(f.read_bytes().count(b"\n") for f in files)
    assert total == sim.log.lines_written
    for f in files:
        assert f.stat().st_size <= 20_000
        first = f.read_bytes().split(b"\n", 1)[0].decode("utf-8", "replace")
        assert LINE_RE.match(first), "a rotation never splits a record"
    # bot.log.1 is the most recent backup, bot.log.N the oldest
    by_age = [path] + sorted((f for f in files if f != path),
                             key=lambda f: int(f.suffix[1:]))
    firsts = [f.read_bytes()[:23] for f in by_age]
    assert firsts == sorted(firsts, reverse=True)


@pytest.mark.parametrize("version", ["2026-03", "2025-10"])
async def test_backfill_refers_only_to_real_open_positions(make_sim, db, version):
    sim = make_sim(bot_version=version)
    await sim.seed(n_open=25, n_closed=4)
    seeded = await db.fetchval("SELECT count(*) FROM monitoring.events")
    n = await sim.backfill(hours=3, rows=20_000)
    assert n == 20_000
    assert await db.fetchval("SELECT count(*) FROM monitoring.events") == seeded + 20_000
    now = sim.clock()
    lo, hi = await db.fetchrow("SELECT min(created_at), max(created_at) FROM monitoring.events")
    assert now - timedelta(hours=3, seconds=1) <= lo and hi <= now
    types = await event_types(db)
    assert types.most_common(1)[0][0] == "position_updated"
    assert set(types) <= VERSIONS[version].written
    assert ("wave_detected" in types) is (version == "2025-10")
    if version == "2025-10":
        assert types["wave_detected"] == 12
    # every event naming a position names a row that was open at that instant
    strays = await db.fetchval(
        "SELECT count(*) FROM monitoring.events e LEFT JOIN monitoring.positions p "
        "ON p.id = e.position_id WHERE e.position_id IS NOT NULL AND (p.id IS NULL "
        "OR e.created_at < p.opened_at OR e.created_at > coalesce(p.closed_at, p.updated_at) "
        "AND NOT p.status = ANY($1))", list(OPEN))
    assert strays == 0
    # so the positions with a price update in a minute never exceed the positions open then
    over = await db.fetchval(
        "WITH m AS (SELECT date_trunc('minute', created_at) AS m, count(DISTINCT position_id) "
        "AS n FROM monitoring.events WHERE event_type = 'position_updated' GROUP BY 1) "
        "SELECT count(*) FROM m WHERE n > (SELECT count(*) FROM monitoring.positions p "
        "WHERE p.opened_at < m.m + interval '1 minute' AND (p.status = ANY($1) "
        "OR coalesce(p.closed_at, p.updated_at) >= m.m))", list(OPEN))
    assert over == 0
    # the history closed positions by the bot's paths, and the ledger knows each
    closed = await db.fetch("SELECT id, status, exit_reason, closed_at FROM monitoring.positions "
                            "WHERE NOT status = ANY($1)", list(OPEN))
    assert len(closed) > 20
    assert {r["status"] for r in closed} <= {"closed", "closed_by_sync"}
    assert {r["id"] for r in closed} == {p.id for p in sim.ledger.positions.values()
                                         if not p.is_open}
    events = Counter({(r["m"], r["event_type"]): r["n"] for r in await db.fetch(
        "SELECT date_trunc('minute', created_at) AS m, event_type, count(*) AS n "
        "FROM monitoring.events GROUP BY 1, 2")})
    assert events == sim.ledger.events

    rate = await sim.backfill(hours=1, rate_multiplier=2.0, end=now - timedelta(hours=5))
    assert abs(rate - 2 * 3600 * 300_000 / 86_400) < 2


async def test_run_and_cancel_leave_no_pending_tasks(make_sim, db):
    sim = make_sim(clock=None)  # the real clock: run() ticks at once, then every second
    await sim.seed(n_open=10)
    task = asyncio.create_task(sim.run())
    await asyncio.wait_for(sim.first_tick.wait(), 10)
    await sim.trigger("zombies")  # events still in the queue when we cancel
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    leftovers = [t for t in asyncio.all_tasks() if t.get_name().startswith("botsim")
                 and not t.done()]
    assert leftovers == []
    assert sim.events.pending == 0
    assert await db.fetchval("SELECT count(*) FROM monitoring.events") == sim.stats.events
    assert sim._conn is None  # noqa: SLF001
    assert sim.events._conns == [None, None]  # noqa: SLF001


async def test_stop_ends_run_cleanly(make_sim, db):
    sim = make_sim(clock=None)
    await sim.seed(n_open=5)
    task = asyncio.create_task(sim.run())
    await asyncio.wait_for(sim.first_tick.wait(), 10)
    await sim.stop()
    assert task.done() and task.exception() is None
    assert await db.fetchval("SELECT count(*) FROM monitoring.events") == sim.stats.events


async def test_a_second_simulator_takes_over_the_open_positions(bot_db, db, tmp_path):
    """The demo prepares with one simulator and runs another: the second loads the open rows
    (stop on the exchange where stop_loss_price is set) and records their closes."""
    first = BotSimulator(bot_db, tmp_path / "bot.log", seed=5, clock=ManualClock(),
                         params=quiet())
    await first.seed(n_open=12, n_closed=2)
    await first.backfill(1.0)
    await first.stop()
    second = BotSimulator(bot_db, tmp_path / "bot.log", seed=6, clock=ManualClock(),
                          params=quiet(aged_close_probability=1.0, phantom_bare_probability=0))
    try:
        await second.open()
        assert {p.id for p in second.open_positions} == second.ledger.open_ids()
        assert all(p.sl_on_exchange and p.flag for p in second.open_positions)
        await second.trigger("phantom")
        await second.trigger("sync")
        aged = [p for p in second.open_positions if p.trades
                and (second.clock() - p.opened_at).total_seconds() > 3 * 3600]
        assert aged
        for pos in aged:  # in profit, no trailing stop yet: the aged manager closes them
            pos.price, pos.ts_activated = pos.entry * (1 + pos.sign * 0.01), False
        await second.trigger("aged_check")
        await second.flush()
        closed = [p for p in second.ledger.positions.values() if not p.is_open]
        assert {p.close_path for p in closed} == {"phantom", "bot"}
        rows = {r["id"]: r for r in await db.fetch(
            "SELECT id, closed_at, status FROM monitoring.positions WHERE id = ANY($1)",
            [p.id for p in closed])}
        assert all(rows[p.id]["closed_at"] == p.closed_at for p in closed)
    finally:
        await second.stop()


@pytest.mark.parametrize("version", ["2026-03", "2025-10"])
def test_history_stays_inside_its_window_even_with_a_wave_at_the_end(version):
    from tui.demo.sim_history import make_history

    for seconds in (1, 10, 24, 60):  # the history ends that long after a wave
        end = datetime(2026, 3, 2, 10, 5, tzinfo=UTC) + timedelta(seconds=seconds)
        rows = [r for chunk in make_history(1.0, end=end, seed=seconds, bot_version=version)
                for r in chunk]
        assert rows and all(end - timedelta(hours=1) <= r[10] < end for r in rows)
        assert {r[0] for r in rows} <= VERSIONS[version].written


@pytest.mark.parametrize("version", ["2026-03", "2025-10"])
async def test_the_monitor_counts_the_simulated_bots_opens_and_closes(make_sim, bot_db, tmp_path,
                                                                      version):
    """Issue 9's end-to-end figure: whatever the bot version writes as events, the monitor's
    opened and closed (all-time, per exchange, and minute by minute) equal what the bot did to
    its positions table: atomic opens without position_created, closes by the sync, phantom
    closes without closed_at, stop-loss hits; rolled-back opens are neither."""
    from tui.config import load_config
    from tui.monitor import Monitor
    from tui.outputs.rundir import RunDir

    params = quiet(phantoms_per_hour=4, unprotected_probability=0.05, volatility=0.03,
                   aged_close_probability=1.0)
    sim = make_sim(speed=15.0, params=params, bot_version=version, seed=5)
    await sim.seed(n_open=30, n_closed=5)
    await sim.flush()
    config = load_config(environ={}, overrides={"database.dsn": bot_db,
                                                "run.final_wait_s": 0.0})
    monitor = Monitor(config, RunDir.create(config, out=str(tmp_path / "runs")),
                      duration_s=None)
    await monitor.open()
    try:
        for _ in range(40):  # 30 real minutes of the bot, 7.5 bot hours at x15
            await sim.advance(45, tick=1.0)
            await sim.flush()
            assert await monitor.poll_once()
        assert await monitor.poll_once()
        view = monitor.view
    finally:
        await monitor.close()
    start = monitor.store.run_start
    real = [p for p in sim.ledger.positions.values() if p.close_path != "rolled_back"]
    opened = Counter((minute_of_utc(p.opened_at), p.exchange) for p in real
                     if p.opened_at >= start)
    closed = Counter((minute_of_utc(p.close_time), p.exchange) for p in real
                     if p.close_time is not None and p.close_time >= start)
    assert sum(opened.values()) > 20 and sum(closed.values()) > 20
    paths = Counter(p.close_path for p in real if p.close_time and p.close_time >= start)
    assert paths["sync"] and paths["phantom"]  # closes that write no position_closed
    for exchange in ("binance", "bybit"):
        assert view.value(f"positions_opened.{exchange}", "all_time") == \
            sum(n for (_, x), n in opened.items() if x == exchange), exchange
        assert view.value(f"positions_closed.{exchange}", "all_time") == \
            sum(n for (_, x), n in closed.items() if x == exchange), exchange
    buckets = monitor.store.buckets
    for (minute, exchange), n in opened.items():
        if minute in buckets:
            assert buckets[minute].counters[f"positions_opened.{exchange}"] == n, minute
    for (minute, exchange), n in closed.items():
        if minute in buckets:
            assert buckets[minute].counters[f"positions_closed.{exchange}"] == n, minute
    if version == "2026-03":
        # The events say nothing about the atomic opens: "—", the table has them.
        assert "positions_opened_events" in view.unavailable
    else:
        assert view.value("positions_opened_events", "all_time") > 0


def minute_of_utc(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(second=0, microsecond=0)
