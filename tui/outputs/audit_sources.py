"""The audit report's optional sources: the whole-file log analysis and the post-test SQL.

Either may be unavailable (no log configured, a file unreadable, the database unreachable); the
report then says so in one line and goes on. Both are synchronous here: the report is built in a
worker thread (the UI) or from the command line.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import glob
import json
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Coroutine

from tui.config import Config, redact, secrets_of
from tui.errors import BotmonError

log = logging.getLogger(__name__)
LOG_TOP = 20


def _skipped(reason: str, status: str = "skipped") -> dict[str, Any]:
    return {"status": status, "reason": reason}


def log_files(config: Config, start: datetime | None) -> tuple[list[str], list[str]]:
    """Files matching ``logs.paths`` (relative to the config file); files last written before
    the run started are left out (a rotated file from an earlier day)."""
    found: list[str] = []
    for pattern in config.logs.paths:
        resolved = str(config.resolve(pattern))
        matches = glob.glob(resolved) if glob.has_magic(resolved) else [resolved]
        found.extend(m for m in matches if os.path.isfile(m) and m not in found)
    older: list[str] = []
    if start is not None:
        cutoff = (start - timedelta(minutes=1)).timestamp()
        older = [f for f in found if os.path.getmtime(f) < cutoff]
        found = [f for f in found if f not in older]
    return sorted(found), sorted(older)


def analyse_logs(config: Config, start: datetime | None,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """``{"status": "ok", "files", "left_out", "report"}`` or ``{"status", "reason"}``."""
    if not config.logs.paths:
        return _skipped("no bot log configured (logs.paths)")
    try:
        from tui.analysis.logs import analyse_files
        from tui.analysis.logs_report import build_report
        from tui.sources.logparse import Categoriser
    except ImportError as exc:  # the log analysis is optional
        return _skipped(f"the log analysis is not available here ({exc})")
    files, older = log_files(config, start)
    if not files:
        where = ", ".join(config.logs.paths)
        extra = f" ({len(older)} older file(s) ended before the run)" if older else ""
        return _skipped(f"no log file matches logs.paths: {where}{extra}")
    try:
        categoriser = Categoriser.load(config.logs.patterns or None)
        analysis = analyse_files(files, categoriser=categoriser, progress=progress)
        report = build_report(analysis, top=LOG_TOP)
    except BotmonError as err:
        return _skipped(err.line(), "failed")
    except (OSError, ValueError) as exc:
        return _skipped(f"{type(exc).__name__}: {exc}", "failed")
    return {"status": "ok", "files": files, "left_out": older, "report": report}


def analyse_database(config: Config, since: datetime, until: datetime | None,
                     timeout_s: float = 20.0) -> dict[str, Any]:
    """The post-test SQL sections over the run's window, read-only; never raises for a database
    that cannot be reached: ``{"status": "failed", "reason": ...}`` instead."""
    try:
        from tui.analysis.analyze_output import jsonable
        from tui.analysis.db import analyze
    except ImportError as exc:
        return _skipped(f"the database analysis is not available here ({exc})")
    try:
        result = run_coroutine(lambda: analyze(config, since=since, until=until,
                                               timeout_s=timeout_s))
    except BotmonError as err:
        return _skipped(err.line(), "failed")
    except Exception as exc:  # noqa: BLE001 - asyncpg/OS errors of all kinds: report goes on
        text = " ".join(str(exc).split()) or type(exc).__name__
        reason = redact(f"{type(exc).__name__}: {text}", secrets_of(config))
        log.warning("database analysis for the audit report failed: %s", reason)
        return _skipped(reason, "failed")
    return {"status": "ok", "since": jsonable(result.since), "until": jsonable(result.until),
            "seconds": result.seconds, "failed_sections": result.failed,
            "sections": [jsonable(s) for s in result.sections]}


def run_coroutine(factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to completion from synchronous code, also on a thread whose event loop
    is running (then in a helper thread, so that loop is never blocked re-entrantly)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="botmon-report") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def section(analysis: dict[str, Any] | None, prefix: str) -> dict[str, Any] | None:
    """The analysis section whose name starts with ``prefix`` (``"03"``), if it ran."""
    if not analysis or analysis.get("status") != "ok":
        return None
    return next((s for s in analysis.get("sections", [])
                 if str(s.get("section", "")).startswith(prefix)), None)


# -- what the run already had ---------------------------------------------------------------------

KEPT_ANALYSIS = "database_analysis.json"  # written when a demo ends: its database goes with it


def save_database_analysis(folder: Path, analysis: dict[str, Any]) -> Path | None:
    """Keep the post-test SQL in the run directory (a demo's database dies with the demo)."""
    if analysis.get("status") != "ok":
        return None
    from tui.outputs.durable import to_json, write_atomic

    path = folder / KEPT_ANALYSIS
    write_atomic(path, to_json(analysis) + "\n")
    return path


def kept_analysis(folder: Path, key: str, not_before: datetime | None = None
                  ) -> tuple[dict[str, Any], str] | None:
    """A ``key`` ("database_analysis" / "log_analysis") the run directory already holds: the
    demo's saved post-test SQL, else the newest audit report exported after ``not_before``
    (the run's end) that had it. Returns (analysis, where it came from)."""
    candidates: list[Path] = []
    if key == "database_analysis":
        candidates.append(folder / KEPT_ANALYSIS)
    candidates += sorted(folder.glob("audit_report_*.json"), reverse=True)
    for path in candidates:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        found = data.get(key) if path.name != KEPT_ANALYSIS else data
        if not isinstance(found, dict) or found.get("status") != "ok":
            continue
        until = _time(found.get("until"))
        if key == "database_analysis" and not_before is not None and (
                until is None or until < not_before):
            continue  # exported during the run: it does not cover the whole run
        return found, path.name
    return None


def _time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None
