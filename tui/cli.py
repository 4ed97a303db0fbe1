"""Command line: ``botmon [run|demo|logs|analyze|...]``; no sub-command means ``run``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import math
import os
import sys
from datetime import datetime
from typing import Any, Callable, NoReturn

from tui import __version__
from tui.errors import BotmonError

# Sub-commands implemented in their own modules: name -> (module, help).
EXTERNAL = {
    "check": ("tui.check", "pre-flight checks (PASS/WARN/FAIL); --rules DIR validates rules"),
    "logs": ("tui.analysis.logs_cli", "analyse whole log files (rotated sets, .gz)"),
    "analyze": ("tui.analysis.analyze_cli", "post-test analysis of the bot's database"),
    "replay": ("tui.alerts.replay_cli", "re-evaluate alert rules over recorded snapshots"),
    "report": ("tui.outputs.report_cli", "write the audit report (Markdown + JSON) of a run"),
    "rules": ("tui.alerts.rules_cli", "export the alert rules (--prometheus: alerting rules)"),
}


class Parser(argparse.ArgumentParser):
    """argparse with botmon's error shape: one line on stderr naming the option, exit 2."""

    def error(self, message: str) -> NoReturn:
        name = self.prog if self.prog.startswith("botmon") else f"botmon {self.prog}"
        self.exit(2, f"{name}: {message} (hint: {name} --help)\n")


def _number(kind: str, low: float, *, inclusive: bool, unit: str) -> Callable[[str], float]:
    """An argparse type: a finite number above ``low`` (or at least, when inclusive)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not math.isfinite(value) or value < low or (value == low and not inclusive):
            bound = f">= {low:g}" if inclusive else f"> {low:g}"
            raise argparse.ArgumentTypeError(f"expected {kind} {bound}{unit}, got {text!r}")
        return value

    parse.__name__ = kind  # argparse names the type in its messages
    return parse


HOURS = _number("a number of hours", 0, inclusive=True, unit=" (0 = no planned end)")
MINUTES = _number("a number of minutes", 0, inclusive=False, unit="")
SECONDS = _number("a number of seconds", 0, inclusive=False, unit="")
SPEED = _number("a speed-up factor", 0, inclusive=False, unit="")


def _duration_s(args: argparse.Namespace, default_hours: float) -> float | None:
    if getattr(args, "test", False):
        return 300.0
    if getattr(args, "minutes", None) is not None:
        return args.minutes * 60.0
    hours = args.duration if getattr(args, "duration", None) is not None else default_hours
    return hours * 3600.0 if hours > 0 else None


def _add_monitor_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML config (default ./botmon.toml "
                        "or $BOTMON_CONFIG)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--duration", type=HOURS, metavar="HOURS",
                       help="stop after HOURS (default run.duration_hours = 8; 0 = no end)")
    group.add_argument("--minutes", type=MINUTES, metavar="N", help="stop after N minutes")
    group.add_argument("--test", action="store_true", help="a 5-minute test run")
    parser.add_argument("--interval", type=SECONDS, metavar="S",
                        help="poll interval in seconds")
    parser.add_argument("--out", metavar="DIR", help="parent folder of run directories")
    parser.add_argument("--headless", action="store_true",
                        help="print per-minute blocks instead of the full-screen app")
    parser.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve Prometheus /metrics on PORT (metrics.address, 127.0.0.1 by "
                             "default; needs botmon[prometheus])")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="botmon", description="Terminal monitor for the trading bot's audit run.")
    parser.add_argument("--version", action="version", version=f"botmon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    run = sub.add_parser("run", help="monitor the bot's database (default)")
    run.add_argument("--dsn", help="postgresql://user@host:port/db (password: PGPASSWORD or "
                     "~/.pgpass, never on the command line)")
    run.add_argument("--force", action="store_true",
                     help="start even when a pre-flight check FAILs")
    run.add_argument("--resume", metavar="RUN_DIR",
                     help="continue the run of RUN_DIR after a crash (same start, exact totals)")
    _add_monitor_flags(run)

    demo = sub.add_parser("demo", help="embedded PostgreSQL + simulated bot, monitored live")
    _add_monitor_flags(demo)
    demo.add_argument("--speed", type=SPEED, default=10.0,
                      help="compress the bot's rhythm (waves at :05/:20/:35/:50) by X")
    demo.add_argument("--data-dir", metavar="DIR",
                      help="where the demo server keeps its data (default: user data dir)")
    demo.add_argument("--seed", type=int, help="random seed of the simulated bot")
    demo.add_argument("--bot-version", choices=("2026-03", "2025-10"), default="2026-03",
                      help="which bot to simulate: 2026-03 writes no position_created/"
                           "position_closed on its usual paths; 2025-10 still did")

    for name, (module, help_text) in EXTERNAL.items():
        external = sub.add_parser(name, help=help_text)
        try:
            importlib.import_module(module).add_arguments(external)
        except ImportError:
            external.set_defaults(unavailable=module)
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {"database.dsn": getattr(args, "dsn", None),
            "poll.interval_s": getattr(args, "interval", None),
            "run.out_dir": getattr(args, "out", None),
            "metrics.port": getattr(args, "metrics_port", None)}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "run")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a bad flag (one line already printed)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BotmonError as exc:
        print(f"botmon {args.command}: {exc.line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`botmon replay ... | head`): stop quietly, as `cat` would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _dispatch(args: argparse.Namespace) -> int:
    if getattr(args, "unavailable", None):
        raise BotmonError(args.command, f"this command is not available ({args.unavailable} "
                          "is missing)", "reinstall botmon")
    if args.command in EXTERNAL:
        result = importlib.import_module(EXTERNAL[args.command][0]).run(args)
        if asyncio.iscoroutine(result):
            result = asyncio.run(result)
        return int(result or 0)
    if args.command == "demo":
        from tui.demo.command import run_demo

        return run_demo(args, _overrides(args), _duration_s)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    from tui.alerts.rules import load_rules
    from tui.config import load_config
    from tui.sources.connect import check_environment

    # Everything that can be checked without the database, before anything is written: a
    # bad config, DSN, PG* variable or rule file is one line and exit 2, no run directory.
    config = load_config(args.config, overrides=_overrides(args))
    check_environment(config)
    load_rules(config.rules_dir)
    duration = _duration_s(args, config.run.duration_hours)
    if not _preflight(config, args.out, args.force):
        return 2
    return start_monitor(config, duration, headless=args.headless, out=args.out,
                         resume=args.resume)


def _preflight(config, out: str | None, force: bool) -> bool:
    """`botmon check` without the database (which `open()` checks with its own message)."""
    from tui.check import FAIL, run_checks

    checks = run_checks(config, out=out, database=False)
    failed = [c for c in checks if c.status == FAIL]
    if not failed:
        return True
    for check in failed:
        print(f"botmon run: pre-flight {check.name}: {check.detail}"
              + (f" (hint: {check.hint})" if check.hint else ""), file=sys.stderr)
    if force:
        print("botmon run: starting anyway (--force)", file=sys.stderr)
        return True
    print("botmon run: a pre-flight check failed; fix it or start with --force",
          file=sys.stderr)
    return False


def start_monitor(config, duration_s: float | None, *, headless: bool, out: str | None = None,
                  background: Callable[[], Any] | None = None, banner: str = "",
                  resume: str | None = None) -> int:
    """Open a run directory and monitor until the end; shared by `run` and `demo`.

    ``background`` is an async context manager factory (the demo's simulated bot) that lives
    in the same event loop as the monitor, around it.
    """
    from tui.alerts.rules import load_rules
    from tui.outputs.console import ConsolePrinter
    from tui.outputs.rundir import RunDir, setup_own_log

    load_rules(config.rules_dir)  # a bad rule stops here (exit 2), before any file is written
    run_dir = RunDir.open_existing(resume) if resume else RunDir.create(config, out)
    setup_own_log(run_dir, config)
    printer = ConsolePrinter()
    if banner:
        printer.say(banner)
    if not headless and not _app_available():
        headless = True
        printer.say("(the full-screen app is not available: running headless)", "dim")
    return asyncio.run(_monitor_main(config, run_dir, duration_s, printer, headless, background,
                                     resume=bool(resume)))


def _app_available() -> bool:
    try:
        from tui.ui.app import run_app  # noqa: F401
    except ImportError:
        return False
    return True


async def _monitor_main(config, run_dir, duration_s, printer, headless: bool, background,
                        resume: bool = False) -> int:
    import contextlib

    from tui.monitor import Monitor
    from tui.runner import run_headless, stop_on_signals

    monitor = Monitor(config, run_dir, duration_s=duration_s,
                      alerts=alert_engine(config, run_dir))
    # The full-screen app keeps the monitor on a thread and event loop of its own (the
    # recorder), so redraws never delay a poll or inflate its latency (tui/recorder.py).
    recorder = None
    if not headless:
        from tui.recorder import Recorder

        recorder = Recorder.in_thread(monitor)
    stop = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(recorder.shutdown if recorder else monitor.close)
        # Before anything is printed: a SIGTERM from here on ends the run with its report. The
        # app installs its own handlers, so in app mode these only cover the opening phase.
        signals = contextlib.ExitStack()
        received = signals.enter_context(stop_on_signals(stop))
        stack.callback(signals.close)
        try:
            from tui.outputs.fleet import attach_outputs

            for line in attach_outputs(config, monitor, stack):  # /metrics, notifications
                printer.say(line)
            if recorder is not None:
                view = await recorder.request("open", resume=resume)
            else:
                view = await (monitor.resume() if resume else monitor.open())
        except BaseException:
            if not resume:
                run_dir.discard()  # nothing was monitored: leave no empty run behind
            raise
        _note_sources(run_dir, config, demo=background is not None)
        if background is not None and not stop.is_set():
            await stack.enter_async_context(background())
        if recorder is not None and stop.is_set():
            path = await recorder.request("finish", finished_by=f"signal {received[0]}")
            printer.say(f"final report: {path}", "bold")  # stopped while opening
            return 0
        if headless:
            end = (view.run_end.astimezone().strftime("%H:%M:%S") if view.run_end
                   else "no planned end")
            printer.say(f"run directory: {run_dir.path}", "bold")
            printer.say(f"monitoring since {view.run_start.astimezone():%Y-%m-%d %H:%M:%S} "
                        f"(database clock) until {end}; a block per minute, Ctrl+C to stop")
            code = await run_headless(monitor, printer, stop, received)
        else:
            from tui.ui.app import run_app

            signals.close()  # the app handles SIGTERM/SIGHUP/SIGINT from here on
            ending = await run_app(recorder, view)
            if ending.report is not None:
                printer.say(f"final report: {ending.report}", "bold")
            else:
                printer.say(f"botmon: the final report could not be written: "
                            f"{ending.report_error}", "bold red")
            if ending.export is not None:
                printer.say(f"audit report: {ending.export[0]}", "bold")
            elif ending.export_error:
                printer.say(f"audit report failed: {ending.export_error} (botmon report "
                            f"{run_dir.path} builds it again)", "bold red")
            printer.say(f"run directory: {run_dir.path}")
            code = 0 if ending.report is not None else 1
        if background is not None:
            await _keep_database_analysis(config, monitor, printer)
        return code


def _note_sources(run_dir, config, *, demo: bool) -> None:
    """run.json: the log the run followed and whether its database dies with it (a demo), so
    `botmon report` can find the log later and say why the database is gone."""
    try:
        meta = run_dir.read_meta()
        meta.setdefault("logs", [str(config.resolve(p)) for p in config.logs.paths])
        if demo:
            meta["demo"] = True
        run_dir.write_meta(meta)
    except (BotmonError, OSError):  # never worth the run
        pass


async def _keep_database_analysis(config, monitor, printer) -> None:
    """The demo's database stops with the demo: keep the post-test SQL over the run in the run
    directory, for `botmon report` afterwards (a second or so)."""
    from tui.outputs.audit_sources import analyse_database, save_database_analysis

    store = monitor.store
    if store is None:
        return
    report = monitor.finished
    until = None
    if report is not None:
        try:
            import json

            end = json.loads(report.read_text(encoding="utf-8")).get("monitoring_end")
            until = datetime.fromisoformat(end) if end else None
        except (OSError, ValueError):
            until = None
    analysis = await asyncio.to_thread(analyse_database, config, store.run_start, until)
    path = save_database_analysis(monitor.run_dir.path, analysis)
    if path is not None:
        printer.say(f"post-test SQL kept for `botmon report`: {path}")


def alert_engine(config, run_dir):
    """The rules engine for this run (alerts.jsonl in the run directory)."""
    try:
        from tui.alerts.engine import engine_for
    except ImportError:  # the rules engine is not part of this installation yet
        return None
    return engine_for(config, alerts_path=run_dir.file("alerts.jsonl"))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
