"""Replay: recorded snapshot files (botmon's and the old kit's) through the rules.

The central check: a run recorded by the live monitor, replayed, gives the same episodes as the
live evaluation gave over the same minutes.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tui.alerts import replay_cli
from tui.alerts.engine import AlertEngine
from tui.alerts.replay import old_kit_values, parse_record, read_snapshots, replay
from tui.alerts.rules import load_rules
from tui.config import load_config
from tui.errors import BotmonError
from tui.monitor import Monitor
from tui.outputs.rundir import RunDir
from tui.sources.samples import DbSample, EventRow, OpenPosition, PositionChange
from tui.store.buckets import minute_of
from tui.store.store import MetricStore

ROOT = Path(__file__).resolve().parent.parent
RULES = load_rules(ROOT / "rules")
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "snapshots"
OLD_KIT_FILE = FIXTURES / "monitoring_snapshots_20251015.jsonl"
T0 = datetime(2025, 10, 15, 9, 0, tzinfo=timezone.utc)


def at(minute: int, second: float = 0) -> datetime:
    return T0 + timedelta(minutes=minute, seconds=second)


# -- the old kit's format -----------------------------------------------------------------------

def test_old_kit_keys_map_to_metric_names():
    values = old_kit_values({
        "positions": {"total": 70, "binance": 40, "Bybit": 30, "unprotected": 1},
        "activity": {"new_opened": 3, "prices_updated": 65, "ts_activated": 1, "sl_updates": 2,
                     "closed": 4},
        "issues": {"aged": 7, "zombies": 0, "emergency": 1, "errors": 6, "ws_reconnects": 2}})
    assert values == {
        "open_positions": 70, "open_positions.binance": 40, "open_positions.bybit": 30,
        "unprotected": 1, "positions_opened": 3, "positions_price_updated": 65,
        "ts_activations": 1, "sl_updates": 2, "positions_closed": 4, "aged": 7, "zombies": 0,
        "emergency_closes": 1, "errors": 6, "ws_reconnects": 2,
        "polls": 1, "failed_polls": 0, "db_up": 1, "minute_complete": 1}


def test_records_of_both_formats_and_what_is_skipped():
    old = parse_record({"timestamp": "2025-10-15T13:00:02.5", "metrics": {"positions": {}}})
    assert old is not None and old.fmt == "old-kit" and old.at.tzinfo is not None
    new = parse_record({"timestamp": "2025-10-15T13:01:00+00:00",
                        "minute": "2025-10-15T13:00:00+00:00", "kind": "minute",
                        "values": {"errors": 2, "open_positions": 5}})
    assert new.fmt == "botmon" and new.values == {"errors": 2, "open_positions": 5,
                                                  "minute_complete": 1}
    gap = parse_record({"timestamp": "2025-10-15T13:02:00+00:00", "kind": "gap",
                        "reason": "database unreachable: refused"})
    assert gap.kind == "gap" and gap.reason.startswith("database unreachable")
    assert parse_record({"timestamp": "2025-10-15T13:02:10+00:00", "kind": "manual"}) is None
    assert parse_record({"hello": 1}) is None


def test_replay_of_an_old_kit_file():
    result = replay([OLD_KIT_FILE], RULES)
    assert (result.records, result.skipped, result.formats) == (20, 1, ["old-kit"])  # torn end
    episodes = [(e["rule"], e["minutes"], e["end"] is None) for e in result.episodes]
    # The 2-minute unprotected run is the old kit's post-wave flag lag: the rule's 3-minute
    # hold keeps it from paging.
    assert episodes == [
        ("aged_positions", 18, True),
        ("ws_reconnect", 2, False),  # minutes 7 and 9: one episode (keep_firing_for 5m)
        ("positions_opened_burst", 1, False), ("errors_burst", 1, False),
        ("no_price_updates", 1, False), ("emergency_close", 1, True)]
    # One alert per condition per minute, as the old kit raised them: 26 lines for 7 episodes.
    assert result.per_minute["total"] == 26


def test_a_directory_means_its_snapshot_files_and_missing_files_are_errors(tmp_path):
    assert replay([FIXTURES], RULES).records == 20
    with pytest.raises(BotmonError) as caught:
        replay([tmp_path / "nope.jsonl"], RULES)
    assert caught.value.exit_code == 2 and "no such snapshot file" in caught.value.line()
    with pytest.raises(BotmonError, match="no monitoring_snapshots_"):
        replay([tmp_path], RULES)
    empty = tmp_path / "monitoring_snapshots_20250101.jsonl"
    empty.write_text('{"kind": "manual", "timestamp": "2025-01-01T00:00:00"}\n')
    with pytest.raises(BotmonError, match="no snapshot minutes found"):
        replay([empty], RULES)


def test_replay_cli_prints_episodes_as_text_and_json(capsys, tmp_path):
    parser = argparse.ArgumentParser()
    replay_cli.add_arguments(parser)
    assert replay_cli.run(parser.parse_args([str(OLD_KIT_FILE), "--json",
                                             "--rules", str(ROOT / "rules")])) == 0
    data = json.loads(capsys.readouterr().out)
    first = data["episodes"][0]
    assert set(first) >= {"rule", "severity", "start", "end", "minutes", "peak"}
    assert first["rule"] == "aged_positions" and first["peak"] == 7
    assert data["totals"]["episodes"] == 6 and data["per_minute_view"]["total"] == 26
    assert replay_cli.run(parser.parse_args([str(OLD_KIT_FILE)])) == 0
    text = capsys.readouterr().out
    assert "6 alert episodes (1 critical, 4 warning, 1 info); one alert per minute would have " \
           "made 26" in text
    assert "aged_positions" in text and "(still firing)" in text
    bad = tmp_path / "rules"
    bad.mkdir()
    (bad / "x.toml").write_text('[[rule]]\nname = "x"\nseverity = "info"\nmetric = "agd"\n'
                                'op = ">"\nthreshold = 1\n')
    with pytest.raises(BotmonError, match="did you mean 'aged'"):
        replay_cli.run(parser.parse_args([str(OLD_KIT_FILE), "--rules", str(bad)]))


# -- live versus replay -------------------------------------------------------------------------

def position(pid: int, *, now: datetime, stop_loss: bool = True, age_h: float = 1.0
             ) -> OpenPosition:
    return OpenPosition(
        id=pid, symbol=f"S{pid}USDT", exchange="bybit" if pid % 2 else "binance", side="long",
        status="active", opened_at=now - timedelta(hours=age_h), entry_price=1.0,
        current_price=1.0, pnl_percent=0.0, unrealized_pnl=0.0, has_stop_loss=stop_loss,
        stop_loss_price=0.9 if stop_loss else None, has_trailing_stop=True, ts_state=None,
        ts_activated=None, ts_stop_price=None)


class Bot:
    """A scripted minute of the bot: which events it writes and what its positions look like."""

    def __init__(self) -> None:
        self.next_id = 1

    def events(self, minute: int) -> list[EventRow]:
        kinds: list[tuple[str, str]] = []
        if minute not in (30, 31):  # a stale price stream for two minutes
            kinds += [("position_updated", "INFO")] * 12
        kinds.append(("sync_started", "INFO"))
        if 12 <= minute <= 16:
            kinds += [("order_error", "ERROR")] * 12  # a burst, and > 50 in the run
        if minute in (15, 17, 19, 27):  # reconnects that flap
            kinds.append(("websocket_disconnected", "WARNING"))
        if minute == 20:
            kinds += [("position_created", "INFO")] * 16
        if minute == 22:
            kinds.append(("emergency_close_all_triggered", "CRITICAL"))
        rows = []
        for index, (kind, severity) in enumerate(kinds):
            rows.append(EventRow(id=self.next_id, created_at=at(minute, 1 + index * 0.5),
                                 event_type=kind, exchange="bybit", symbol="S1USDT",
                                 severity=severity, position_id=index % 12 + 1))
            self.next_id += 1
        return rows

    def positions(self, minute: int, now: datetime) -> tuple[OpenPosition, ...]:
        return tuple(position(pid, now=now, stop_loss=not (5 <= minute <= 9 and pid == 1),
                              age_h=4.0 if 10 <= minute <= 25 and pid <= 7 else 1.0)
                     for pid in range(1, 61))

    def sample(self, minute: int) -> DbSample:
        now = at(minute, 59)
        latency = {33: 420.0, 34: 400.0, 35: 380.0, 36: 270.0}.get(minute, 40.0)
        events = self.events(minute)
        # Opens are read off the positions table (the events only cross-check them).
        opened = tuple(PositionChange("opened", position(100 + i, now=now), at(minute, 30))
                       for i in range(16)) if minute == 20 else ()
        return DbSample(db_now=now, latency_ms=latency, positions=self.positions(minute, now),
                        events=tuple(events), last_event_at=max(e.created_at for e in events),
                        changes=opened)

    def idle_sample(self, minute: int) -> DbSample:
        """A poll at hh:mm:11 with no new rows: the minute before is complete from then on."""
        now = at(minute, 11)
        latency = {33: 420.0, 34: 400.0, 35: 380.0, 36: 270.0}.get(minute, 40.0)
        return DbSample(db_now=now, latency_ms=latency, positions=self.positions(minute - 1, now),
                        events=(), last_event_at=at(minute - 1, 58))


def comparable(episodes: list[dict]) -> list[tuple]:
    def minute(text: str | None) -> datetime | None:
        return minute_of(datetime.fromisoformat(text)) if text else None

    return sorted((e["rule"], e["severity"], minute(e["start"]), minute(e["fired"]),
                   minute(e["end"]), e["minutes"], e["peak"]) for e in episodes)


async def test_replay_of_a_recorded_run_gives_the_live_episodes(tmp_path):
    config = load_config(environ={})
    run_dir = RunDir.create(config, out=str(tmp_path))
    live = AlertEngine(RULES)
    monitor = Monitor(config, run_dir, duration_s=None, alerts=live)
    monitor.store = MetricStore(config, run_start=T0)
    bot, minutes, gap = Bot(), 42, 38
    # The live monitor sees a minute in last_minute during the whole next minute: evaluate
    # early and late in it, then the poll at the end of the minute brings that minute's rows.
    for minute in range(minutes + 1):
        if minute:
            if gap not in (minute, minute - 1) and minute < minutes:
                monitor.store.ingest(bot.idle_sample(minute))
            await monitor.tick(now=at(minute, 12))
            await monitor.tick(now=at(minute, 58))
        if minute < minutes and minute != gap:
            monitor.store.ingest(bot.sample(minute))
    live_episodes = live.episodes()
    fired = {e["rule"] for e in live_episodes}
    # The scenario exercises every old-kit rule, hysteresis, a gap and a run total.
    assert fired == {"unprotected_positions", "aged_positions", "errors_burst", "ws_reconnect",
                     "positions_opened_burst", "emergency_close", "no_price_updates",
                     "poll_latency", "snapshot_gap", "run_errors"}

    recorded = read_snapshots([run_dir.path])
    assert len(recorded.records) == minutes and recorded.records[gap].kind == "gap"
    replayed = replay([run_dir.path], RULES)
    assert comparable(replayed.episodes) == comparable(live_episodes)
    assert replayed.per_minute["by_rule"] == live.per_minute_view()["by_rule"]
    flapping = [e for e in live_episodes if e["rule"] == "ws_reconnect"]
    assert [e["minutes"] for e in flapping] == [3, 1]  # 15, 17, 19 bridged; 27 on its own
    latency = next(e for e in live_episodes if e["rule"] == "poll_latency")
    assert latency["minutes"] == 4 and latency["peak"] == 420  # 270 ms stays in the band
