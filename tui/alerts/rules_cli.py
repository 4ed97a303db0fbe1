"""``botmon rules export --prometheus [--rules DIR] [-o FILE]``: rule files for other tools."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tui.alerts.rules import load_rules


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="rules_action", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export", help="write the alert rules in another tool's format",
        description="Write botmon's alert rules (rules/*.toml) in another tool's format.")
    formats = export.add_mutually_exclusive_group(required=True)
    formats.add_argument("--prometheus", action="store_true",
                         help="Prometheus alerting rules over botmon's /metrics series")
    export.add_argument("--rules", metavar="DIR",
                        help="rule directory or file (default: paths.rules_dir, else the "
                             "packaged rules/)")
    export.add_argument("--config", metavar="FILE", help="TOML config (for paths.rules_dir)")
    export.add_argument("-o", "--output", metavar="FILE",
                        help="write to FILE (atomically) instead of standard output")


def _rules_dir(args: argparse.Namespace) -> Path:
    if getattr(args, "rules", None):
        return Path(args.rules)
    from tui.config import load_config

    return load_config(getattr(args, "config", None)).rules_dir


def run(args: argparse.Namespace) -> int:
    """Raises BotmonError (exit 2) for bad rules, config or an unwritable output."""
    from tui.alerts.prom_export import export_prometheus

    ruleset = load_rules(_rules_dir(args))
    text = export_prometheus(ruleset)
    if not args.output:
        sys.stdout.write(text)
        return 0
    from tui.errors import BotmonError
    from tui.outputs.durable import write_atomic

    try:
        write_atomic(Path(args.output), text)
    except OSError as exc:
        raise BotmonError(args.output, f"cannot write: {exc.strerror or exc}",
                          "check the directory exists and is writable") from None
    print(f"{args.output}: {len(ruleset.rules)} Prometheus alerting rules from "
          f"{len(ruleset.files)} file(s); check with `promtool check rules {args.output}`",
          file=sys.stderr)
    return 0
