"""``botmon logs FILE [FILE...] [--json] [--output PATH]``: whole-file analysis of the bot's log.

The lead wires ``add_arguments`` / ``run`` into ``tui/cli.py``; ``python -m tui.analysis.logs_cli``
runs it on its own. Category overrides from the configuration can be handed over as
``args.log_patterns`` (``{category: {subkey: [regex, ...]}}``); ``--patterns FILE`` adds a TOML
file of the same shape on top.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from tui.analysis.logs import analyse_files
from tui.analysis.logs_report import build_report, render_text
from tui.errors import BotmonError
from tui.sources.logparse import Categoriser

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PROGRESS_MIN_BYTES = 32 << 20  # smaller inputs finish before a bar would be worth drawing


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="log files; a rotated set (bot.log.3 ... bot.log) in any order; .gz accepted",
    )
    parser.add_argument("--json", action="store_true", help="write JSON instead of text")
    parser.add_argument(
        "--output", "-o", metavar="PATH", help="write the report to PATH instead of stdout"
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default: the CPU count, at most 4)",
    )
    parser.add_argument(
        "--top",
        type=int,
        default=20,
        metavar="N",
        help="how many repeated messages / slow operations to list (default 20)",
    )
    parser.add_argument(
        "--slow-ms",
        type=float,
        default=None,
        metavar="MS",
        help="an operation at least this slow is reported (default 1000)",
    )
    parser.add_argument(
        "--patterns",
        metavar="TOML",
        help="TOML file overriding log categories: [category] subkey = ['regex', ...]",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="botmon config whose [logs] patterns apply, as in the live monitor (default "
        "./botmon.toml or $BOTMON_CONFIG when present)",
    )
    parser.add_argument("--no-progress", action="store_true", help="never draw a progress bar")


def run(args: argparse.Namespace) -> int:
    progress = _ProgressBar(enabled=not args.no_progress and sys.stderr.isatty())
    try:
        categoriser = Categoriser.load(_overrides(args), slow_ms=_slow_ms(args))
        analysis = analyse_files(
            args.files, categoriser=categoriser, jobs=args.jobs, progress=progress
        )
        progress.close()
        report = build_report(analysis, top=max(1, args.top))
        text = (
            json.dumps(report, ensure_ascii=False, indent=2) + "\n"
            if args.json
            else render_text(report)
        )
        _write(text, args.output)
    except BotmonError as err:
        progress.close()
        print(f"botmon logs: {err.line()}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        progress.close()
        print("botmon logs: interrupted", file=sys.stderr)
        return 130
    return 0


def _slow_ms(args: argparse.Namespace) -> float:
    value = args.slow_ms if args.slow_ms is not None else getattr(args, "log_slow_ms", None)
    return 1000.0 if value is None else float(value)


def _config_patterns(args: argparse.Namespace) -> dict[str, Any] | None:
    """The live monitor's pattern overrides, so both read the log with the same categories."""
    from tui.config import find_config_file, load_config

    given = getattr(args, "config", None)
    if not given and find_config_file(None, os.environ) is None:
        return None
    return dict(load_config(given).logs.patterns) or None


def _overrides(args: argparse.Namespace) -> dict[str, Any] | None:
    merged: dict[str, dict[str, Any]] = {}
    sources = (_config_patterns(args), getattr(args, "log_patterns", None),
               _read_patterns(args.patterns))
    for source in sources:
        for category, subs in (source or {}).items():
            if not isinstance(subs, dict):
                raise BotmonError(
                    f"log patterns: {category}",
                    "expected a table of sub-keys",
                    "write [category] with subkey = ['regex', ...]",
                )
            merged.setdefault(category, {}).update(subs)
    return merged or None


def _read_patterns(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except OSError as err:
        raise BotmonError(path, err.strerror or str(err), "check the --patterns path") from None
    except tomllib.TOMLDecodeError as err:
        raise BotmonError(path, f"invalid TOML: {err}", "fix the file's syntax") from None


def _write(text: str, output: str | None) -> None:
    data = text.encode("utf-8")  # emoji survive whatever the terminal's locale
    if output is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    try:
        with open(output, "wb") as fh:
            fh.write(data)
    except OSError as err:
        raise BotmonError(
            output, err.strerror or str(err), "check the directory exists and is writable"
        ) from None
    print(f"botmon logs: wrote {output}", file=sys.stderr)


class _ProgressBar:
    """A Rich progress bar on a terminal for large inputs; nothing otherwise.

    Created on the first update, i.e. after the worker processes are started, so that they
    are not forked while Rich's refresh thread runs.
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._task: Any = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total < PROGRESS_MIN_BYTES:
            return
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

            self._bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("reading log", total=total)
        self._bar.update(self._task, completed=min(done, total))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def main(argv: list[str] | None = None, *, prog: str = "botmon logs") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Analyse the bot's log files.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
