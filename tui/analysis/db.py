"""Post-test analysis: run the sections in ``sql/analysis/NN_*.sql`` against the bot's database.

One read-only connection, one REPEATABLE READ read-only transaction (every section sees the same
snapshot and the same ``now()``), each section in its own savepoint: a section that fails (bad
SQL, a table or column this database lacks, its statement timeout) is reported with a one-line
error and rolled back to its savepoint, and the next section runs as if nothing happened.

Section files are plain SQL, one statement each. The first line ``-- title: ...`` names the
section. A section built on event types this bot may never write says so in its leading comments
with ``-- not measurable when empty: <why>``: when it returns no rows, the result carries
``"not_measurable": <why>`` instead of passing for an empty, healthy table. Table names are written as ``{events}``, ``{positions}``, ``{trailing_stop}``,
``{orders}``, ``{schema}`` (see :func:`tui.sources.connect.render_sql`); values come in as bind
parameters with fixed numbers, never formatted into the text:

====  =======================  ==========================================================
 $1   since (timestamptz)       start of the window, inclusive
 $2   until (timestamptz)       end of the window, exclusive
 $3   open_statuses (text[])    positions.open_statuses
 $4   aged_hours (float8)       positions.aged_hours
 $5   error_patterns (text[])   events.errors as LIKE patterns (``*_failed`` -> ``%\\_failed``)
 $6   error_severities (text[]) events.error_severities
 $7   stop_loss_check (text)    positions.stop_loss_check
====  =======================  ==========================================================

A section may use any subset: the runner renumbers the parameters a file uses to ``$1..$k`` and
binds only those (PostgreSQL rejects parameters a statement does not use).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

import asyncpg

from tui.config import Config
from tui.errors import BotmonError
from tui.sources.connect import connect, render_sql

DEFAULT_TIMEOUT_S = 20.0
DEFAULT_SINCE = timedelta(hours=24)
# "All time": earlier than anything the bot can have written, and a plain value asyncpg binds.
ALL_TIME = datetime(1970, 1, 1, tzinfo=timezone.utc)

PARAMETERS = ("since", "until", "open_statuses", "aged_hours", "error_patterns",
              "error_severities", "stop_loss_check")

_SECTION_FILE = re.compile(r"^\d+_[A-Za-z0-9_.-]*\.sql$")
_TITLE = re.compile(r"^\s*--\s*title\s*:\s*(.*?)\s*$", re.IGNORECASE)
_WHEN_EMPTY = re.compile(r"^\s*--\s*not measurable when empty\s*:\s*(.*?)\s*$", re.IGNORECASE)
# Literals, quoted identifiers and comments are skipped; only bare $n are parameters.
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\$(\d+)\b",
                     re.DOTALL)


@dataclass(frozen=True)
class Section:
    name: str  # file stem, e.g. "05_performance"
    title: str
    path: Path
    text: str
    problem: str | None = None  # the file could not be read
    when_empty: str | None = None  # no rows means "not measurable on this bot": why


def analysis_dir(config: Config) -> Path:
    return config.sql_dir / "analysis"


def load_sections(config: Config, only: Sequence[str] = ()) -> list[Section]:
    """The section files in name order; ``only`` keeps those whose name starts with/contains one
    of the given strings (``05``, ``errors``)."""
    folder = analysis_dir(config)
    if not folder.is_dir():
        raise BotmonError(str(folder), "no analysis SQL folder",
                          "check paths.sql_dir: it must contain analysis/NN_name.sql files")
    sections = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or not _SECTION_FILE.match(path.name):
            continue
        if only and not any(path.stem.startswith(o) or o in path.stem for o in only):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            sections.append(Section(path.stem, path.stem, path, "",
                                    f"cannot read {path}: {exc}"))
            continue
        first = text.splitlines()[0] if text.strip() else ""
        match = _TITLE.match(first)
        title = match.group(1) if match and match.group(1) else path.stem
        sections.append(Section(path.stem, title, path, text, when_empty=_when_empty(text)))
    if not sections:
        raise BotmonError(str(folder), "no analysis sections found"
                          + (f" matching {', '.join(only)}" if only else ""),
                          "files are named NN_name.sql, e.g. 01_positions_summary.sql")
    return sections


def _when_empty(text: str) -> str | None:
    for line in text.splitlines():
        if not line.lstrip().startswith("--"):
            break  # only the leading comment block
        match = _WHEN_EMPTY.match(line)
        if match and match.group(1):
            return match.group(1)
    return None


def glob_to_like(pattern: str) -> str:
    """``*_failed`` -> ``%\\_failed``: ``*``/``?`` become ``%``/``_``, the rest is literal."""
    out = []
    for char in pattern:
        if char == "*":
            out.append("%")
        elif char == "?":
            out.append("_")
        elif char in "%_\\":
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def parameter_values(config: Config, since: datetime, until: datetime) -> list[Any]:
    """The values of $1..$7, in the order of :data:`PARAMETERS`."""
    return [
        since,
        until,
        list(config.positions.open_statuses),
        float(config.positions.aged_hours),
        [glob_to_like(p) for p in config.events.errors],
        list(config.events.error_severities),
        config.positions.stop_loss_check,
    ]


def bind(sql: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """Renumber the ``$n`` a statement uses to ``$1..$k`` and pick their values."""
    used: set[int] = set()
    for match in _TOKENS.finditer(sql):
        if match.group(1):
            used.add(int(match.group(1)))
    unknown = sorted(n for n in used if not 1 <= n <= len(values))
    if unknown:
        names = ", ".join(f"${i + 1} {name}" for i, name in enumerate(PARAMETERS))
        raise ValueError(f"uses ${unknown[0]}, but only these parameters exist: {names}")
    order = sorted(used)
    mapping = {old: new for new, old in enumerate(order, 1)}

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return f"${mapping[int(match.group(1))]}"
        return match.group(0)

    return _TOKENS.sub(replace, sql), [values[n - 1] for n in order]


def _line_of(sql: str, position: Any) -> int | None:
    try:
        offset = int(position)
    except (TypeError, ValueError):
        return None
    return sql.count("\n", 0, max(offset - 1, 0)) + 1


def describe_error(exc: BaseException, sql: str = "", timeout_s: float | None = None) -> str:
    """One line: what went wrong, and where in the file when PostgreSQL says so."""
    if isinstance(exc, asyncpg.QueryCanceledError) and "statement timeout" in str(exc):
        limit = f" after {timeout_s:g} s" if timeout_s else ""
        text = f"timed out{limit} (statement_timeout); raise --timeout-s or narrow --since"
    elif isinstance(exc, TimeoutError):
        text = "timed out waiting for the server"
    elif isinstance(exc, asyncpg.PostgresError):
        text = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
        line = _line_of(sql, getattr(exc, "position", None))
        if line:
            text += f" (line {line})"
        hint = getattr(exc, "hint", None)
        if hint:
            text += f" (hint: {hint})"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return " ".join(text.split())


async def _prepare_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, schema="pg_catalog", encoder=json.dumps,
                                  decoder=json.loads)


async def run_sections(conn: asyncpg.Connection, config: Config, since: datetime,
                       until: datetime, sections: Sequence[Section] | None = None,
                       timeout_s: float | None = None) -> list[dict[str, Any]]:
    """Run each section in its own savepoint on ``conn`` (inside a transaction if one is open).

    Returns ``[{"section", "title", "rows", "seconds"} | {"section", "title", "error",
    "seconds"}]``; rows are dicts of Python values (Decimal, datetime, ...); an empty section
    whose file says "not measurable when empty" also has ``"not_measurable": why``.
    """
    sections = list(sections) if sections is not None else load_sections(config)
    values = parameter_values(config, since, until)
    results: list[dict[str, Any]] = []
    for section in sections:
        started = time.perf_counter()
        entry: dict[str, Any] = {"section": section.name, "title": section.title}
        sql = ""
        try:
            if conn.is_closed():
                raise ConnectionError("the database connection was lost")
            if section.problem:
                raise ValueError(section.problem)
            sql, args = bind(render_sql(config, section.text), values)
            if not _has_statement(sql):
                raise ValueError(f"{section.path.name} holds no SQL statement")
            async with conn.transaction():  # a savepoint inside the analysis transaction
                records = await conn.fetch(sql, *args)
            entry["rows"] = [dict(record) for record in records]
            if not records and section.when_empty:
                entry["not_measurable"] = section.when_empty
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError,
                ValueError, ConnectionError) as exc:
            entry["error"] = describe_error(exc, sql, timeout_s)
        entry["seconds"] = round(time.perf_counter() - started, 3)
        results.append(entry)
    return results


def _has_statement(sql: str) -> bool:
    """False for a file of only comments, whitespace and semicolons."""
    def keep(match: re.Match[str]) -> str:
        return match.group(0) if match.group(0)[0] in "'\"$" else " "

    return bool(_TOKENS.sub(keep, sql).replace(";", " ").strip())


@dataclass
class Analysis:
    since: datetime
    until: datetime
    all_time: bool
    sections: list[dict[str, Any]]
    seconds: float

    @property
    def failed(self) -> int:
        return sum(1 for s in self.sections if "error" in s)


async def analyze(config: Config, *, since: datetime | timedelta | None = DEFAULT_SINCE,
                  until: datetime | None = None, timeout_s: float = DEFAULT_TIMEOUT_S,
                  only: Sequence[str] = ()) -> Analysis:
    """Open a read-only connection and run the sections over [since, until).

    ``until`` defaults to the database's ``now()``; ``since`` is a time, a duration before
    ``until``, or ``None`` for all time. Connection problems raise :class:`DatabaseUnavailable`;
    section problems are reported per section.
    """
    sections = load_sections(config, only)
    started = time.perf_counter()
    conn = await connect(config, statement_timeout_ms=int(timeout_s * 1000))
    try:
        await _prepare_connection(conn)
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            db_now = await conn.fetchval("SELECT now()")
            end = until or db_now
            if since is None:
                start = ALL_TIME
            elif isinstance(since, timedelta):
                start = end - since
            else:
                start = since
            if start >= end:
                raise BotmonError("--since/--until", f"empty window: {start.isoformat()} is not "
                                  f"before {end.isoformat()}", "since must be before until")
            results = await run_sections(conn, config, start, end, sections, timeout_s)
            # Leaving the block commits a read-only transaction: nothing to write either way.
    finally:
        await conn.close()
    return Analysis(since=start, until=end, all_time=since is None, sections=results,
                    seconds=round(time.perf_counter() - started, 3))
