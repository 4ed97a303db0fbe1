"""Alert records: botmon's episodes versus the old kit's one alert per condition per minute.

Generates an old-format 8-hour snapshot file (``monitoring_snapshots_YYYYMMDD.jsonl`` as the old
console monitor wrote it: naive local timestamps drifting by the query time each loop) in which
"more than 5 aged positions" holds for 474 minutes, WebSocket reconnects and error bursts flap,
and a position is briefly without a stop-loss; then replays it through rules/default.toml.

    python bench/alert_replay.py [--out FILE] [--seed N] [--json] [--real DIR]

With the real recorded data at hand (``../shared/real``, or ``--real DIR``), it also replays the
real old-kit file (817 lines, 4 holes) and its 8-hour audit window (07:06 -> 14:59), printing
episodes per rule, gap minutes and how long the replay took.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tui.alerts.replay import replay  # noqa: E402
from tui.alerts.rules import load_rules  # noqa: E402

MINUTES = 480
# The default rules that reproduce the old kit's alerts (the others are botmon's additions).
OLD_KIT_RULES = ("unprotected_positions", "emergency_close", "positions_opened_burst",
                 "errors_burst", "no_price_updates", "ws_reconnect", "aged_positions")


def generate(path: Path, seed: int = 19) -> Path:
    """480 old-kit snapshot lines; returns the path."""
    rng = random.Random(seed)
    at = datetime(2025, 10, 15, 9, 0, 0, 250000)
    ws_minutes = set()
    for start in (37, 95, 180, 266, 341, 422):  # six bursts, on and off within each
        ws_minutes.update(m for m in range(start, start + 9) if rng.random() < 0.5)
    error_minutes = set(range(300, 340, 2))  # flaps every other minute for 40 minutes
    with open(path, "w", encoding="utf-8") as handle:
        for minute in range(MINUTES):
            wave = at.minute % 15 == 5  # waves at :05 :20 :35 :50
            total = 60 + rng.randint(-5, 8)
            unprotected = 1 if 200 <= minute < 203 else 0
            prices = 0 if minute in (150, 151) else total - rng.randint(0, 3)
            line = {
                "timestamp": at.isoformat(),
                "metrics": {
                    "positions": {"total": total, "binance": total // 2,
                                  "bybit": total - total // 2, "unprotected": unprotected},
                    "activity": {"new_opened": (16 + rng.randint(0, 4)) if wave and minute % 7 == 0
                                 else (rng.randint(3, 9) if wave else 0),
                                 "prices_updated": prices, "ts_activated": rng.randint(0, 1),
                                 "sl_updates": rng.randint(0, 4),
                                 "closed": rng.randint(0, 2)},
                    "issues": {"aged": 7 + rng.randint(0, 4) if minute >= 6 else 3,
                               "zombies": 0, "emergency": 0,
                               "errors": 6 + rng.randint(0, 3) if minute in error_minutes
                               else int(rng.random() < 0.05),
                               "ws_reconnects": 1 if minute in ws_minutes else 0},
                },
            }
            handle.write(json.dumps(line) + "\n")
            # The old loop slept 60 s after ~11 queries: its minutes drift by the query time.
            at += timedelta(seconds=60, milliseconds=rng.randint(300, 900))
    return path


def old_kit_alerts(path: Path) -> dict[str, int]:
    """What the old console monitor raised: its thresholds, one alert per minute each."""
    counts = {"critical": 0, "warning": 0, "info": 0}
    for text in path.read_text(encoding="utf-8").splitlines():
        metrics = json.loads(text)["metrics"]
        pos, act, iss = metrics["positions"], metrics["activity"], metrics["issues"]
        counts["critical"] += (pos["unprotected"] > 0) + (iss["emergency"] > 0)
        counts["warning"] += ((act["new_opened"] > 15) + (iss["errors"] > 5)
                              + (act["prices_updated"] == 0 and pos["total"] > 0)
                              + (iss["ws_reconnects"] > 0))
        counts["info"] += iss["aged"] > 5
    counts["total"] = sum(counts.values())
    return counts


REAL_FILE = "monitoring_snapshots_20251018.jsonl"
AUDIT_WINDOW = ("2025-10-18T07:06:20", "2025-10-18T15:00")  # the 8-hour audit run's lines


def real_figures(folder: Path, rules: str) -> list[dict]:
    """Replay the real old-kit file and its 8-hour audit window."""
    source = folder / REAL_FILE
    if not source.is_file():
        return []
    window = Path(tempfile.mkdtemp(prefix="botmon-bench-8h-")) / REAL_FILE
    with open(source, encoding="utf-8") as lines, open(window, "w", encoding="utf-8") as out:
        for text in lines:
            if AUDIT_WINDOW[0] <= json.loads(text)["timestamp"] < AUDIT_WINDOW[1]:
                out.write(text)
    figures = []
    for label, path in (("real 817-line file", source), ("real 8-hour audit run", window)):
        started = time.perf_counter()
        result = replay([path], load_rules(rules))
        seconds = time.perf_counter() - started
        figures.append({
            "label": label, "file": str(path), "minutes": result.records, "gaps": result.gaps,
            "holes": [h.minutes for h in result.holes], "seconds": round(seconds, 2),
            "episodes": result.to_json()["totals"],
            "episodes_by_rule": dict(Counter(e["rule"] for e in result.episodes))})
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="where to write the generated snapshot file")
    parser.add_argument("--seed", type=int, default=19)  # 533 old-kit alerts, as in the real run
    parser.add_argument("--rules", default=str(ROOT / "rules"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--real", default=str(ROOT.parent / "shared" / "real"),
                        help="folder of the real recorded data (skipped when missing)")
    args = parser.parse_args()
    folder = Path(args.out).parent if args.out else Path(tempfile.mkdtemp(prefix="botmon-bench-"))
    path = Path(args.out) if args.out else folder / "monitoring_snapshots_20251015.jsonl"
    generate(path, args.seed)
    old = old_kit_alerts(path)
    started = time.perf_counter()
    result = replay([path], load_rules(args.rules))
    seconds = time.perf_counter() - started
    by_rule = result.per_minute["by_rule"]
    figures = {
        "file": str(path), "minutes": result.records,
        "old_kit_alerts": old,
        "botmon_per_minute_view": {k: result.per_minute[k]
                                   for k in ("total", "critical", "warning", "info")},
        "botmon_per_minute_view_old_kit_rules": sum(by_rule.get(r, 0) for r in OLD_KIT_RULES),
        "botmon_episodes": result.to_json()["totals"],
        "episodes_by_rule": {},
        "minutes_by_rule": result.per_minute["by_rule"],
        "replay_seconds": round(seconds, 2),
        "load": os.getloadavg()[0],
        "real": real_figures(Path(args.real), args.rules),
    }
    for episode in result.episodes:
        figures["episodes_by_rule"][episode["rule"]] = \
            figures["episodes_by_rule"].get(episode["rule"], 0) + 1
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    totals = figures["botmon_episodes"]
    print(f"old-format 8-hour file: {path} ({result.records} snapshot lines)")
    print(f"old kit, one alert per condition per minute: {old['total']} "
          f"({old['critical']} critical, {old['warning']} warning, {old['info']} info)")
    print(f"botmon per-minute view, the old kit's rules:  "
          f"{figures['botmon_per_minute_view_old_kit_rules']} "
          f"(all default rules incl. run totals: {result.per_minute['total']})")
    print(f"botmon alert episodes:                        {totals['episodes']} "
          f"({totals['critical']} critical, {totals['warning']} warning, {totals['info']} info);"
          f" alerts.jsonl would hold {totals['transitions']} transition lines")
    for rule, n in figures["episodes_by_rule"].items():
        print(f"  {rule:<24} {n:>3} episode(s) for {figures['minutes_by_rule'].get(rule, 0):>3} "
              f"minutes held")
    print(f"replay took {seconds:.2f} s for {result.records} minutes (a tick per second; "
          f"load {figures['load']:.2f})")
    for real in figures["real"]:
        totals = real["episodes"]
        print(f"{real['label']}: {real['minutes']} lines, {real['gaps']} gap minutes in holes of "
              f"{real['holes']} minutes; {totals['episodes']} episodes ({totals['critical']} "
              f"critical, {totals['warning']} warning, {totals['info']} info) in "
              f"{real['seconds']:.2f} s")
        print("  " + ", ".join(f"{rule} {n}" for rule, n in real["episodes_by_rule"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
