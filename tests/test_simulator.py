"""The simulated bot against a real PostgreSQL: no sleeps, a manual clock drives every step."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest

from tui.demo.sim_log import LINE_RE
from tui.demo.simulator import BotSimulator, ManualClock, SimParams

UTC = timezone.utc
OPEN = ("active", "entry_placed", "pending_sl", "pending_entry")


def quiet(**overrides) -> SimParams:
    """Defaults without random incidents or random unprotected positions (tests force them)."""
    base = SimParams(unprotected_probability=0.0, ws_reconnects_per_hour=0, zombies_per_hour=0,
                     health_check_failed_per_hour=0, order_errors_per_hour=0,
                     rate_limit_errors_per_hour=0, traceback_errors_per_hour=0,
                     asyncio_noise_per_hour=0, subscription_stale_per_hour=0,
                     garbled_lines_per_hour=0, emergency_close_per_hour=0)
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

    ts = await db.fetch("SELECT * FROM monitoring.trailing_stop_state")
    assert {t["position_id"] for t in ts} == {r["id"] for r in rows}
    assert {t["state"] for t in ts} <= {"waiting", "active"}
    assert all(t["activation_percent"] == 1.5 and t["callback_percent"] == 0.5 for t in ts)

    closed = await db.fetchval("SELECT count(*) FROM monitoring.positions WHERE status = 'closed'"
                               " AND closed_at IS NOT NULL AND exit_reason IS NOT NULL")
    assert closed == 5
    types = [r["event_type"] for r in await db.fetch(
        "SELECT event_type FROM monitoring.events ORDER BY id")]
    assert types == ["bot_started", "positions_loaded"]


async def test_wave_opens_positions_through_the_statuses_with_stop_loss(make_sim, db):
    sim = make_sim(start=before_wave(5), speed=1.0)
    await sim.seed(n_open=10, n_closed=0)
    await sim.advance(5, tick=1.0)  # crosses minute 5: the wave
    assert sim.stats.waves == 1
    pending = await db.fetch("SELECT status, has_stop_loss FROM monitoring.positions "
                             "WHERE status <> 'active' AND status = ANY($1)", list(OPEN))
    assert pending and all(r["status"] == "pending_entry" and not r["has_stop_loss"]
                           for r in pending)

    await sim.advance(10, tick=0.25)
    await sim.flush()
    new = await db.fetch("SELECT * FROM monitoring.positions WHERE opened_at >= $1 "
                         "AND status <> 'rolled_back'", sim.clock() - timedelta(seconds=15))
    assert 3 <= len(new) <= 9
    assert all(r["status"] == "active" and r["has_stop_loss"] and r["stop_loss_price"]
               for r in new)
    for r in new:  # stop on the losing side of the entry
        sign = 1 if r["side"] == "long" else -1
        assert sign * (r["entry_price"] - r["stop_loss_price"]) > 0
    ts = await db.fetch("SELECT position_id FROM monitoring.trailing_stop_state "
                        "WHERE position_id = ANY($1)", [r["id"] for r in new])
    assert len(ts) == len(new)

    per_position = await db.fetch(
        "SELECT position_id, array_agg(event_type ORDER BY id) AS types FROM monitoring.events "
        "WHERE position_id = ANY($1) GROUP BY 1", [r["id"] for r in new])
    for row in per_position:
        lifecycle = [t for t in row["types"] if t != "position_updated"]
        assert lifecycle[:5] == ["position_created", "order_placed", "order_filled",
                                 "stop_loss_placed", "trailing_stop_created"]
    wave = await db.fetch("SELECT event_type FROM monitoring.events WHERE correlation_id LIKE "
                          "'wave_%'")
    wave_types = {r["event_type"] for r in wave}
    assert {"wave_detected", "signals_received", "wave_completed"} <= wave_types
    statuses = {r["status"] for r in await db.fetch("SELECT status FROM monitoring.positions")}
    assert statuses <= {"active", "closed", "rolled_back"}


async def test_event_batches_hold_the_bot_type_mix(make_sim, db):
    sim = make_sim(speed=15.0, params=SimParams(unprotected_probability=0.05))
    await sim.seed(n_open=30)
    await sim.trigger("ws_reconnect")
    await sim.advance(1800, tick=1.0)  # 30 real minutes = 7.5 bot hours
    await sim.flush()

    counts = Counter({r["event_type"]: r["n"] for r in await db.fetch(
        "SELECT event_type, count(*) AS n FROM monitoring.events GROUP BY 1")})
    assert sum(counts.values()) == sim.stats.events == sim.events.written
    assert counts.most_common(1)[0][0] == "position_updated"
    assert counts["position_updated"] > 0.6 * sum(counts.values())
    expected = {"wave_detected", "signals_received", "wave_completed", "position_created",
                "order_placed", "order_filled", "stop_loss_placed", "trailing_stop_created",
                "trailing_stop_activated", "trailing_stop_sl_updated", "stop_loss_triggered",
                "position_closed", "aged_position_detected", "periodic_sync_started",
                "health_check_failed", "order_error", "websocket_disconnected",
                "websocket_connected"}
    assert expected <= set(counts), expected - set(counts)
    assert counts["wave_detected"] == 30  # a wave every real minute at speed 15
    severities = {r["event_type"]: r["severity"] for r in await db.fetch(
        "SELECT DISTINCT event_type, severity FROM monitoring.events")}
    assert severities["order_error"] == "ERROR"
    assert severities["position_updated"] == "INFO"
    assert sim.events.batches >= sum(counts.values()) / 100

    # positions and trailing stops moved with the prices
    upd = await db.fetchval("SELECT count(*) FROM monitoring.positions WHERE status = 'active' "
                            "AND updated_at > opened_at AND current_price IS NOT NULL "
                            "AND pnl_percentage IS NOT NULL")
    assert upd > 0
    assert await db.fetchval("SELECT count(*) FROM monitoring.trailing_stop_state WHERE "
                             "is_activated AND state = 'active' AND update_count > 0 "
                             "AND activated_at IS NOT NULL") >= 0
    closed = await db.fetch("SELECT exit_reason, realized_pnl FROM monitoring.positions "
                            "WHERE status = 'closed' AND closed_at > $1", sim.clock()
                            - timedelta(hours=1))
    assert closed and all(r["exit_reason"] and r["realized_pnl"] is not None for r in closed)
    # bounded state
    assert len(sim.open_positions) <= sim.p.max_open
    assert len(sim._prices) <= sim.p.max_open  # noqa: SLF001
    assert len(sim._schedule) < 50  # noqa: SLF001


async def test_events_wait_in_the_queue_then_flush_by_size_or_time(make_sim, db):
    sim = make_sim(speed=1.0)
    await sim.seed(n_open=0, n_closed=0)
    assert await db.fetchval("SELECT count(*) FROM monitoring.events") == 2
    t0 = sim.clock()
    await sim.advance(1)
    await sim.trigger("health_check_failed")
    await sim.step(t0 + timedelta(seconds=3))
    assert await db.fetchval("SELECT count(*) FROM monitoring.events") == 2  # still queued
    await sim.step(t0 + timedelta(seconds=5))  # 5 s after the last write
    assert await db.fetchval("SELECT count(*) FROM monitoring.events") == 3
    # created_at is stamped when the event happened, not when it was written
    stamped = await db.fetchval("SELECT created_at FROM monitoring.events "
                                "WHERE event_type = 'health_check_failed'")
    assert stamped == t0 + timedelta(seconds=1)

    for _ in range(250):  # more than a batch: written at the next step, in batches of 100
        sim.emit("position_updated", {"price": 1.0})
    batches = sim.events.batches
    await sim.step(t0 + timedelta(seconds=5.5))
    assert await db.fetchval("SELECT count(*) FROM monitoring.events") == 253
    assert sim.events.pending == 0
    assert sim.events.batches - batches == 3


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

    await sim.trigger("protection_check")
    await sim.flush()
    flagged = await db.fetchrow("SELECT * FROM monitoring.events WHERE event_type = "
                                "'positions_without_sl_detected'")
    assert flagged is not None and '"PUNDIXUSDT"' in flagged["event_data"]
    assert await db.fetchval("SELECT count(*) FROM monitoring.events WHERE event_type = "
                             "'stop_loss_error' AND position_id = $1", pid) == 1

    await sim.advance(130, tick=1.0)
    row = await db.fetchrow("SELECT * FROM monitoring.positions WHERE id = $1", pid)
    if row["status"] == "active":  # it could have been emergency-closed at -3 % meanwhile
        assert row["has_stop_loss"] is True and row["stop_loss_price"] is not None


async def test_log_lines_match_the_bot_format_with_tracebacks(make_sim, tmp_path):
    sim = make_sim(speed=15.0, log_path=tmp_path / "bot.log")
    await sim.seed(n_open=20)
    for kind in ("traceback", "order_error", "ws_reconnect", "rate_limit", "asyncio_noise",
                 "zombies", "garbled_line", "emergency_close"):
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
            "protection.trailing_stop", "utils.rate_limiter", "asyncio",
            "core.binance_zombie_manager"} <= loggers
    assert any(ln.startswith("websocket.") for ln in loggers)
    messages = [m.group(4) for m in prefixed]
    assert any(msg.startswith("Connection failed: ") for msg in messages)
    assert "Waiting 5s before reconnect attempt 1" in messages
    assert any(re.fullmatch(r"🌊 Wave detected! Processing \d+ signals for \S+", msg)
               for msg in messages)
    assert any(re.fullmatch(r"✅ Position #\d+ for \w+ opened ATOMICALLY at \$[\d.e-]+", msg)
               for msg in messages)
    assert any(m.group(2) == "utils.rate_limiter" and m.group(4).startswith(
        "Unexpected error in rate limited function: ") for m in prefixed)
    assert any(re.fullmatch(r"🧟 Found \d+ zombie orders total:", msg) for msg in messages)
    assert any(m.group(3) == "CRITICAL" for m in prefixed)
    with pytest.raises(UnicodeDecodeError):  # a few invalid bytes, like the real log
        data.decode("utf-8")


async def test_log_rotation_keeps_every_line(make_sim, tmp_path):
    path = tmp_path / "rot" / "bot.log"
    sim = make_sim(speed=15.0, log_path=path, max_bytes=20_000, backup_count=50)
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


async def test_backfill_inserts_the_asked_number_of_rows(make_sim, db):
    sim = make_sim()
    n = await sim.backfill(hours=3, rows=20_000)
    assert n == 20_000
    assert await db.fetchval("SELECT count(*) FROM monitoring.events") == 20_000
    lo, hi = await db.fetchrow("SELECT min(created_at), max(created_at) FROM monitoring.events")
    now = sim.clock()
    assert now - timedelta(hours=3, seconds=1) <= lo and hi <= now
    counts = Counter({r["event_type"]: r["n"] for r in await db.fetch(
        "SELECT event_type, count(*) AS n FROM monitoring.events GROUP BY 1")})
    assert counts.most_common(1)[0][0] == "position_updated"
    assert counts["wave_detected"] == 12
    assert counts["periodic_sync_started"] == 36
    # waves at minutes 5/20/35/50
    minutes = {r["m"] for r in await db.fetch(
        "SELECT DISTINCT extract(minute FROM created_at)::int AS m FROM monitoring.events "
        "WHERE event_type = 'wave_detected'")}
    assert minutes == {5, 20, 35, 50}

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
