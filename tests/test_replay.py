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


# -- holes, unreadable lines, corrections ---------------------------------------------------------

REAL = ROOT.parent / "shared" / "real" / "monitoring_snapshots_20251018.jsonl"


def old_kit_line(ts: datetime, *, prices: int = 60, unprotected: int = 0) -> str:
    return json.dumps({"timestamp": ts.replace(tzinfo=None).isoformat(), "metrics": {
        "positions": {"total": 60, "binance": 30, "bybit": 30, "unprotected": unprotected},
        "activity": {"new_opened": 0, "prices_updated": prices, "ts_activated": 0,
                     "sl_updates": 0, "closed": 0},
        "issues": {"aged": 0, "zombies": 0, "emergency": 0, "errors": 0, "ws_reconnects": 0}}})


def test_holes_between_old_kit_lines_are_gaps_and_the_bot_is_not_silent_across_them(tmp_path):
    path = tmp_path / "monitoring_snapshots_20251015.jsonl"
    stamps = [at(m, 2 + m * 0.7) for m in range(10)] + \
             [at(m, 2 + m * 0.7) for m in range(45, 55)]  # the kit was stopped for 35 minutes
    path.write_text("".join(old_kit_line(ts) + "\n" for ts in stamps))
    result = replay([path], RULES)
    assert [(h.first_minute, h.minutes) for h in result.holes] == [(at(9), 35)]
    assert result.gaps == 35 and result.missing_minutes == 35 and result.gap_lines == 0
    # No bot_silent across the hole; the gap itself is reported once, as a resumed run would.
    assert [(e["rule"], e["minutes"]) for e in result.episodes] == [("snapshot_gap", 1)]
    data = result.to_json()
    assert data["holes"] == [{"after": stamps[9].isoformat(), "before": stamps[10].isoformat(),
                              "first_minute": at(9).isoformat(), "minutes": 35}]


def test_the_real_old_kit_file_has_four_holes():
    result = replay([REAL], RULES)
    assert result.records == 817
    assert [h.minutes for h in result.holes] == [10, 16, 1, 354]
    assert result.gaps == 381
    for episode in result.episodes:  # silence is only counted where the kit was running
        if episode["rule"] == "bot_silent":
            assert result.holes_within(episode) == 0 or episode["peak"] < 1000
    text = "\n".join(replay_cli.text_report(result))
    assert "381 minute(s) with no line in 4 hole(s)" in text
    assert "14:59–20:52 (354 min)" in text


def test_unreadable_lines_are_reported_with_their_line_numbers(tmp_path, capsys):
    path = tmp_path / "monitoring_snapshots_20251015.jsonl"
    lines = [old_kit_line(at(m, 3)) for m in range(6)]
    lines[2] = lines[2][:40]  # a corrupt line in the middle
    lines.insert(4, '["not", "a", "record"]')
    lines.append('{"timestamp": "2025-10-15T09:07:0')  # torn by a crash
    path.write_text("\n".join(lines) + "\n")
    result = replay([path], RULES)
    name = path.name
    assert result.unreadable == [f"{name}:3", f"{name}:5", f"{name}:8"]
    assert result.skipped == 3 and result.records == 5
    parser = argparse.ArgumentParser()
    replay_cli.add_arguments(parser)
    assert replay_cli.run(parser.parse_args([str(path), "--rules", str(ROOT / "rules")])) == 0
    out = capsys.readouterr().out
    assert f"3 unreadable line(s) skipped: {name}:3, {name}:5, {name}:8" in out


def botmon_lines(minutes: int, *, errors: dict[int, int] | None = None) -> list[dict]:
    from tui.outputs.snapshots import minute_record

    lines = []
    for m in range(minutes):
        values = {"events": 100, "errors": (errors or {}).get(m, 0), "polls": 30,
                  "failed_polls": 0, "positions_price_updated": 20, "open_positions": 20,
                  "open_positions_avg": 20, "open_positions_max": 20}
        lines.append(minute_record(at(m), values, (), partial=False))
    return lines


def test_correction_records_replace_a_sealed_minute(tmp_path):
    path = tmp_path / "monitoring_snapshots_20251015.jsonl"
    lines = botmon_lines(6, errors={2: 3})
    corrected = dict(lines[2], kind="correction", timestamp=at(4, 20).isoformat(),
                     late_events=9, values={**lines[2]["values"], "errors": 12, "events": 109})
    older = dict(corrected, timestamp=at(3, 20).isoformat(),
                 values={**lines[2]["values"], "errors": 4})
    orphan = dict(corrected, minute=at(30).isoformat())
    lines += [corrected, older, orphan]  # appended as they come: the latest one counts
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = replay([path], RULES)
    assert result.records == 6 and result.corrections == 1
    assert result.orphan_corrections == [f"{path.name}:9"]
    burst = [e for e in result.episodes if e["rule"] == "errors_burst"]
    assert [(e["peak"], minute_of(datetime.fromisoformat(e["start"]))) for e in burst] == \
        [(12, at(3))]
    record = next(r for r in read_snapshots([path]).records if r.minute == at(2))
    assert record.values["errors"] == 12 and record.corrected == f"{path.name}:7"


def test_minutes_a_resumed_run_missed_are_not_evaluated(tmp_path):
    from tui.outputs.snapshots import gap_record

    path = tmp_path / "monitoring_snapshots_20251015.jsonl"
    lines = botmon_lines(20)
    for m in range(5, 15):  # the monitor crashed; the resumed run wrote these
        lines[m] = gap_record(at(m), "monitor was not running (resumed after a crash or "
                              "restart)", {})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = replay([path], RULES)
    assert result.gap_lines == 10 and result.holes == []
    # No bot_silent: nobody watched the bot while the monitor was down.
    # The live resumed run wrote those gap lines at once: the newest line is a gap until the
    # first minute after the restart is written (10 s into the next one).
    assert [(e["rule"], e["minutes"]) for e in result.episodes] == [("snapshot_gap", 2)]


# -- live versus replay -------------------------------------------------------------------------

def position(pid: int, *, now: datetime, stop_loss: bool = True, age_h: float = 1.0
             ) -> OpenPosition:
    return OpenPosition(
        id=pid, symbol=f"S{pid}USDT", exchange="bybit" if pid % 2 else "binance", side="long",
        status="active", opened_at=now - timedelta(hours=age_h), entry_price=1.0,
        current_price=1.0, pnl_percent=0.0, unrealized_pnl=0.0, has_stop_loss=stop_loss,
        stop_loss_price=0.9 if stop_loss else None, has_trailing_stop=True, ts_state=None,
        ts_activated=None, ts_stop_price=None)


def second(minute: int, sec: float = 0) -> float:
    return minute * 60 + sec


class Bot:
    """A scripted bot, second by second: the events of each poll and its positions' state.

    Gauges change mid-minute the way the real ones do: nine positions without a stop-loss for
    20 s after a wave, then one of them for nearly four more minutes (the issue's "peak 1 vs
    9"); aged positions appear and go mid-minute; 17 positions open in minute 20 (read off the
    positions table); the database is down for 80 s (minute 38 is a gap).
    """

    def __init__(self) -> None:
        self.next_id = 1

    @staticmethod
    def unprotected(t: float) -> int:
        if second(5, 20) <= t < second(5, 40):
            return 9
        if second(5, 40) <= t < second(9, 25):
            return 1
        if second(20, 10) <= t < second(20, 25):  # a post-wave blip: pending, never fires
            return 3
        return 0

    @staticmethod
    def aged(t: float) -> int:
        return 7 if second(10, 30) <= t < second(25, 45) else 2

    @staticmethod
    def down(t: float) -> bool:
        return second(37, 50) <= t < second(39, 10)

    def kinds(self, minute: int, t: float) -> list[tuple[str, str]]:
        """Events created in (t - 2, t]: a steady stream plus the scenario's bursts."""
        kinds: list[tuple[str, str]] = []
        offset = t - second(minute)
        if minute not in (30, 31):  # a stale price stream for two minutes
            kinds += [("position_updated", "INFO")] * 2
        if offset in (10, 40):
            kinds.append(("sync_started", "INFO"))
        if 12 <= minute <= 16 and offset <= 24:
            kinds += [("order_error", "ERROR")]  # 12 a minute: a burst, and > 50 in the run
        if minute in (15, 17, 19, 27) and offset == 30:  # reconnects that flap
            kinds.append(("websocket_disconnected", "WARNING"))
        if minute == 20 and offset <= 32:
            kinds += [("position_created", "INFO")]  # the cross-check of the opens below
        if minute == 22 and offset == 44:
            kinds.append(("emergency_close_all_triggered", "CRITICAL"))
        return kinds

    def sample(self, t: float) -> DbSample:
        minute = int(t // 60)
        now = at(0, t)
        unprotected, aged = self.unprotected(t), self.aged(t)
        positions = tuple(position(pid, now=now, stop_loss=pid > unprotected,
                                   age_h=4.0 if pid > 60 - aged else 1.0)
                          for pid in range(1, 61))
        latency = 420.0 if 33 <= minute <= 35 else 270.0 if minute == 36 else 40.0
        rows = []
        for index, (kind, severity) in enumerate(self.kinds(minute, t)):
            rows.append(EventRow(id=self.next_id, created_at=now - timedelta(seconds=1.5)
                                 + timedelta(milliseconds=index), event_type=kind,
                                 exchange="bybit", symbol="S1USDT", severity=severity,
                                 position_id=index % 12 + 1))
            self.next_id += 1
        last = max((r.created_at for r in rows), default=None)
        offset = t - second(minute)
        # Opens are read off the positions table: 17 in minute 20 (the events only cross-check).
        opened = (PositionChange("opened", position(100 + int(offset), now=now),
                                 now - timedelta(seconds=1)),) \
            if minute == 20 and offset <= 32 else ()
        return DbSample(db_now=now, latency_ms=latency, positions=positions, events=tuple(rows),
                        last_event_at=last, changes=opened)


def comparable(episodes: list[dict]) -> list[tuple]:
    def minute(text: str | None) -> datetime | None:
        return minute_of(datetime.fromisoformat(text)) if text else None

    return sorted((e["rule"], e["severity"], minute(e["start"]), minute(e["fired"]),
                   minute(e["end"]), e["minutes"], e["peak"]) for e in episodes)


async def live_run(tmp_path: Path, minutes: int = 42) -> tuple[AlertEngine, RunDir]:
    """The live monitor on an explicit clock: a poll every 2 s, a tick every second."""
    config = load_config(environ={})
    run_dir = RunDir.create(config, out=str(tmp_path))
    live = AlertEngine(RULES)
    monitor = Monitor(config, run_dir, duration_s=None, alerts=live)
    monitor.store = MetricStore(config, run_start=T0)
    bot = Bot()
    for t in range(0, minutes * 60 + 15):
        if t % 2 == 0 and t < minutes * 60:
            if bot.down(t):
                monitor.store.record_failure(at(0, t), "database unreachable: refused")
            else:
                monitor.store.ingest(bot.sample(t))
        await monitor.tick(now=at(0, t))
    return live, run_dir


async def test_replay_of_a_recorded_run_gives_the_live_episodes(tmp_path):
    live, run_dir = await live_run(tmp_path)
    live_episodes = live.episodes()
    fired = {e["rule"] for e in live_episodes}
    # The scenario exercises every old-kit rule, hysteresis, a gap and a run total.
    assert fired == {"unprotected_positions", "aged_positions", "errors_burst", "ws_reconnect",
                     "positions_opened_burst", "emergency_close", "no_price_updates",
                     "poll_latency", "snapshot_gap", "run_errors", "database_unreachable"}
    unprotected = [e for e in live_episodes if e["rule"] == "unprotected_positions"]
    assert [(e["peak"], e["minutes"]) for e in unprotected] == [(9, 5)]

    recorded = read_snapshots([run_dir.path])
    assert len(recorded.records) == 42 and recorded.records[38].kind == "gap"
    replayed = replay([run_dir.path], RULES)
    assert comparable(replayed.episodes) == comparable(live_episodes)
    assert replayed.per_minute["by_rule"] == live.per_minute_view()["by_rule"]
    flapping = [e for e in live_episodes if e["rule"] == "ws_reconnect"]
    assert [e["minutes"] for e in flapping] == [3, 1]  # 15, 17, 19 bridged; 27 on its own
    latency = next(e for e in live_episodes if e["rule"] == "poll_latency")
    assert latency["minutes"] == 4 and latency["peak"] == 420  # 270 ms stays in the band
