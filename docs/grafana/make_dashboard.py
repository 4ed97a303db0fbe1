"""Writes docs/grafana/botmon.json, the Grafana dashboard for botmon's /metrics.

The panes follow botmon's screen: the header (database, bot silence, run), Current state, Last
minute, Last 10 minutes, All time, Alerts, and the monitor's health. Each figure reads the
window botmon itself shows (``window`` label), so the dashboard and the terminal agree.

    python docs/grafana/make_dashboard.py        # rewrite botmon.json after a change here
"""

from __future__ import annotations

import json
from itertools import count
from pathlib import Path

OUT = Path(__file__).with_name("botmon.json")
DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'bot=~"$bot"'
_ids = count(1)


def total(family: str, window: str | None = None, by: str = "bot") -> str:
    """Bot-wide figure: per-exchange series and the rest add up (counters, gauges)."""
    matchers = [SEL] + ([f'window="{window}"'] if window else [])
    return f"sum by ({by}) ({family}{{{','.join(matchers)}}})"


def single(family: str, window: str | None = None) -> str:
    """Bot-wide value of a non-additive family (max, avg, percentiles)."""
    matchers = [SEL] + ([f'window="{window}"'] if window else []) + ['exchange=""']
    return f"max by (bot) ({family}{{{','.join(matchers)}}})"


def target(expr: str, legend: str = "{{bot}}", instant: bool = False) -> dict:
    found = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": "A"}
    if instant:
        found.update({"instant": True, "range": False, "format": "table"})
    return found


def thresholds(*steps: tuple[float | None, str]) -> dict:
    return {"mode": "absolute",
            "steps": [{"color": color, "value": value} for value, color in steps]}


GREEN = thresholds((None, "green"))
BAD_ABOVE_0 = thresholds((None, "green"), (1, "red"))
WARN_ABOVE_0 = thresholds((None, "green"), (1, "yellow"))


def stat(title: str, expr: str, x: int, y: int, w: int = 4, h: int = 4, unit: str = "none",
         steps: dict = GREEN, legend: str = "{{bot}}", description: str = "",
         mappings: list | None = None) -> dict:
    return {"id": next(_ids), "type": "stat", "title": title, "description": description,
            "datasource": DS, "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "targets": [target(expr, legend)],
            "options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                          "values": False},
                        "colorMode": "value", "graphMode": "area", "textMode": "auto"},
            "fieldConfig": {"defaults": {"unit": unit, "thresholds": steps,
                                         "mappings": mappings or [],
                                         "color": {"mode": "thresholds"}}, "overrides": []}}


def series(title: str, targets: list[dict], x: int, y: int, w: int = 12, h: int = 7,
           unit: str = "none", bars: bool = False, description: str = "") -> dict:
    for ref, item in zip("ABCDEFGHIJ", targets):
        item["refId"] = ref
    return {"id": next(_ids), "type": "timeseries", "title": title,
            "description": description, "datasource": DS,
            "gridPos": {"x": x, "y": y, "w": w, "h": h}, "targets": targets,
            "options": {"legend": {"displayMode": "list", "placement": "bottom"},
                        "tooltip": {"mode": "multi"}},
            "fieldConfig": {"defaults": {"unit": unit, "custom": {
                "drawStyle": "bars" if bars else "line", "fillOpacity": 60 if bars else 10,
                "lineWidth": 1}}, "overrides": []}}


def table(title: str, expr: str, x: int, y: int, w: int, h: int, columns: list[str],
          description: str = "") -> dict:
    keep = {name: False for name in ("Time", "Value", "__name__", "instance", "job")}
    keep.update({name: True for name in columns})
    return {"id": next(_ids), "type": "table", "title": title, "description": description,
            "datasource": DS, "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "targets": [target(expr, instant=True)],
            "transformations": [{"id": "organize", "options": {
                "excludeByName": {k: True for k, v in keep.items() if not v},
                "indexByName": {name: i for i, name in enumerate(columns)}}}],
            "options": {"showHeader": True}, "fieldConfig": {"defaults": {}, "overrides": []}}


def row(title: str, y: int) -> dict:
    return {"id": next(_ids), "type": "row", "title": title, "collapsed": False,
            "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []}


COUNTERS = [("opened", "positions_opened"), ("closed", "positions_closed"),
            ("price updates", "price_updates"), ("TS activations", "ts_activations"),
            ("SL moves", "sl_updates"), ("errors", "errors"), ("WS reconnects", "ws_reconnects"),
            ("zombies", "zombies"), ("emergency", "emergency_closes")]
PROBLEMS = {"errors": WARN_ABOVE_0, "ws_reconnects": WARN_ABOVE_0, "zombies": WARN_ABOVE_0,
            "emergency_closes": BAD_ABOVE_0}


def panels() -> list[dict]:
    found: list[dict] = [row("Header: database, bot, run", 0)]
    up = [{"type": "value", "options": {"0": {"text": "DOWN", "color": "red"},
                                        "1": {"text": "OK", "color": "green"}}}]
    found += [
        stat("Database", f"max by (bot) (botmon_db_up{{{SEL}}})", 0, 1, 3,
             steps=thresholds((None, "red"), (1, "green")), mappings=up),
        stat("Poll latency", f"max by (bot) (botmon_poll_seconds{{{SEL}}})", 3, 1, 3, unit="s"),
        stat("Bot event", f"max by (bot) (botmon_bot_silent_seconds{{{SEL}}})", 6, 1, 3,
             unit="s", steps=thresholds((None, "green"), (60, "yellow"), (300, "red")),
             description="seconds since the bot's newest event (database clock)"),
        stat("Log", f"max by (bot) (botmon_log_silent_seconds{{{SEL}}})", 9, 1, 3, unit="s",
             steps=thresholds((None, "green"), (60, "yellow"), (300, "red")),
             description="seconds since the bot's log last grew (when a log is followed)"),
        stat("Elapsed", f"max by (bot) (botmon_run_elapsed_seconds{{{SEL}}})", 12, 1, 3,
             unit="s"),
        stat("Snapshots", f"max by (bot) (botmon_snapshots_written_total{{{SEL}}})", 15, 1, 3),
        stat("Gap minutes", f"max by (bot) (botmon_gap_minutes_total{{{SEL}}})", 18, 1, 3,
             steps=WARN_ABOVE_0),
        stat("Firing alerts", f'count by (bot) (botmon_alerts{{{SEL},alertstate="firing"}}) '
             f"or on(bot) (0 * max by (bot) (botmon_db_up{{{SEL}}}))", 21, 1, 3,
             steps=WARN_ABOVE_0),
    ]
    found.append(row("Current state (latest poll)", 5))
    found += [
        stat("Open positions", total("botmon_open_positions", "current"), 0, 6, 4),
        stat("Open per exchange",
             total("botmon_open_positions", "current", by="bot, exchange"), 4, 6, 8,
             legend="{{exchange}}"),
        stat("Without SL", total("botmon_unprotected", "current"), 12, 6, 4,
             steps=BAD_ABOVE_0),
        stat("Aged", total("botmon_aged", "current"), 16, 6, 4,
             steps=thresholds((None, "green"), (1, "yellow"))),
        stat("TS inconsistent",
             f'sum by (bot) ({{__name__=~"botmon_ts_missing|botmon_ts_orphaned|'
             f'botmon_ts_sl_mismatch",{SEL},window="current"}})', 20, 6, 4,
             steps=WARN_ABOVE_0,
             description="trailing stops missing, orphaned, or disagreeing with the SL price"),
    ]
    found.append(row("Last minute (the last complete minute, per minute over time)", 10))
    x = y = 0
    pairs = [COUNTERS[i:i + 2] for i in range(0, len(COUNTERS), 2)]
    for index, pair in enumerate(pairs):
        targets = [target(total(f"botmon_{m}_in_window", "last_minute"), label)
                   for label, m in pair]
        if index == 0:
            targets.append(target(single("botmon_positions_price_updated", "last_minute"),
                                  "positions with a price update"))
        x, y = (index % 3) * 8, 11 + (index // 3) * 7
        found.append(series(" · ".join(label for label, _ in pair), targets, x, y, w=8,
                            bars=True))
    y += 7
    found.append(row("Last 10 minutes", y))
    for index, (label, metric) in enumerate(COUNTERS):
        found.append(stat(label, total(f"botmon_{metric}_in_window", "last_10_minutes"),
                          (index % 6) * 4, y + 1 + (index // 6) * 4,
                          steps=PROBLEMS.get(metric, GREEN)))
    y += 9
    for index, (label, gauge) in enumerate((("open", "open_positions"),
                                            ("without SL", "unprotected"), ("aged", "aged"))):
        found.append(stat(f"{label} avg", single(f"botmon_{gauge}_avg", "last_10_minutes"),
                          index * 8, y, 4, legend="avg"))
        found.append(stat(f"{label} max", single(f"botmon_{gauge}_max", "last_10_minutes"),
                          index * 8 + 4, y, 4, legend="max",
                          steps=BAD_ABOVE_0 if gauge == "unprotected" else GREEN))
    y += 4
    found.append(row("All time (since the run started)", y))
    for index, (label, metric) in enumerate(COUNTERS):
        found.append(stat(label, total(f"botmon_{metric}_total"), (index % 6) * 4,
                          y + 1 + (index // 6) * 4, steps=PROBLEMS.get(metric, GREEN)))
    y += 9
    found.append(stat("Opened per exchange", total("botmon_positions_opened_total",
                                                   by="bot, exchange"), 0, y, 8,
                      legend="{{exchange}}"))
    found.append(stat("Most open at once", single("botmon_open_positions_max", "all_time"),
                      8, y, 4))
    found.append(stat("Most without SL", single("botmon_unprotected_max", "all_time"), 12, y,
                      4, steps=BAD_ABOVE_0))
    found.append(stat("Most aged", single("botmon_aged_max", "all_time"), 16, y, 4))
    found.append(stat("Events per minute", single("botmon_events_per_minute", "all_time"), 20,
                      y, 4))
    y += 4
    found.append(row("Trades and PnL (positions table)", y))
    found += [
        stat("Realized PnL (run)", total("botmon_realized_pnl", "all_time"), 0, y + 1,
             steps=thresholds((None, "red"), (0, "green"))),
        stat("Unrealized PnL", total("botmon_unrealized_pnl", "current"), 4, y + 1,
             steps=thresholds((None, "red"), (0, "green"))),
        stat("Exposure", total("botmon_exposure", "current"), 8, y + 1),
        stat("Trades won", total("botmon_trades_won_total"), 12, y + 1),
        stat("Trades lost", total("botmon_trades_lost_total"), 16, y + 1),
        stat("Win rate (run)", single("botmon_win_rate_ratio", "all_time"), 20, y + 1,
             unit="percentunit"),
    ]
    y += 5
    found.append(row("Alerts (botmon's episodes) and unavailable figures", y))
    found.append(table("Pending and firing", f"botmon_alerts{{{SEL}}}", 0, y + 1, 14, 7,
                       ["bot", "severity", "alertname", "alertstate"]))
    found.append(table("Figures this bot gives no source for (shown as — in botmon)",
                       f"botmon_metric_unavailable{{{SEL}}}", 14, y + 1, 10, 7,
                       ["bot", "metric", "reason"]))
    y += 8
    found.append(row("The monitor's health", y))
    found.append(series("Poll latency (p95 of the last minute)", [
        target(single("botmon_poll_p95_seconds", "last_minute"), "p95 {{bot}}"),
        target(single("botmon_poll_max_seconds", "last_minute"), "max {{bot}}")],
        0, y + 1, 8, unit="s"))
    found.append(series("Polls per minute", [
        target(total("botmon_polls_in_window", "last_minute"), "ok {{bot}}"),
        target(total("botmon_failed_polls_in_window", "last_minute"), "failed {{bot}}")],
        8, y + 1, 8, bars=True))
    found.append(series("Bot log per minute", [
        target(total("botmon_log_errors_in_window", "last_minute"), "errors {{bot}}"),
        target(total("botmon_log_warnings_in_window", "last_minute"), "warnings {{bot}}"),
        target(total("botmon_log_ws_reconnects_in_window", "last_minute"),
               "WS reconnects {{bot}}")], 16, y + 1, 8, bars=True))
    return found


def dashboard() -> dict:
    return {
        "title": "botmon", "uid": "botmon", "tags": ["botmon", "trading-bot"],
        "description": "botmon's panes from its Prometheus /metrics (one or many bots)",
        "timezone": "browser", "refresh": "30s", "schemaVersion": 39, "version": 1,
        "time": {"from": "now-8h", "to": "now"}, "editable": True,
        "templating": {"list": [
            {"name": "datasource", "label": "Prometheus", "type": "datasource",
             "query": "prometheus", "current": {}, "hide": 0},
            {"name": "bot", "label": "bot", "type": "query", "datasource": DS,
             "query": {"query": "label_values(botmon_info, bot)", "refId": "bot"},
             "definition": "label_values(botmon_info, bot)", "refresh": 2, "multi": True,
             "includeAll": True, "current": {}, "hide": 0}]},
        "annotations": {"list": []},
        "panels": panels(),
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT}")
