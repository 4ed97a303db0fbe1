"""``botmon check``: the pre-flight list as one command, PASS / WARN / FAIL with a fix each.

``botmon run`` runs the same checks first and refuses to start on a FAIL unless ``--force``.
Every check is read-only: botmon never writes to the bot's database.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import shutil
import sys
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from tui.config import Config, load_config
from tui.errors import BotmonError

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"


@dataclass(frozen=True)
class Check:
    status: str
    name: str
    detail: str
    hint: str = ""


def check_rules_dir(config: Config, rules_dir: Path | None = None) -> Check:
    from tui.alerts.rules import check_rules

    path = rules_dir or config.rules_dir
    try:
        lines = check_rules(path)
    except BotmonError as exc:
        return Check(FAIL, "alert rules", f"{exc.where}: {exc.problem}" if exc.where
                     else exc.problem, exc.hint or "fix the rule file named above")
    return Check(PASS, "alert rules", f"{path}: {lines[-1]}")


async def check_database(config: Config) -> list[Check]:
    from tui.resources import read_sql
    from tui.sources.connect import connect, describe_target, render_sql
    from tui.sources.db import DbPoller

    target = describe_target(config)
    started = time.perf_counter()
    try:
        conn = await connect(config)
    except BotmonError as exc:
        return [Check(FAIL, "database reachable", f"{exc.where}: {exc.problem}",
                      exc.hint or "")]
    checks = []
    try:
        latency = (time.perf_counter() - started) * 1000
        status = PASS if latency < 300 else WARN
        checks.append(Check(status, "database reachable", f"{target} in {latency:.0f} ms",
                            "" if status == PASS else "a slow connection makes slow polls"))
        read_only = await conn.fetchval("SHOW default_transaction_read_only")
        checks.append(Check(PASS if read_only == "on" else FAIL, "read-only session",
                            f"default_transaction_read_only = {read_only}",
                            "" if read_only == "on" else "the server ignored the setting"))
        poller = DbPoller(config)
        try:
            await poller._check_schema(conn)
        except BotmonError as exc:
            checks.append(Check(FAIL, "tables and columns", exc.problem, exc.hint or ""))
        else:
            checks.append(Check(PASS, "tables and columns",
                                f"schema {config.database.schema}: every table and column "
                                "botmon reads exists"))
            age = await conn.fetchval(render_sql(config, read_sql("check/last_event.sql",
                                                                  config.sql_dir)))
            if age is None:
                checks.append(Check(WARN, "bot activity", "no events yet",
                                    "start the bot, or expect an empty first minute"))
            else:
                status = PASS if age < 300 else WARN
                checks.append(Check(status, "bot activity", f"last event {age:.0f} s ago",
                                    "" if status == PASS else "is the bot running?"))
            checks.extend(await check_sources(config, poller, conn))
    finally:
        await conn.close()
    return checks


async def check_sources(config: Config, poller, conn) -> list[Check]:
    """Which counters this database gives a source for: the event types it holds (a skip over
    the event_type index), as the monitor reads them at start. A counter without one shows
    "—" during the run, never a 0 that reads as a healthy bot."""
    from tui.store.metrics import EventClassifier
    from tui.store.sources import unavailable

    types = await poller._event_types(conn, await conn.fetchval("SELECT now()"))
    recent = {t for t, fresh in types.items() if fresh}
    older = {t for t, fresh in types.items() if not fresh}
    missing = unavailable(EventClassifier(config.events), recent, older,
                          config.events.never_written, config.events.source_days,
                          bool(config.logs.paths))
    checks = [Check(PASS, "figure sources", f"{len(recent)} event types written in the last "
                    f"{config.events.source_days:g} days; opens and closes come from the "
                    "positions table")]
    for name, reason in sorted(missing.items()):
        checks.append(Check(WARN, f"no source: {name}", reason,
                            "shown as — during the run (not measurable on this bot)"))
    return checks


def check_env_file(config: Config) -> Check:
    path = config.resolve(config.check.env_file)
    if not path.exists():
        return Check(WARN, "testnet flags", f"{path} not found",
                     "set check.env_file to the bot's .env to verify the testnet flags")
    flags = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        key = key.strip()
        if any(fnmatchcase(key, pattern) for pattern in config.check.testnet_keys):
            flags[key] = value.strip().strip("'\"").lower()
    if not flags:
        return Check(WARN, "testnet flags", f"{path}: no key matches "
                     f"{', '.join(config.check.testnet_keys)}", "check check.testnet_keys")
    off = [key for key, value in flags.items() if value not in ("true", "1", "yes", "on")]
    if off:
        return Check(FAIL, "testnet flags", f"{path}: {', '.join(off)} not true",
                     "this audit runs on testnet: set them to true and restart the bot")
    return Check(PASS, "testnet flags", f"{path}: {', '.join(sorted(flags))} = true")


def check_disk(config: Config, out: str | None = None) -> Check:
    directory = config.resolve(out or config.run.out_dir)
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free_mb = shutil.disk_usage(probe).free / 2**20
    if not os.access(probe, os.W_OK):
        return Check(FAIL, "output directory", f"{probe} is not writable",
                     "choose another --out directory")
    status = PASS if free_mb >= config.check.min_free_mb else FAIL
    return Check(status, "disk space", f"{free_mb:,.0f} MB free in {probe}",
                 "" if status == PASS else f"free at least {config.check.min_free_mb} MB")


def check_logs(config: Config) -> list[Check]:
    if not config.logs.paths:
        return [Check(WARN, "bot log", "no log configured (logs.paths)",
                      "set logs.paths to the bot's log, e.g. monitoring_logs/bot_*.log")]
    checks = []
    for pattern in config.logs.paths:
        resolved = str(config.resolve(pattern))
        matches = sorted(glob.glob(resolved), key=lambda p: os.path.getmtime(p))
        directory = Path(resolved).parent
        if not directory.is_dir():
            checks.append(Check(FAIL, "log directory", f"{directory} does not exist",
                                "create it before starting the bot (tee needs it)"))
            continue
        if not os.access(directory, os.W_OK):
            checks.append(Check(FAIL, "log directory", f"{directory} is not writable",
                                "the bot (or tee) must be able to write there"))
            continue
        if not matches:
            checks.append(Check(WARN, "bot log", f"no file matches {pattern} yet",
                                "fine if the bot starts after botmon; it is picked up then"))
            continue
        newest = matches[-1]
        quiet = time.time() - os.path.getmtime(newest)
        status = PASS if quiet <= config.check.log_quiet_s else WARN
        checks.append(Check(status, "bot log", f"{newest}: last written {quiet:.0f} s ago",
                            "" if status == PASS else "is the bot writing its log here?"))
    return checks


def run_checks(config: Config, *, rules_dir: Path | None = None, out: str | None = None,
               database: bool = True) -> list[Check]:
    checks = [Check(PASS, "configuration", f"{config.source}: valid")]
    checks.append(check_rules_dir(config, rules_dir))
    if database:
        checks.extend(asyncio.run(check_database(config)))
    checks.append(check_env_file(config))
    checks.append(check_disk(config, out))
    checks.extend(check_logs(config))
    return checks


def print_checks(checks: list[Check], file=None) -> None:
    """A table as wide as the terminal; piped or logged, one plain line per check (no width
    to guess, nothing wrapped, easy to grep)."""
    file = file or sys.stdout
    if not (hasattr(file, "isatty") and file.isatty()):
        for check in checks:
            file.write(f"{check.status:<5} {check.name}: {check.detail}"
                       + (f" (fix: {check.hint})" if check.hint else "") + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    width = shutil.get_terminal_size().columns  # the terminal's, or $COLUMNS
    console = Console(file=file, highlight=False, width=width)
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("result", overflow="fold", ratio=3)
    table.add_column("fix", overflow="fold", ratio=2)
    style = {PASS: "green", WARN: "yellow", FAIL: "bold red"}
    for check in checks:
        table.add_row(f"[{style[check.status]}]{check.status}[/]", check.name, check.detail,
                      check.hint)
    console.print(table)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML config")
    parser.add_argument("--dsn", help="the bot's database")
    parser.add_argument("--rules", metavar="DIR", help="check only these alert rules (a folder "
                        "or one file); exit 2 if one is invalid")
    parser.add_argument("--out", metavar="DIR", help="the output directory to check")


def run(args: argparse.Namespace) -> int:
    if args.rules:
        from tui.alerts.rules import check_rules

        for line in check_rules(Path(args.rules)):  # a bad rule raises: one line, exit 2
            print(line)
        return 0
    config = load_config(args.config, overrides={"database.dsn": args.dsn})
    checks = run_checks(config, out=args.out)
    print_checks(checks)
    failed = [c for c in checks if c.status == FAIL]
    if failed:
        print(f"botmon check: {len(failed)} FAIL: {', '.join(c.name for c in failed)}",
              file=sys.stderr)
        # An invalid rule file is bad input, like an invalid config (README: exit 2).
        return 2 if any(c.name == "alert rules" for c in failed) else 1
    return 0
