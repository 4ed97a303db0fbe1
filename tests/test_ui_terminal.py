"""The terminal goes away (ssh drop, closed tmux pane): report first, then the process exits.

Runs the real app (not headless) in a pseudo-terminal in a child process, then closes the
terminal. Before tui/ui/terminal.py, the report was written but the process hung forever in
Textual's shutdown (its output thread had died on EIO and the exit blocked on a full queue).
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHILD = """
import asyncio, sys, time
from datetime import timedelta
from pathlib import Path
from tests.test_ui_support import T0, synthetic_store
from tui.config import load_config
from tui.monitor import Monitor
from tui.outputs.rundir import RunDir
from tui.recorder import Recorder
from tui.ui.app import run_app

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
store = synthetic_store()
now = T0 + timedelta(minutes=14, seconds=20)
config = load_config(environ={}, overrides={"database.dsn": "postgresql://x@127.0.0.1:1/x",
                                            "poll.max_backoff_s": 1.0})
monitor = Monitor(config, RunDir(out), duration_s=None)
monitor.store = store
monitor.clock.offset = now.timestamp() - time.time()  # the store's (pinned) database clock

async def main():
    recorder = Recorder.in_thread(monitor)
    ending = await run_app(recorder, store.view(now))
    await recorder.shutdown()
    (out / "finished_by").write_text(ending.finished_by)

asyncio.run(main())
"""


def _controlling_tty() -> None:  # in the child, after setsid (start_new_session)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pty semantics of Linux")
def test_closing_the_terminal_writes_the_report_and_exits(tmp_path):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "TZ": "UTC"}
    env.pop("TEXTUAL", None)
    run = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(run)], cwd=REPO, env=env,
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                            preexec_fn=_controlling_tty)
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + 60
        while b"Current state" not in seen:  # wait for the app's first frame
            ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"the app never drew: {seen[-400:]!r}"
            try:
                seen += os.read(master, 1 << 16)
            except OSError:
                pytest.fail(f"the child closed the terminal: {seen[-400:]!r}")
    finally:
        os.close(master)  # the terminal goes away: SIGHUP, and reads/writes fail with EIO
    try:
        assert proc.wait(timeout=60) == 0
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("the app did not exit after its terminal closed")
    finished_by = (run / "finished_by").read_text()
    assert finished_by in ("signal SIGHUP", "terminal closed")
    report = json.loads(next(run.glob("monitoring_report_*.json")).read_text())
    assert report["finished_by"] == finished_by
