"""``botmon replay FILES [--rules DIR] [--json]``: the alert episodes of a recorded run."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from tui.alerts.conditions import format_duration, pretty
from tui.alerts.replay import ReplayResult, replay
from tui.alerts.rules import load_rules


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="monitoring_snapshots_*.jsonl (botmon's or the old kit's), or a run "
                             "directory")
    parser.add_argument("--rules", metavar="DIR",
                        help="rule directory or file (default: paths.rules_dir, else the "
                             "packaged rules/)")
    parser.add_argument("--config", metavar="FILE", help="TOML config (for paths.rules_dir)")
    parser.add_argument("--json", action="store_true",
                        help='print {"episodes": [{"rule", "severity", "start", "end", '
                             '"minutes", "peak"}, ...]}')


def _rules_dir(args: argparse.Namespace) -> Path:
    if getattr(args, "rules", None):
        return Path(args.rules)
    from tui.config import load_config

    return load_config(getattr(args, "config", None)).rules_dir


def run(args: argparse.Namespace) -> int:
    """Raises BotmonError (exit 2) for bad rules or unreadable files."""
    result = replay(args.files, load_rules(_rules_dir(args)))
    if args.json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        print("\n".join(text_report(result)))
    return 0


def _clock(ts: str | None) -> str:
    if not ts:
        return "(still firing)"
    return datetime.fromisoformat(ts).astimezone().strftime("%m-%d %H:%M")


def _hhmm(moment: datetime) -> str:
    return moment.astimezone().strftime("%H:%M")


def _list(items: list[str], limit: int = 5) -> str:
    more = len(items) - limit
    return ", ".join(items[:limit]) + (f" and {more} more (--json lists all)" if more > 0 else "")


def text_report(result: ReplayResult) -> list[str]:
    totals = result.to_json()["totals"]
    per_minute = result.per_minute
    holes = result.holes
    gaps = (f"{result.gap_lines} gap line(s), {result.missing_minutes} minute(s) with no line "
            f"in {len(holes)} hole(s)")
    lines = [
        f"replayed {result.records} minutes ({', '.join(result.formats) or 'gaps only'}; "
        f"{gaps}) from {result.start.astimezone():%Y-%m-%d %H:%M} to "
        f"{result.end.astimezone():%H:%M}",
    ]
    if holes:
        lines.append("  holes (nothing recorded, nothing evaluated): " + _list(
            [f"{_hhmm(h.first_minute)}"
             + (f"–{_hhmm(h.last_minute)}" if h.minutes > 1 else "") + f" ({h.minutes} min)"
             for h in holes]))
    if result.unreadable:
        lines.append(f"  {len(result.unreadable)} unreadable line(s) skipped: "
                     + _list(result.unreadable))
    if result.corrections:
        lines.append(f"  {result.corrections} minute(s) corrected by late events (correction "
                     "records applied)")
    if result.orphan_corrections:
        lines.append(f"  {len(result.orphan_corrections)} correction record(s) for a minute "
                     "with no line, ignored: " + _list(result.orphan_corrections))
    lines += [
        f"{totals['episodes']} alert episodes ({totals['critical']} critical, "
        f"{totals['warning']} warning, {totals['info']} info); one alert per minute would have "
        f"made {per_minute['total']}",
        "",
    ]
    if not result.episodes:
        lines.append("no alert fired")
        return lines
    header = f"{'SEVERITY':<9}{'RULE':<26}{'START':<13}{'END':<15}{'DURATION':>9}{'MIN':>6}" \
             f"{'PEAK':>8}"
    lines.append(header)
    for episode in result.episodes:
        across = result.holes_within(episode)
        lines.append(
            f"{episode['severity']:<9}{episode['rule']:<26}{_clock(episode['start']):<13}"
            f"{_clock(episode['end']):<15}{format_duration(episode['duration_s']):>9}"
            f"{episode['minutes']:>6}{pretty(episode['peak']):>8}"
            + (f"  across {across} hole(s)" if across else ""))
    lines.append("")
    lines.append("minutes held per rule (the old kit's alert count): " + ", ".join(
        f"{rule} {n}" for rule, n in per_minute["by_rule"].items()))
    return lines
