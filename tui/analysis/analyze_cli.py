"""``botmon analyze``: the post-test SQL sections, as tables or JSON.

Wiring (``tui/cli.py``)::

    sub = subparsers.add_parser("analyze", help="post-test analysis of the bot's database")
    analyze_cli.add_arguments(sub)
    ...
    return analyze_cli.run(args)          # synchronous; run_async(args) inside a running loop

Exit status: 0 every section ran, 1 at least one section failed (the others are still printed),
2 configuration / connection / argument problem (one line on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import sys
from datetime import datetime, timedelta, timezone

from tui.analysis.analyze_output import render_text, write_json
from tui.analysis.db import DEFAULT_TIMEOUT_S, analyze
from tui.config import load_config
from tui.errors import BotmonError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def add_arguments(parser: argparse.ArgumentParser, *, common: bool = True) -> None:
    """Add the analyze options. ``common=False`` leaves out --dsn/--config when the top-level
    parser already defines them (argparse lets a sub-parser's default override the parent's)."""
    if common:
        parser.add_argument("--dsn", help="PostgreSQL DSN of the bot's database "
                            "(default: config, then PG* variables)")
        parser.add_argument("--config", metavar="FILE", help="botmon TOML config file")
    parser.add_argument("--since", default="24h", metavar="TS|DURATION|all",
                        help="start of the window: ISO time (UTC if no offset), a duration "
                             "before --until such as 8h, 90m, 2d, or 'all' (default: 24h)")
    parser.add_argument("--until", default=None, metavar="TS",
                        help="end of the window, exclusive: ISO time (UTC if no offset) "
                             "(default: the database's now())")
    parser.add_argument("--json", action="store_true",
                        help='print {"since", "until", "sections": [{"title", "rows"|"error"}]}')
    parser.add_argument("--timeout-s", type=float, default=DEFAULT_TIMEOUT_S, metavar="N",
                        help=f"per-section statement timeout in seconds "
                             f"(default: {DEFAULT_TIMEOUT_S:g})")
    parser.add_argument("--section", action="append", default=None, metavar="NAME",
                        help="only sections whose file name starts with or contains NAME "
                             "(repeatable), e.g. --section 05 --section errors")


def parse_time(text: str, option: str) -> datetime:
    raw = text.strip()
    if raw.endswith(("Z", "z")):  # Python 3.10's fromisoformat does not take "Z"
        raw = raw[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise BotmonError(option, f"not an ISO 8601 time: {text!r}",
                          "e.g. 2025-10-15T08:00:00+00:00 or 2025-10-15 08:00") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def parse_since(text: str | None) -> datetime | timedelta | None:
    """ISO time, a duration (``8h``) before --until, or ``all`` (None)."""
    if text is None:
        return timedelta(hours=24)
    if text.strip().lower() in ("all", "all-time", "beginning"):
        return None
    match = _DURATION.match(text)
    if match:
        try:
            delta = timedelta(**{_UNITS[match.group(2).lower()]: float(match.group(1))})
        except OverflowError:
            raise BotmonError("--since", f"the duration is too long: {text!r}",
                              "use 'all' for everything") from None
        if delta <= timedelta(0):
            raise BotmonError("--since", f"the duration must be positive: {text!r}")
        return delta
    return parse_time(text, "--since")


def parse_until(text: str | None) -> datetime | None:
    if text is None or text.strip().lower() == "now":
        return None
    return parse_time(text, "--until")


async def run_async(args: argparse.Namespace) -> int:
    try:
        if not math.isfinite(args.timeout_s) or args.timeout_s <= 0:
            raise BotmonError("--timeout-s", f"expected a number of seconds > 0, got "
                              f"{args.timeout_s:g}")
        since = parse_since(args.since)
        until = parse_until(args.until)
        overrides = {"database.dsn": getattr(args, "dsn", None)}
        config = load_config(getattr(args, "config", None), overrides=overrides)
        result = await analyze(config, since=since, until=until, timeout_s=args.timeout_s,
                               only=args.section or ())
    except BotmonError as err:
        print(f"botmon analyze: {err.line()}", file=sys.stderr)
        return err.exit_code
    if args.json:
        write_json(result)
    else:
        render_text(result)
    return 1 if result.failed else 0


def run(args: argparse.Namespace) -> int:
    """Synchronous entry point (runs its own event loop)."""
    try:
        return asyncio.run(run_async(args))
    except KeyboardInterrupt:
        print("botmon analyze: interrupted", file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="botmon analyze",
                                     description="Post-test analysis of the bot's database.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
