"""`botmon check` on a good and on a broken setup."""

from __future__ import annotations

import io
import re

import asyncpg
import pytest

from tui.check import FAIL, PASS, WARN, Check, print_checks, run_checks
from tui.cli import main
from tui.config import load_config


def _setup(tmp_path, env_text: str, log_dir: bool = True):
    (tmp_path / ".env").write_text(env_text)
    logs = tmp_path / "monitoring_logs"
    if log_dir:
        logs.mkdir()
        (logs / "bot_20261123_080000.log").write_text("2026-11-23 08:00:00,000 - main - INFO - hi\n")
    config = tmp_path / "botmon.toml"
    config.write_text('[logs]\npaths = ["monitoring_logs/bot_*.log"]\n'
                      '[run]\nout_dir = "runs"\n')
    return config


async def _event(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    await conn.execute("INSERT INTO monitoring.events (event_type) VALUES ('bot_started')")
    await conn.close()


def by_name(checks):
    return {c.name: c for c in checks}


async def test_good_setup_passes(bot_db, tmp_path):
    await _event(bot_db)
    path = _setup(tmp_path, "BINANCE_TESTNET=true\nexport BYBIT_TESTNET='True'\nAPI_KEY=x\n")
    config = load_config(path, environ={}, overrides={"database.dsn": bot_db})
    from tui.check import check_database

    checks = by_name([*run_checks(config, database=False), *await check_database(config)])
    # This database holds only bot_started: the event counters have no source yet (WARN).
    assert all(c.status == PASS for n, c in checks.items() if not n.startswith("no source")), \
        checks
    assert "BINANCE_TESTNET, BYBIT_TESTNET = true" in checks["testnet flags"].detail
    assert "ms" in checks["database reachable"].detail


async def test_check_names_the_counters_this_database_gives_no_source_for(bot_db, tmp_path):
    """The current bot's types, no websocket event (no version writes one), and an
    aged_position_detected only from weeks ago (the 2025-10 bot)."""
    conn = await asyncpg.connect(bot_db)
    await conn.execute(
        "INSERT INTO monitoring.events (event_type) SELECT unnest($1::text[])",
        ["position_updated", "trailing_stop_activated", "trailing_stop_sl_updated",
         "trailing_stop_sl_update_failed", "zombie_order_cancelled", "warning_raised",
         "positions_without_sl_detected", "position_closed", "position_created"])
    await conn.execute("INSERT INTO monitoring.events (event_type, created_at) VALUES "
                       "('aged_position_detected', now() - interval '40 days')")
    await conn.close()
    config = load_config(environ={}, overrides={"database.dsn": bot_db})
    from tui.check import check_database

    checks = by_name(await check_database(config))
    missing = {n.removeprefix("no source: "): c for n, c in checks.items()
               if n.startswith("no source")}
    assert set(missing) == {"ws_reconnects", "aged_detected"}
    assert all(c.status == WARN for c in missing.values())
    assert "no version does" in missing["ws_reconnects"].detail
    assert "log" in missing["ws_reconnects"].detail
    assert "no longer writes it" in missing["aged_detected"].detail
    assert checks["figure sources"].status == PASS


async def test_broken_setup_names_every_failure(bot_db, tmp_path):
    conn = await asyncpg.connect(bot_db)
    await conn.execute("ALTER TABLE monitoring.positions DROP COLUMN has_stop_loss")
    await conn.close()
    path = _setup(tmp_path, "BINANCE_TESTNET=false\nBYBIT_TESTNET=true\n", log_dir=False)
    config = load_config(path, environ={}, overrides={"database.dsn": bot_db})
    from tui.check import check_database

    checks = by_name([*run_checks(config, database=False), *await check_database(config)])
    assert checks["testnet flags"].status == FAIL
    assert "BINANCE_TESTNET not true" in checks["testnet flags"].detail
    assert checks["log directory"].status == FAIL
    assert checks["tables and columns"].status == FAIL
    assert "has_stop_loss" in checks["tables and columns"].detail
    assert checks["disk space"].status == PASS


def test_missing_env_file_is_a_warning(tmp_path):
    config = load_config(environ={}, overrides={"run.out_dir": str(tmp_path)})
    checks = by_name(run_checks(config, database=False))
    assert checks["testnet flags"].status in (WARN, PASS)


def test_run_refuses_to_start_on_a_fail_unless_forced(bot_db, tmp_path, capsys, monkeypatch):
    path = _setup(tmp_path, "BINANCE_TESTNET=false\n")
    monkeypatch.chdir(tmp_path)
    code = main(["run", "--headless", "--config", str(path), "--dsn", bot_db, "--minutes", "1"])
    err = capsys.readouterr().err
    assert code == 2
    assert "botmon run: pre-flight testnet flags: " in err and "BINANCE_TESTNET not true" in err
    assert "--force" in err and "Traceback" not in err
    assert all(line.startswith("botmon run: ") for line in err.splitlines())
    assert not (tmp_path / "runs").exists()


def test_check_exit_codes(bot_db, tmp_path, capsys):
    bad = tmp_path / "rules.toml"
    bad.write_text('[[rule]]\nname = "x"\nseverity = "warning"\nmetric = "erors"\n'
                   'window = "current"\nop = ">"\nthreshold = 1\n')
    assert main(["check", "--rules", str(bad)]) == 2
    assert "did you mean 'errors'" in capsys.readouterr().err
    assert main(["check", "--dsn", "postgresql://x@127.0.0.1:1/nope"]) == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _checks() -> list[Check]:
    return [Check(PASS, "configuration", "botmon.toml: valid"),
            Check(FAIL, "database reachable", "host=db port=5432 database=trading user=bot: "
                  "cannot reach the database: [Errno 111] Connect call failed " * 2,
                  "check --dsn / PG* variables / ~/.pgpass")]


@pytest.mark.parametrize("columns", [60, 80, 200])
def test_the_table_fits_the_terminal(columns, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(columns))
    out = _Terminal()
    print_checks(_checks(), file=out)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())  # colours are not columns
    lines = text.splitlines()
    assert lines and max(len(line) for line in lines) <= columns
    assert "FAIL" in text and "Connect" in text


def test_piped_checks_are_one_plain_line_each():
    out = io.StringIO()
    print_checks(_checks(), file=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0] == "PASS  configuration: botmon.toml: valid"
    assert lines[1].startswith("FAIL  database reachable: host=db port=5432")
    assert lines[1].endswith("(fix: check --dsn / PG* variables / ~/.pgpass)")


def test_check_with_a_missing_rules_directory_exits_2(tmp_path, capsys):
    config = tmp_path / "botmon.toml"
    config.write_text('[paths]\nrules_dir = "nope"\n')
    assert main(["check", "--config", str(config), "--dsn",
                 "postgresql://x@127.0.0.1:1/nope"]) == 2
    out, err = capsys.readouterr()
    assert "FAIL  alert rules: " in out and "no such rules directory" in out
    assert "2 FAIL: alert rules, database reachable" in err
