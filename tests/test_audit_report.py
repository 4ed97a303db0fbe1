"""The audit report (``botmon report RUN_DIR``, the UI's ``e``): Markdown + JSON twin.

The fixture ``tests/fixtures/runs/20251015_090000`` is a 40-minute run recorded through the real
Monitor, MetricStore, AlertEngine and writers by ``tests/fixtures/runs/record_run.py`` (gap
minutes 09:14-09:15, 10 alert episodes, a late event, an exact recount differing by one).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import asyncpg
import pytest

from tui.config import load_config
from tui.errors import BotmonError
from tui.outputs import report_cli
from tui.outputs.audit_data import open_run
from tui.outputs.audit_health import GREEN, RED, THRESHOLDS, YELLOW, evaluate
from tui.outputs.audit_report import build_audit_report
from tui.outputs.rundir import RunDir
from tui.outputs.snapshots import gap_record, minute_record

UTC = timezone.utc
RUNS = Path(__file__).resolve().parent / "fixtures" / "runs"
FIXTURE = RUNS / "20251015_090000"
LOG = RUNS / "logs" / "bot_20251015_090000.log"
NOW = datetime(2025, 10, 15, 10, 0, tzinfo=UTC)
START = datetime(2025, 10, 15, 9, 0, 20, tzinfo=UTC)
COMPLETENESS = ("38 of 40 minutes recorded; gaps: 09:14–09:15 database unreachable: "
                "[Errno 111] Connect call failed")
NO_DB = "postgresql://botmon@127.0.0.1:1/nothing"  # a closed port: refused at once

SECTIONS = ["# Audit report: botmon run 20251015_090000", "## 1. Executive summary",
            "### Health checks", "## 2. Statistics at a glance", "## 3. Positions per exchange",
            "## 4. Stop-loss", "## 5. Trailing stop", "## 6. WebSocket", "## 7. Errors",
            "## 8. Zombie orders and emergency closes", "## 9. Aged positions",
            "## 10. Data integrity", "## 11. Issues", "## 12. Hourly observations",
            "## Appendix A. Alert episodes", "## Appendix B. Post-test database analysis",
            "## Appendix C. Log analysis", "## Appendix D. Files of the run directory"]


@pytest.fixture
def run(tmp_path) -> Path:
    target = tmp_path / FIXTURE.name
    shutil.copytree(FIXTURE, target)
    return target


def config_for(dsn: str | None = None, logs: bool = True):
    overrides = {"database.dsn": dsn, "logs.paths": [str(LOG)] if logs else None}
    return load_config(environ={}, overrides=overrides)


def build(run_dir: Path, **kwargs) -> tuple[str, dict, Path]:
    kwargs.setdefault("use_db", False)
    config = kwargs.pop("config", None) or config_for()
    md_path, json_path = build_audit_report(run_dir, config, now=NOW, tz=UTC, **kwargs)
    return md_path.read_text(encoding="utf-8"), json.loads(json_path.read_text()), md_path


# -- the recorded run -----------------------------------------------------------------------------

def test_markdown_of_a_recorded_run_has_every_section_and_the_completeness_line(run):
    text, doc, md_path = build(run)
    assert md_path.name == "audit_report_20251015_100000.md"
    assert (run / "audit_report_20251015_100000.json").exists()
    positions = [text.index(heading) for heading in SECTIONS]
    assert positions == sorted(positions)  # every section, in the template's order
    assert text.count(COMPLETENESS) >= 2  # executive summary and data integrity
    assert doc["snapshots"]["line"] == COMPLETENESS
    assert "**Overall health: RED** — decided by: CRITICAL alert episodes = 2 (bad > 0" in text
    # Statistics from the final report's exact recount.
    assert "| positions opened | 16 | binance 8 · bybit 8 |" in text
    assert "| events streamed / recounted | 820 | exact recount 821 |" in text
    assert "| late events (arrived after their minute was written) | 1 |" in text
    # The hourly notes, verbatim.
    notes = (run / "hourly_observations.md").read_text(encoding="utf-8")
    assert notes.strip() in text
    # The log analysis: errors with first/last seen and file:line.
    assert "| bybit 170209 | 1 | 2025-10-15 09:06:30.000 | 2025-10-15 09:06:30.000 | " \
           "bot_20251015_090000.log:8 |" in text
    # Trailing-stop consistency and the database sections, which did not run.
    assert "at the end: S07USDT/bybit" in text
    assert "_Not available (skipped): not asked for (--no-db)_" in text


def test_issue_stub_per_fired_episode_with_evidence_frequency_and_todo(run):
    text, doc, _ = build(run)
    issues = doc["issues"]
    assert [i["episode"] for i in issues] == [
        "unprotected_positions#1", "database_unreachable#1", "sl_failures#1", "errors_burst#1",
        "snapshot_gap#1", "positions_opened_burst#1", "ws_reconnect#1", "poll_latency#1",
        "no_price_updates#1", "aged_positions#1"]  # critical first, then by start
    assert text.count("### ISSUE-") == 10
    assert text.count("| Recommendation | TODO (operator) |") == 10
    burst = next(i for i in issues if i["rule"] == "errors_burst")
    assert burst["severity"] == "WARNING"
    assert burst["frequency"].startswith("held in 3 minute(s) over 5 min 00 s; episode 1 of 1")
    assert [(e["file"], e["line"]) for e in burst["evidence"]] == [
        ("alerts.jsonl", 5), ("alerts.jsonl", 10), ("monitoring_snapshots_20251015.jsonl", 11)]
    assert "`monitoring_snapshots_20251015.jsonl:11` snapshot minute: errors = 8 at 09:10:00" \
        in text
    # The line cited is the one whose minute shows the condition holding.
    stale = next(i for i in issues if i["rule"] == "no_price_updates")
    assert stale["evidence"][-1]["what"] == "snapshot minute: positions_price_updated = 0"
    outage = next(i for i in issues if i["rule"] == "database_unreachable")
    assert outage["evidence"][-1]["what"].startswith("snapshot minute: gap: database unreachable")
    # Still firing at the end: the final report's record (15 minutes), not the firing line's 1.
    aged = next(i for i in issues if i["rule"] == "aged_positions")
    assert aged["minutes"] == 15 and "still firing at the end" in text


def test_json_twin_shape(run):
    text, doc, md_path = build(run)
    assert doc["kind"] == "botmon_audit_report" and doc["version"] == 1
    assert doc["markdown"] == md_path.name and doc["json"] == md_path.with_suffix(".json").name
    assert set(doc) >= {"run", "notes", "health", "executive_summary", "statistics", "areas",
                        "issues", "snapshots", "alerts", "hourly_notes", "database_analysis",
                        "log_analysis", "files"}
    assert doc["run"]["start"] == START.isoformat()
    assert doc["run"]["final_report"] == "monitoring_report_20251015_094020.json"
    health = doc["health"]
    assert health["verdict"] == RED
    assert health["decided_by"] == ["critical_episodes"]
    assert [c["id"] for c in health["checks"]] == [t.id for t in THRESHOLDS]
    checks = {c["id"]: c for c in health["checks"]}
    assert checks["errors"]["value"] == 26 and checks["errors"]["status"] == "warning"
    assert checks["sl_placement_p95_ms"]["status"] == "n/a"  # no database analysis
    assert checks["sl_placement_p95_ms"]["not_measurable"] is None
    # No event carries an SL update's duration: never "ok", and says why.
    assert checks["sl_update_p95_ms"]["status"] == "n/a"
    assert "stop_loss_updated is never written" in checks["sl_update_p95_ms"]["not_measurable"]
    assert "| SL update p95 (a trailing stop moving its stop-loss) | n/a: not measurable on " \
           "this bot (stop_loss_updated is never written" in text
    assert [a["key"] for a in doc["areas"]] == ["positions", "stop_loss", "trailing_stop",
                                                "websocket", "errors", "zombies", "aged",
                                                "data_integrity"]
    for area in doc["areas"]:
        assert all({"label", "value", "detail"} <= set(f) <= {"label", "value", "detail",
                                                               "unit"} for f in area["facts"])
        assert all({"title", "columns", "rows", "note"} <= set(t) for t in area["tables"])
    assert doc["snapshots"]["gaps"] == [{
        "from": "2025-10-15T09:14:00+00:00", "to": "2025-10-15T09:15:00+00:00", "minutes": 2,
        "reason": "database unreachable: [Errno 111] Connect call failed",
        "lines": ["monitoring_snapshots_20251015.jsonl:15",
                  "monitoring_snapshots_20251015.jsonl:16"]}]
    assert doc["alerts"]["fired"] == {"critical": 2, "warning": 7, "info": 1}
    assert doc["alerts"]["per_minute_view"]["total"] == 36
    assert doc["log_analysis"]["status"] == "ok"
    assert doc["log_analysis"]["report"]["errors"]["total"] == 10
    coverage = doc["log_analysis"]["report"]["coverage"]  # what share the log analysis understood
    assert coverage["records"] > coverage["categorised"] > 0 and coverage["uncategorised"]
    assert doc["hourly_notes"]["present"] is True
    issue = doc["issues"][0]
    assert set(issue) >= {"id", "severity", "frequency", "evidence", "recommendation", "runbook",
                          "condition", "start", "end", "minutes", "peak"}
    assert issue["recommendation"] == "TODO (operator)"


def test_progress_reports_steps_up_to_one(run):
    seen: list[tuple[str, float]] = []
    build(run, progress=lambda step, fraction: seen.append((step, fraction)),
          config=config_for(NO_DB), use_db=True)
    steps = [s for s, _ in seen]
    assert steps[0] == "run directory" and steps[-1] == "done"
    assert {"log analysis", "database analysis", "report"} <= set(steps)
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0


def test_two_exports_in_the_same_second_keep_both(run):
    _, _, first = build(run)
    _, doc, second = build(run)
    assert first.name == "audit_report_20251015_100000.md"
    assert second.name == "audit_report_20251015_100000_2.md"
    assert doc["json"] == "audit_report_20251015_100000_2.json" and first.exists()


# -- health verdict -------------------------------------------------------------------------------

GOOD = {"critical_episodes": 0, "warning_episodes": 0, "snapshot_minutes_missing": 0,
        "aged_max": 4, "sl_update_p95_ms": 150.0, "sl_placement_p95_ms": 900.0,
        "db_poll_p95_ms": 20.0, "api_p50_ms": None, "ws_reconnects": 4, "errors": 9,
        "zombies": 0}


@pytest.mark.parametrize("change, verdict, decided_by", [
    ({}, GREEN, []),
    ({"sl_update_p95_ms": None}, GREEN, []),  # no data: n/a never decides
    ({"sl_placement_p95_ms": 3000.0}, GREEN, []),  # no operators' target: info, never decides
    ({"critical_episodes": 1}, RED, ["critical_episodes"]),
    ({"warning_episodes": 2}, YELLOW, ["warning_episodes"]),
    ({"snapshot_minutes_missing": 2}, YELLOW, ["snapshot_minutes_missing"]),
    ({"aged_max": 5}, YELLOW, ["aged_max"]),
    ({"sl_update_p95_ms": 200.0}, YELLOW, ["sl_update_p95_ms"]),
    ({"sl_update_p95_ms": 500.0}, YELLOW, ["sl_update_p95_ms"]),
    ({"sl_update_p95_ms": 500.1}, RED, ["sl_update_p95_ms"]),
    ({"db_poll_p95_ms": 300.0}, YELLOW, ["db_poll_p95_ms"]),
    ({"ws_reconnects": 5}, YELLOW, ["ws_reconnects"]),
    ({"ws_reconnects": 20}, YELLOW, ["ws_reconnects"]),
    ({"ws_reconnects": 21}, RED, ["ws_reconnects"]),
    ({"errors": 10}, YELLOW, ["errors"]),
    ({"errors": 51}, RED, ["errors"]),
    ({"zombies": 1}, YELLOW, ["zombies"]),
    ({"zombies": 6}, RED, ["zombies"]),
    ({"api_p50_ms": 1200.0}, RED, ["api_p50_ms"]),
    ({"errors": 60, "warning_episodes": 1, "zombies": 6}, RED, ["errors", "zombies"]),
])
def test_health_verdict_is_table_driven(change, verdict, decided_by):
    result = evaluate({**GOOD, **change})
    assert result["verdict"] == verdict
    assert result["decided_by"] == decided_by
    labels = {t.id: t.label for t in THRESHOLDS}
    for check in decided_by:
        assert labels[check] in result["reason"]  # the deciding rule is named


def write_minutes(run_dir: Path, start: datetime, minutes: int, *, errors: int = 0,
                  gaps: tuple[int, ...] = ()) -> None:
    """A synthetic run written with the monitor's own record builders."""
    lines = []
    for i in range(minutes):
        minute = start.replace(second=0) + timedelta(minutes=i)
        if i in gaps:
            lines.append(gap_record(minute, "database down", {}))
            continue
        values = {"open_positions": 3, "open_positions_max": 3, "open_positions_avg": 3.0,
                  "open_positions.binance": 3, "open_positions_max.binance": 3,
                  "unprotected_max": 0, "aged_max": 0, "aged": 0, "errors": errors,
                  "positions_opened": 1, "positions_opened.binance": 1, "events": 10,
                  "positions_price_updated": 3, "polls": 30, "poll_p95_ms": 12.0}
        lines.append(minute_record(minute, values, ("binance",), partial=i == 0))
    name = f"monitoring_snapshots_{start:%Y%m%d}.jsonl"
    (run_dir / name).write_text("".join(json.dumps(r) + "\n" for r in lines))


def synthetic_run(tmp_path: Path, minutes: int = 5, **kwargs) -> Path:
    run_dir = tmp_path / "synthetic"
    run_dir.mkdir()
    start = datetime(2025, 10, 15, 9, 0, 0, tzinfo=UTC)
    RunDir(run_dir).write_meta({"run_start": start,
                                "planned_end": start + timedelta(minutes=minutes),
                                "duration_s": minutes * 60, "database": "(PG* environment)"})
    write_minutes(run_dir, start, minutes, **kwargs)
    return run_dir


def test_a_quiet_run_is_green_and_says_why(tmp_path):
    text, doc, _ = build(synthetic_run(tmp_path), config=config_for(logs=False))
    assert doc["health"]["verdict"] == GREEN and doc["health"]["decided_by"] == []
    assert "**Overall health: GREEN** — every check is within the operators' good marks" in text
    assert doc["snapshots"]["line"] == "5 of 5 minutes recorded; no gaps"
    assert "_No alert episode fired: no issue stubs." in text
    assert "_No hourly notes: `hourly_observations.md` is missing or empty._" in text
    assert "log analysis skipped: no bot log configured (logs.paths)" in doc["notes"]


def test_a_run_with_errors_and_a_gap_is_yellow_naming_both_marks(tmp_path):
    run_dir = synthetic_run(tmp_path, minutes=6, errors=2, gaps=(3,))
    text, doc, _ = build(run_dir, config=config_for(logs=False))
    assert doc["health"]["verdict"] == YELLOW
    assert doc["health"]["decided_by"] == ["snapshot_minutes_missing", "errors"]
    assert "minutes without a snapshot = 1 (warning > 0; target: 480 snapshots" in text
    assert "errors (events) = 10 (warning >= 10; target: < 10 API errors" in text
    assert doc["snapshots"]["line"] == "5 of 6 minutes recorded; gaps: 09:03 database down"


# -- a crashed run, a missing database ------------------------------------------------------------

def test_crashed_run_without_final_report_rebuilds_totals_from_snapshots(run):
    (run / "monitoring_report_20251015_094020.json").unlink()
    snapshots = run / "monitoring_snapshots_20251015.jsonl"
    lines = snapshots.read_text().splitlines(keepends=True)[:30]  # killed in minute 09:30
    snapshots.write_text("".join(lines) + '{"timestamp": "2025-10-15T09:31:00+00:00", "ki')
    text, doc, _ = build(run)
    assert doc["run"]["final_report"] is None
    assert doc["run"]["totals_from"].startswith("snapshot lines")
    assert any("no final report" in n and "crashed" in n and "rebuilt from the snapshot lines"
               in n for n in doc["notes"])
    assert any("1 snapshot line(s) could not be read" in n for n in doc["notes"])
    assert "crashed" in text and "rebuilt from the snapshot lines" in text
    # Totals summed over the minute lines that exist.
    stats = {f["label"]: f["value"] for f in doc["statistics"]}
    assert stats["positions opened"] == 16 and stats["errors (events)"] == 26
    assert stats["WebSocket reconnects"] == 2 and stats["aged positions (max)"] == 6
    # The minutes after the crash, to the planned end, are missing and say why.
    assert doc["snapshots"]["line"] == (
        "28 of 40 minutes recorded; gaps: 09:14–09:15 database unreachable: [Errno 111] "
        "Connect call failed, 09:30–09:39 no snapshot line (the monitor was not running)")
    checks = {c["id"]: c for c in doc["health"]["checks"]}
    assert checks["snapshot_minutes_missing"]["value"] == 12
    # alerts.jsonl still gives the episodes, with their line numbers.
    assert len(doc["issues"]) == 10 and doc["issues"][0]["evidence"][0]["file"] == "alerts.jsonl"


def test_live_export_uses_the_given_totals(run):
    report = json.loads((run / "monitoring_report_20251015_094020.json").read_text())
    (run / "monitoring_report_20251015_094020.json").unlink()
    _, doc, _ = build(run, report=report)
    assert doc["run"]["totals_from"].startswith("the live monitor's totals")
    assert {f["label"]: f["value"] for f in doc["statistics"]}["errors (events)"] == 26


def test_database_unreachable_still_writes_the_report_with_a_note(run):
    text, doc, md_path = build(run, config=config_for(NO_DB), use_db=True)
    assert md_path.exists()
    assert doc["database_analysis"]["status"] == "failed"
    assert "cannot reach the database" in doc["database_analysis"]["reason"]
    assert any(n.startswith("database analysis failed: ") for n in doc["notes"])
    assert "> - database analysis failed: " in text
    assert "_Not available (failed): " in text
    assert "_not available: the database analysis failed (see the notes at the top)_" in text
    assert COMPLETENESS in text  # the rest of the report is all there


async def seed(dsn: str) -> None:
    t = START + timedelta(minutes=5)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO monitoring.positions (id, symbol, exchange, side, quantity, entry_price,"
            " status, opened_at, created_at, has_stop_loss) VALUES"
            " (7, 'HOTUSDT', 'bybit', 'long', 1, 1, 'active', $1, $1, true),"
            " (8, 'CALMUSDT', 'binance', 'long', 1, 1, 'active', $1, $1, true)", t)
        rows = [("trailing_stop_updated", 7, None, t + timedelta(seconds=10 * i))
                for i in range(25)]
        rows += [("trailing_stop_updated", 8, None, t + timedelta(seconds=10 * i))
                 for i in range(5)]
        rows += [("position_created", 7, None, t), ("stop_loss_placed", 7, None,
                                                    t + timedelta(milliseconds=800)),
                 ("order_error", None, "ERROR", t + timedelta(minutes=1)),
                 ("order_error", None, "ERROR", t + timedelta(minutes=9))]
        await conn.executemany(
            "INSERT INTO monitoring.events (event_type, position_id, severity, created_at)"
            " VALUES ($1, $2, coalesce($3, 'INFO'), $4)", rows)
        # After the run: outside the report's window.
        await conn.execute("INSERT INTO monitoring.events (event_type, severity, created_at)"
                           " VALUES ('order_error', 'ERROR', $1)", START + timedelta(hours=2))
    finally:
        await conn.close()


async def test_post_test_sql_fills_the_areas_over_the_runs_window(run, bot_db):
    await seed(bot_db)
    steps: list[str] = []
    # As the UI's `e` key runs it: in a worker thread, off the event loop.
    text, doc, _ = await asyncio.to_thread(
        build, run, config=config_for(bot_db), use_db=True,
        progress=lambda step, fraction: steps.append(step))
    db = doc["database_analysis"]
    assert db["status"] == "ok" and db["failed_sections"] == 0 and len(db["sections"]) == 14
    assert db["since"] == START.isoformat()
    assert db["until"] == (START + timedelta(minutes=40)).isoformat()
    trailing = next(a for a in doc["areas"] if a["key"] == "trailing_stop")
    outliers = trailing["tables"][0]
    assert outliers["title"].startswith("Update-frequency outliers (more than 20 updates)")
    assert [row[:2] for row in outliers["rows"]] == [["HOTUSDT bybit #7", 25]]
    errors = next(a for a in doc["areas"] if a["key"] == "errors")
    by_type = errors["tables"][0]
    row = dict(zip(by_type["columns"], by_type["rows"][0]))
    assert row["event_type"] == "order_error" and row["events"] == 2  # not the one after
    assert row["first_seen"].startswith("2025-10-15T09:06:20")
    assert row["last_seen"].startswith("2025-10-15T09:14:20")
    checks = {c["id"]: c for c in doc["health"]["checks"]}
    # Placing the first stop-loss after an open is not an SL update: shown, never decides.
    placement = checks["sl_placement_p95_ms"]
    assert placement["value"] == 800 and placement["status"] == "info"
    assert checks["sl_update_p95_ms"]["status"] == "n/a"
    assert doc["health"]["decided_by"] == ["critical_episodes"]
    assert "| HOTUSDT bybit #7 | 25 | 09:05:20 | 09:09:20 |" in text
    assert "### 03_trailing_stop: " in text and "database analysis" in steps


# -- errors and the command line ------------------------------------------------------------------

def test_bad_run_dir_is_one_line_with_a_hint(tmp_path):
    with pytest.raises(BotmonError) as missing:
        open_run(tmp_path / "nope")
    assert missing.value.exit_code == 2 and "no such run directory" in missing.value.line()
    assert "hint: pass the run directory botmon printed at start" in missing.value.line()
    with pytest.raises(BotmonError, match=r"not a botmon run directory \(no run.json\)"):
        build_audit_report(tmp_path, config_for())
    (tmp_path / "file").write_text("x")
    with pytest.raises(BotmonError, match="not a directory"):
        build_audit_report(tmp_path / "file", config_for())


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    report_cli.add_arguments(parser)
    return report_cli.run(parser.parse_args(argv))


def test_cli_writes_both_files_and_prints_them(run, capsys):
    assert cli([str(run), "--no-db", "--log", str(LOG)]) == 0
    out, err = capsys.readouterr()
    md, js = out.split()
    assert Path(md).name.startswith("audit_report_") and md.endswith(".md")
    assert Path(js).exists() and Path(md).parent == run
    assert "botmon report: health RED" in err and "38 of 40 minutes recorded" in err
    assert cli([str(run), "--no-db", "--no-logs", "--dsn", NO_DB]) == 0


def test_cli_bad_run_dir_exits_2_with_one_line(tmp_path, capsys):
    assert cli([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("botmon report: ")
    assert "Traceback" not in err


def test_cli_uses_the_runs_database_without_its_password():
    assert report_cli._run_dsn({"database": "postgresql://bot:***@db:5432/trading"}) == \
        "postgresql://bot@db:5432/trading"
    assert report_cli._run_dsn({"database": "(PG* environment)"}) is None


# -- the fixture is a real recording ---------------------------------------------------------------

def test_the_fixture_recorder_drives_the_real_monitor(tmp_path):
    spec = importlib.util.spec_from_file_location("record_run", RUNS / "record_run.py")
    recorder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recorder)
    target = tmp_path / "20251015_090000"
    asyncio.run(recorder.record(target))
    _, doc, _ = build(target, config=config_for(logs=False))
    _, committed, _ = build(_copy(FIXTURE, tmp_path), config=config_for(logs=False))
    # The committed files are what the current pipeline records (file names aside: the
    # snapshot file is named by the local date).
    assert doc["health"] == committed["health"]
    assert doc["statistics"] == committed["statistics"]
    assert doc["snapshots"]["line"] == committed["snapshots"]["line"] == COMPLETENESS
    assert [(i["episode"], i["frequency"], i["peak"]) for i in doc["issues"]] == \
        [(i["episode"], i["frequency"], i["peak"]) for i in committed["issues"]]


def _copy(source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "committed" / source.name
    shutil.copytree(source, target)
    return target


# -- an export during the run (`e`) ---------------------------------------------------------------

def _sample(now: datetime, next_id: list[int]):
    from tui.sources.samples import DbSample, EventRow, OpenPosition

    positions = tuple(OpenPosition(
        id=pid, symbol=f"S{pid}USDT", exchange="bybit" if pid % 2 else "binance", side="long",
        status="active", opened_at=now - timedelta(hours=1), entry_price=1.0, current_price=1.0,
        pnl_percent=0.0, unrealized_pnl=0.0, has_stop_loss=True, stop_loss_price=0.9,
        has_trailing_stop=True, ts_state=None, ts_activated=None, ts_stop_price=None)
        for pid in range(1, 7))
    rows = []
    for kind, exchange, severity in (("position_updated", "bybit", "INFO"),
                                     ("order_error", "binance", "ERROR")):
        rows.append(EventRow(id=next_id[0], created_at=now - timedelta(seconds=1),
                             event_type=kind, exchange=exchange, symbol="S1USDT",
                             severity=severity, position_id=1))
        next_id[0] += 1
    return DbSample(db_now=now, latency_ms=3.0, positions=positions, events=tuple(rows),
                    last_event_at=now - timedelta(seconds=1))


async def test_export_during_a_run_counts_only_the_minutes_that_have_passed(tmp_path):
    from tui.monitor import Monitor
    from tui.store.store import MetricStore

    config = config_for(logs=False)
    run_dir = RunDir.create(config, out=str(tmp_path))
    end = START + timedelta(hours=8)
    clock = [START]
    monitor = Monitor(config, run_dir, duration_s=8 * 3600, wall=lambda: clock[0].timestamp())
    monitor.store = MetricStore(config, run_start=START, run_end=end)
    run_dir.write_meta({"run_start": START, "planned_end": end, "duration_s": 8 * 3600,
                        "config": "defaults", "database": "(PG* environment)"})
    ids = [1]
    for second in range(0, 3 * 60 + 46, 2):  # `e` four minutes into an 8-hour run, 09:04:06
        clock[0] = START + timedelta(seconds=second)
        monitor.store.ingest(_sample(clock[0], ids))
        await monitor.tick(now=clock[0])
    now = clock[0]
    md_path, json_path = await asyncio.to_thread(
        build_audit_report, run_dir.path, config, report=monitor.live_report(), use_db=False,
        use_logs=False, now=now, tz=UTC)
    doc = json.loads(json_path.read_text())
    text = md_path.read_text()
    # 09:00 (partial) to 09:02 are written; 09:03 ended 6 s ago, its line is not due yet; the
    # rest of the eight hours has not happened.
    assert doc["snapshots"]["line"] == "3 of 3 minutes recorded; no gaps"
    checks = {c["id"]: c for c in doc["health"]["checks"]}
    assert checks["snapshot_minutes_missing"]["value"] == 0
    assert checks["snapshot_minutes_missing"]["status"] == "ok"
    assert doc["run"]["in_progress"] is True
    assert "| finished by | still running: exported during the run" in text
    assert any(n.startswith("exported during the run") for n in doc["notes"])


def test_per_exchange_splits_come_from_one_source(run):
    path = run / "monitoring_report_20251015_094020.json"
    final = json.loads(path.read_text())
    # The exact recount found late errors the minute lines do not have.
    final["metrics_summary"]["total_errors"] = 30
    final["metrics_summary"]["by_exchange"]["bybit"]["errors"] = 27
    path.write_text(json.dumps(final))
    _, doc, _ = build(run)
    stats = {f["label"]: f for f in doc["statistics"]}
    errors = next(a for a in doc["areas"] if a["key"] == "errors")
    area = {f["label"]: f for f in errors["facts"]}
    assert stats["errors (events)"]["value"] == area["errors (events)"]["value"] == 30
    # One split, the totals' own, and what no exchange carries is said, not dropped.
    assert stats["errors (events)"]["detail"] == area["errors (events)"]["detail"] == \
        "binance 1 · bybit 27 · no exchange 2"
    ws = {f["label"]: f for f in next(a for a in doc["areas"]
                                      if a["key"] == "websocket")["facts"]}
    assert ws["WebSocket reconnects"]["detail"] == stats["WebSocket reconnects"]["detail"] == \
        "binance 2 · bybit 0"


# -- figures without a source on this bot ---------------------------------------------------------

def test_a_counter_the_bot_never_writes_is_not_measurable_never_ok(tmp_path):
    run_dir = synthetic_run(tmp_path)
    text, doc, _ = build(run_dir, config=config_for(logs=False))
    checks = {c["id"]: c for c in doc["health"]["checks"]}
    ws = checks["ws_reconnects"]
    assert ws["status"] == "n/a" and ws["value"] is None
    assert "websocket" in ws["not_measurable"] and "logs.paths" in ws["not_measurable"]
    assert "| WebSocket reconnects | n/a: not measurable on this bot (this bot writes no " \
           "websocket_* events" in text
    stats = {f["label"]: f for f in doc["statistics"]}
    assert stats["WebSocket reconnects"]["value"] is None
    assert "not measurable on this bot" in stats["WebSocket reconnects"]["detail"]
    assert "| WebSocket reconnects | — | n/a: not measurable on this bot" in text
    assert doc["health"]["verdict"] == GREEN  # n/a never decides


def test_null_metrics_in_the_snapshot_lines_are_shown_with_their_reason(tmp_path):
    run_dir = synthetic_run(tmp_path)
    path = next(run_dir.glob("monitoring_snapshots_*.jsonl"))
    lines = [json.loads(t) for t in path.read_text().splitlines()]
    for line in lines:  # the monitor's coming format: no source -> null, and why
        line["values"].update({"zombies": None, "errors": None})
        line["unavailable"] = {"zombies": "this bot writes no zombie_order_cancelled events"}
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    text, doc, _ = build(run_dir, config=config_for(logs=False))
    stats = {f["label"]: f for f in doc["statistics"]}
    assert stats["zombie orders cleaned"]["value"] is None
    assert stats["zombie orders cleaned"]["detail"] == (
        "n/a: not measurable on this bot: this bot writes no zombie_order_cancelled events")
    assert stats["errors (events)"]["value"] is None
    checks = {c["id"]: c for c in doc["health"]["checks"]}
    assert checks["zombies"]["status"] == checks["errors"]["status"] == "n/a"
    assert checks["zombies"]["not_measurable"] == \
        "this bot writes no zombie_order_cancelled events"
    assert "| zombie orders cleaned | — | n/a: not measurable on this bot: this bot writes " \
           "no zombie_order_cancelled events |" in text


def test_websocket_reconnects_come_from_the_log_when_the_bot_writes_no_events(tmp_path):
    run_dir = synthetic_run(tmp_path)
    _, doc, _ = build(run_dir, config=config_for(logs=True))
    checks = {c["id"]: c for c in doc["health"]["checks"]}
    ws = checks["ws_reconnects"]
    reconnects = doc["log_analysis"]["report"]["websocket"]["counts"]["reconnect"]
    assert ws["value"] == reconnects and ws["source"].startswith("the bot's log files")
    assert ws["detail"].startswith("events: n/a: not measurable on this bot")


# -- corrections of sealed minutes ----------------------------------------------------------------

def test_correction_records_replace_a_minutes_content(tmp_path):
    run_dir = synthetic_run(tmp_path, minutes=5, errors=1)
    path = next(run_dir.glob("monitoring_snapshots_*.jsonl"))
    lines = [json.loads(t) for t in path.read_text().splitlines()]
    late = dict(lines[2], kind="correction", timestamp=lines[4]["timestamp"], late_events=7)
    late["values"] = {**lines[2]["values"], "errors": 8, "events": 17}
    path.write_text(path.read_text() + json.dumps(late) + "\n")
    _, doc, _ = build(run_dir, config=config_for(logs=False))
    stats = {f["label"]: f["value"] for f in doc["statistics"]}
    assert stats["errors (events)"] == 12  # 1 + 1 + 8 + 1 + 1, not 5
    facts = {f["label"]: f for f in next(a for a in doc["areas"]
                                         if a["key"] == "data_integrity")["facts"]}
    assert facts["minutes corrected by late events"]["value"] == 1
    assert f"{path.name}:6" in facts["minutes corrected by late events"]["detail"]
    assert doc["snapshots"]["line"] == "5 of 5 minutes recorded; no gaps"


# -- formatting -----------------------------------------------------------------------------------

def test_gap_reasons_carry_no_command_line_hints(tmp_path):
    run_dir = synthetic_run(tmp_path, minutes=4)
    path = next(run_dir.glob("monitoring_snapshots_*.jsonl"))
    lines = path.read_text().splitlines()
    lines[2] = json.dumps(gap_record(
        datetime(2025, 10, 15, 9, 2, tzinfo=UTC),
        "database unreachable: host=db port=5432 database=bot user=bot: cannot reach the "
        "database: [Errno 111] Connect call failed (hint: check --dsn / PG* variables / "
        "~/.pgpass, or try `botmon demo` for a self-contained run)", {}))
    path.write_text("\n".join(lines) + "\n")
    text, doc, _ = build(run_dir, config=config_for(logs=False))
    assert doc["snapshots"]["line"].endswith("[Errno 111] Connect call failed")
    assert "hint:" not in text and "botmon demo" not in text


def test_numbers_read_as_people_read_them():
    from tui.outputs.audit_areas import money
    from tui.outputs.audit_render import Formatter

    fmt = Formatter(UTC, START)
    assert fmt.value(-0.001) == "0" and fmt.value(-0.25) == "-0.25" and fmt.value(2.0) == "2"
    assert money(26, "USDT") == "26.00 USDT" and money(-0.001, "USDT") == "0.00 USDT"
    assert money(5.5, None) == "5.50 (quote currency; mixed or unknown)"


def test_win_rate_has_its_percent_and_pnl_its_currency(run):
    from tui.outputs import audit_areas as areas
    from tui.outputs.audit_data import completeness, read_run
    from tui.outputs.audit_render import render
    from tui.outputs.audit_report import build_document

    data = read_run(open_run(run), now=NOW)
    db = {"status": "ok", "since": START.isoformat(), "until": NOW.isoformat(), "seconds": 0.1,
          "failed_sections": 0, "sections": [{
              "section": "08_pnl_win_rate", "title": "PnL", "seconds": 0.0, "rows": [
                  {"exchange": "ALL", "closed": 6, "wins": 3, "losses": 2,
                   "win_rate_pct": 60, "total_pnl": -12.5, "pnl_unit": "USDT"}]}]}
    doc = build_document(data, config_for(logs=False), completeness(data),
                         {"status": "skipped", "reason": "test"}, db, now=NOW, tz=UTC,
                         names=("a.md", "a.json"))
    stats = {f["label"]: f for f in doc["statistics"]}
    assert stats["closed positions: win rate"]["value"] == 60
    assert stats["closed positions: win rate"]["unit"] == "%"
    text = render(doc, UTC)
    assert "| closed positions: win rate | 60% | 6 closed, total PnL -12.50 USDT |" in text
    assert areas.money(None, "USDT") == "—"


def test_the_final_reports_not_measurable_counters_are_n_a(run):
    path = run / "monitoring_report_20251015_094020.json"
    final = json.loads(path.read_text())
    final["metrics_summary"]["total_zombies"] = None
    final["metrics_summary"]["not_measurable"] = {
        "zombies": "no zombie_order_cancelled event in this database"}
    path.write_text(json.dumps(final))
    text, doc, _ = build(run)
    checks = {c["id"]: c for c in doc["health"]["checks"]}
    assert checks["zombies"]["status"] == "n/a"
    assert checks["zombies"]["not_measurable"] == \
        "no zombie_order_cancelled event in this database"
    zombies = next(a for a in doc["areas"] if a["key"] == "zombies")
    assert zombies["facts"][0]["value"] is None
    assert zombies["facts"][0]["detail"].startswith("n/a: not measurable on this bot: no zombie")
