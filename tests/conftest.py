"""Shared fixtures: one real PostgreSQL server per test process (per xdist worker).

Each test that needs the bot's database gets a fresh database cloned from a template holding the
reference schema (``sql/schema/bot.sql``): cloning takes milliseconds, so tests never share rows.
"""

from __future__ import annotations

import contextlib
import itertools
import shutil
import tempfile
from pathlib import Path

import pytest

from tui.demo.embedded import EmbeddedPostgres, create_bot_database, psql

_TEMPLATE = "bot_template"
_counter = itertools.count(1)


@contextlib.contextmanager
def embedded_server(prefix: str):
    """A server of its own, started from the main thread (PDEATHSIG) with its data under a
    short /tmp path (pytest's tmp_path can exceed the Unix socket path limit)."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    server = EmbeddedPostgres(root / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server():
    with embedded_server("botmon-test-") as server:
        create_bot_database(server, _TEMPLATE)
        yield server


@pytest.fixture
def bot_db(pg_server) -> str:
    """DSN of a fresh database with the bot's schema and no rows."""
    name = f"bot_{next(_counter)}"
    dsn = create_bot_database(pg_server, name, template=_TEMPLATE)
    yield dsn
    psql(pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
