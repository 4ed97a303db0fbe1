"""``botmon report RUN_DIR``: (re)build the audit report of a run directory, offline.

Wiring (``tui/cli.py``)::

    EXTERNAL["report"] = ("tui.outputs.report_cli", "write the audit report of a run directory")

Writes ``audit_report_<ts>.md`` and ``audit_report_<ts>.json`` into RUN_DIR and prints both
paths and the verdict. Exit status: 0 written (also when the database or the log could not be
analysed: the report says so); 2 a bad RUN_DIR, config or flag (one line on stderr).

The configuration is ``--config``, else the file the run was started with (``run.json``), else
the usual lookup. The database is ``--dsn``, else the config's, else the run's own (``run.json``,
password removed: PGPASSWORD / ~/.pgpass supply it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from tui.config import load_config
from tui.errors import BotmonError
from tui.outputs.audit_data import open_run

_REDACTED_PASSWORD = re.compile(r"^(\w+://[^:/@\s]+):\*\*\*@")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR",
                        help="the run directory botmon printed at start "
                             "(e.g. ./botmon-runs/20251015_090000)")
    parser.add_argument("--config", metavar="FILE",
                        help="botmon TOML config (default: the run's, then ./botmon.toml or "
                             "$BOTMON_CONFIG)")
    parser.add_argument("--dsn", help="the bot's database for the post-test SQL (default: "
                                      "config, then the run's database, then PG* variables)")
    parser.add_argument("--no-db", action="store_true",
                        help="leave out the post-test SQL sections (no database access)")
    parser.add_argument("--no-logs", action="store_true",
                        help="leave out the analysis of the bot's log files")
    parser.add_argument("--log", action="append", metavar="PATH", default=None,
                        help="the bot's log file or glob (repeatable; default: logs.paths)")


def run(args: argparse.Namespace) -> int:
    from tui.outputs.audit_report import build_audit_report

    progress = _Progress(sys.stderr.isatty())
    try:
        run_dir = open_run(args.run_dir)
        meta = run_dir.read_meta()
        overrides = _overrides(args)
        if not args.log and isinstance(meta.get("logs"), list) and meta["logs"]:
            # The log the run followed (run.json), unless the config names one.
            plain = load_config(_config_path(args, meta), overrides=overrides)
            if not plain.logs.paths:
                overrides["logs.paths"] = [str(p) for p in meta["logs"]]
        config = load_config(_config_path(args, meta), overrides=overrides)
        if not config.database.dsn and not config.database.host and not args.no_db:
            dsn = _run_dsn(meta)
            if dsn:
                config = load_config(_config_path(args, meta),
                                     overrides={**overrides, "database.dsn": dsn})
        md_path, json_path = build_audit_report(run_dir, config, progress=progress,
                                                use_db=not args.no_db,
                                                use_logs=not args.no_logs)
    except BotmonError as err:
        progress.close()
        print(f"botmon report: {err.line()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        progress.close()
        print("botmon report: interrupted", file=sys.stderr)
        return 130
    progress.close()
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    print(f"{md_path}\n{json_path}")
    print(f"botmon report: health {doc['health']['verdict']} ({doc['health']['reason']}); "
          f"{doc['snapshots']['line']}", file=sys.stderr)
    for note in doc["notes"]:
        print(f"botmon report: note: {note}", file=sys.stderr)
    return 0


def _config_path(args: argparse.Namespace, meta: dict[str, Any]) -> str | None:
    if args.config:
        return args.config
    used = meta.get("config")
    if isinstance(used, str) and used not in ("", "defaults") and Path(used).is_file():
        return used
    return None


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {"database.dsn": args.dsn}
    if args.log:
        overrides["logs.paths"] = list(args.log)
    return overrides


def _run_dsn(meta: dict[str, Any]) -> str | None:
    """The run's database from run.json, without the redacted password."""
    dsn = meta.get("database")
    if not isinstance(dsn, str) or "://" not in dsn:
        return None
    dsn = _REDACTED_PASSWORD.sub(r"\1@", dsn)
    return None if "***" in dsn else dsn


class _Progress:
    """One status line on a terminal: ``botmon report: [ 60%] database analysis``."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shown = False

    def __call__(self, step: str, fraction: float) -> None:
        if not self.enabled:
            return
        sys.stderr.write(f"\rbotmon report: [{fraction * 100:3.0f}%] {step:<24}")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 60 + "\r")
            sys.stderr.flush()
            self.shown = False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="botmon report",
                                     description="Write the audit report of a run directory.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
