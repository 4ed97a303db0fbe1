"""The command line as an operator meets it: bad input, a short headless run, the demo."""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tui.cli import main
from tui.demo.embedded import psql


def test_unreachable_database_is_one_line_without_password(tmp_path, capsys):
    code = main(["run", "--headless", "--dsn", "postgresql://bot:s3cret@127.0.0.1:1/botdb",
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    for part in ("host=127.0.0.1", "port=1", "database=botdb", "user=bot", "botmon demo"):
        assert part in err
    assert "s3cret" not in err
    assert list(tmp_path.iterdir()) == []  # no empty run directory left behind


def test_database_without_the_bot_schema_lists_every_missing_table(pg_server, tmp_path, capsys):
    psql(pg_server, 'CREATE DATABASE "empty_db"')
    try:
        code = main(["run", "--headless", "--dsn", pg_server.dsn("empty_db"),
                     "--out", str(tmp_path)])
    finally:
        psql(pg_server, 'DROP DATABASE "empty_db"')
    err = capsys.readouterr().err
    assert code == 2
    for part in ("monitoring.events (database.events_table)",
                 "monitoring.positions (database.positions_table)",
                 "monitoring.trailing_stop_state (database.trailing_stop_table)"):
        assert part in err


def test_bad_config_exits_2(tmp_path, capsys):
    config = tmp_path / "botmon.toml"
    config.write_text("[run]\nduration = 8\n")
    assert main(["--config", str(config)]) == 2
    assert "did you mean 'duration_hours'" in capsys.readouterr().err


def test_short_headless_run_writes_the_report_and_exits_0(bot_db, tmp_path, capsys,
                                                         monkeypatch):
    monkeypatch.setenv("BOTMON_RUN_SNAPSHOT_GRACE_S", "0")
    code = main(["--headless", "--dsn", bot_db, "--minutes", "0.02", "--interval", "0.2",
                 "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "final report:" in out
    (run,) = tmp_path.iterdir()
    (report,) = run.glob("monitoring_report_*.json")
    data = json.loads(report.read_text())
    assert data["finished_by"] == "duration"
    assert 1.1 <= data["monitoring_duration_minutes"] * 60 <= 1.3
    assert (run / "run.json").exists() and (run / "botmon.log").exists()


def _start_demo(data_dir: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "tui", "demo", "--headless", "--data-dir", str(data_dir),
         "--out", str(out), "--speed", "30", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)


def _read_until(proc: subprocess.Popen, marker: str) -> str:
    seen = []
    for line in proc.stdout:  # blocks on the child's output, no timing guesses
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError("demo ended early:\n" + "".join(seen))


def _server_pid(data_dir: Path) -> int:
    return int((data_dir / "pg" / "postmaster.pid").read_text().splitlines()[0])


def _wait_exit(pid: int, timeout: float = 20.0) -> bool:
    """Wait for a process that is not our child to end (pidfd: no polling loop)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


@pytest.fixture
def demo_dirs():
    root = Path(tempfile.mkdtemp(prefix="botmon-demo-", dir="/tmp"))
    yield root / "data", root / "runs"
    shutil.rmtree(root, ignore_errors=True)


def test_demo_stops_cleanly_on_sigterm_with_a_report_and_no_server_left(demo_dirs):
    data_dir, out = demo_dirs
    proc = _start_demo(data_dir, out)
    _read_until(proc, "monitoring since")
    pid = _server_pid(data_dir)
    proc.send_signal(signal.SIGTERM)
    rest = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, rest
    assert "final report:" in rest
    assert _wait_exit(pid)
    (run,) = out.iterdir()
    report = json.loads(next(run.glob("monitoring_report_*.json")).read_text())
    assert report["finished_by"] == "signal SIGTERM"


def test_demo_server_dies_with_a_killed_monitor(demo_dirs):
    data_dir, out = demo_dirs
    proc = _start_demo(data_dir, out)
    _read_until(proc, "monitoring since")
    pid = _server_pid(data_dir)
    proc.kill()
    proc.communicate(timeout=30)
    assert _wait_exit(pid), "the embedded server outlived its parent"


# -- bad input: one line, exit 2, nothing left behind ---------------------------------------------

@pytest.mark.parametrize("args, env, says", [
    (["--dsn", "postgresql://bot@127.0.0.1:notaport/x"], {},
     "--dsn (database.dsn): port 'notaport' is not a port number"),
    (["--dsn", "postgresql://bot:s3cret@[::1/x"], {},
     "--dsn (database.dsn): malformed host (Invalid IPv6 URL)"),
    (["--dsn", "postgresql://bot@db:99999/x"], {}, "port '99999' is not a port number"),
    (["--dsn", "postgresql://bot@db/x?port=abc"], {}, "port parameter 'abc'"),
    (["--dsn", "mysql://bot@db/x"], {}, "scheme 'mysql' is not postgresql://"),
    (["--dsn", "host=db dbname=x"], {}, "not a connection URI"),
    ([], {"PGPORT": "abc"}, "environment PGPORT: 'abc' is not a port number"),
    ([], {"PGHOST": "[::1"}, "environment PGHOST: malformed host '[::1'"),
    ([], {"BOTMON_DATABASE_DSN": "postgresql://b@h:x/y"},
     "environment BOTMON_DATABASE_DSN: port 'x' is not a port number"),
])
def test_malformed_connection_settings(args, env, says, tmp_path, capsys, monkeypatch):
    for name in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["run", "--headless", *args, "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and says in err and "Traceback" not in err
    assert "s3cret" not in err
    assert not (tmp_path / "runs").exists()  # validated before a run directory exists


@pytest.mark.parametrize("args, says", [
    (["run", "--minutes", "-5"], "argument --minutes: expected a number of minutes > 0, got '-5'"),
    (["run", "--minutes", "0"], "expected a number of minutes > 0"),
    (["run", "--minutes", "nan"], "expected a number of minutes > 0"),
    (["run", "--duration", "-1"], "argument --duration: expected a number of hours >= 0"),
    (["run", "--duration", "inf"], "expected a number of hours >= 0"),
    (["run", "--interval", "0"], "argument --interval: expected a number of seconds > 0"),
    (["run", "--interval", "abc"], "expected a number of seconds, got 'abc'"),
    (["demo", "--speed", "0"], "argument --speed: expected a speed-up factor > 0"),
    (["demo", "--speed", "-3"], "expected a speed-up factor > 0"),
    (["demo", "--minutes", "-5"], "argument --minutes"),
])
def test_negative_and_nonsense_numbers_are_refused(args, says, tmp_path, capsys):
    code = main([*args, "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith(f"botmon {args[0]}: ") and says in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("text, key", [
    ("[poll]\ninterval_s = nan\n", "'poll.interval_s': expected a finite number"),
    ("[run]\nduration_hours = inf\n", "'run.duration_hours': expected a finite number"),
    ("[run]\nsnapshot_grace_s = -1\n", "'run.snapshot_grace_s': expected a number >= 0"),
    ("[check]\nmin_free_mb = -5\n", "'check.min_free_mb': expected a number >= 0"),
    ("[database]\nport = 70000\n", "'database.port': expected a port 1..65535"),
])
def test_config_numbers_are_validated_where_they_were_written(text, key, tmp_path, capsys):
    config = tmp_path / "botmon.toml"
    config.write_text(text)
    assert main(["run", "--config", str(config), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{config}:2: key {key}" in err


def test_a_missing_rules_directory_is_one_line(tmp_path, capsys):
    config = tmp_path / "botmon.toml"
    config.write_text('[paths]\nrules_dir = "nope"\n')
    code = main(["run", "--config", str(config), "--dsn", "postgresql://x@127.0.0.1:1/x",
                 "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"botmon run: {tmp_path / 'nope'}: no such rules directory")
    assert not (tmp_path / "runs").exists()


def test_an_unexpected_error_while_opening_leaves_no_run_directory(tmp_path, monkeypatch):
    from tui.monitor import Monitor

    async def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(Monitor, "open", broken)
    with pytest.raises(RuntimeError):
        main(["run", "--headless", "--dsn", "postgresql://x@127.0.0.1:1/x",
              "--out", str(tmp_path)])
    assert list(tmp_path.iterdir()) == []


def test_a_closed_pipe_is_not_a_traceback():
    real = Path(__file__).resolve().parents[2] / "shared" / "real"
    proc = subprocess.Popen([sys.executable, "-m", "tui", "replay", "--json", str(real)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # `| true`: the reader is gone before the replay (~1 s) writes a byte
    err = proc.stderr.read()
    proc.wait(timeout=30)
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert proc.returncode == 141  # as `cat` ends on a closed pipe


def test_after_a_demo_the_report_keeps_its_database_and_log_sections(pg_server, tmp_path,
                                                                      capsys):
    import contextlib

    from tui.cli import start_monitor
    from tui.config import load_config
    from tui.demo.embedded import create_bot_database
    from tui.outputs import report_cli

    dsn = create_bot_database(pg_server, "demo_gone", template="bot_template")
    log = tmp_path / "monitoring_logs" / "bot_20261128_120000.log"
    log.parent.mkdir()
    log.write_text("2026-11-28 12:00:00,000 - main - INFO - 🚀 Starting bot\n")

    @contextlib.asynccontextmanager
    async def simulated_bot():  # what `botmon demo` runs around the monitor
        yield

    config = load_config(environ={"BOTMON_RUN_SNAPSHOT_GRACE_S": "0"}, overrides={
        "database.dsn": dsn, "poll.interval_s": 0.2, "logs.paths": [str(log)]})
    assert start_monitor(config, 1.2, headless=True, out=str(tmp_path / "runs"),
                         background=simulated_bot) == 0
    (run,) = (tmp_path / "runs").iterdir()
    meta = json.loads((run / "run.json").read_text())
    assert meta["demo"] is True and meta["logs"] == [str(log)]
    assert (run / "database_analysis.json").exists()
    psql(pg_server, 'DROP DATABASE "demo_gone" WITH (FORCE)')  # the demo ended
    capsys.readouterr()

    parser = __import__("argparse").ArgumentParser()
    report_cli.add_arguments(parser)
    assert report_cli.run(parser.parse_args([str(run)])) == 0
    json_path = Path(capsys.readouterr().out.split()[1])
    doc = json.loads(json_path.read_text())
    db = doc["database_analysis"]
    assert db["status"] == "ok" and db["kept_from"] == "database_analysis.json"
    assert len(db["sections"]) == 14
    assert any(n.startswith("database analysis: kept from database_analysis.json")
               for n in doc["notes"])
    assert doc["log_analysis"]["status"] == "ok"  # the log the run followed (run.json)
    assert doc["log_analysis"]["files"] == [str(log)]


def test_a_report_without_its_database_says_how_to_get_it(tmp_path):
    from tui.config import load_config
    from tui.outputs.audit_report import build_audit_report
    from tui.outputs.rundir import RunDir

    fixture = Path(__file__).parent / "fixtures" / "runs" / "20251015_090000"
    run = tmp_path / fixture.name
    shutil.copytree(fixture, run)
    config = load_config(environ={}, overrides={"database.dsn": "postgresql://b@127.0.0.1:1/x"})
    _, json_path = build_audit_report(run, config, use_logs=False)
    reason = json.loads(json_path.read_text())["database_analysis"]["reason"]
    assert f"run `botmon report {run} --dsn postgresql://USER@HOST/DB`" in reason
    meta = json.loads((run / "run.json").read_text())
    RunDir(run).write_meta({**meta, "demo": True})
    _, json_path = build_audit_report(run, config, use_logs=False)
    reason = json.loads(json_path.read_text())["database_analysis"]["reason"]
    assert reason.endswith("the demo's database lived only while `botmon demo` ran")
