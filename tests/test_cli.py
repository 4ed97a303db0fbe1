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
