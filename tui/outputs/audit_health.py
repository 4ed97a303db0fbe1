"""The overall health verdict: GREEN / YELLOW / RED, from alert episodes and the operators'
good/warning thresholds (BOT_FACTS.md, "The old audit kit").

The thresholds are a data table. Each check compares one value with a "warning" mark and a
"bad" mark; the verdict is

- RED when any check crosses its bad mark (any CRITICAL episode fired; SL update p95 > 500 ms;
  > 20 WebSocket reconnects; > 50 errors; > 5 zombie orders),
- YELLOW when any check crosses its warning mark (a WARNING episode fired; snapshot minutes
  missing; >= 5 aged positions; SL update p95 >= 200 ms; database poll p95 >= 300 ms; >= 5
  reconnects; >= 10 errors; any zombie order),
- GREEN otherwise.

The operators' "SL update < 200 ms" is about a trailing stop moving its stop-loss. Placing the
first stop-loss after an open is another figure (an exchange order after a fill, seconds on the
bot's atomic path) with no target of theirs: it is shown ("info") and never decides.

A check without a value is "n/a" and never decides: either its source was not available this
time (the database analysis did not run, say) or the bot gives it none at all ("n/a: not
measurable on this bot", with the reason): never "ok". The checks that decided the verdict are
named in the report.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Callable, Mapping

OPS: dict[str, Callable[[float, float], bool]] = {">": operator.gt, ">=": operator.ge}
Mark = tuple[str, float]  # (op, value): the mark is crossed when ``value op mark`` holds

GREEN, YELLOW, RED = "GREEN", "YELLOW", "RED"
OK, WARNING, BAD, NA, INFO = "ok", "warning", "bad", "n/a", "info"
NOT_MEASURABLE = "n/a: not measurable on this bot"


@dataclass(frozen=True)
class Threshold:
    id: str
    label: str  # what is measured
    target: str  # the operators' words
    source: str  # where the value comes from
    warning: Mark | None = None
    bad: Mark | None = None
    unit: str = ""

    def status(self, value: float | None) -> str:
        if value is None:
            return NA
        if self.warning is None and self.bad is None:
            return INFO  # a figure without a target: shown, never decides
        if self.bad is not None and OPS[self.bad[0]](value, self.bad[1]):
            return BAD
        if self.warning is not None and OPS[self.warning[0]](value, self.warning[1]):
            return WARNING
        return OK

    def rule(self) -> str:
        parts = []
        if self.warning is not None:
            parts.append(f"warning {self.warning[0]} {_num(self.warning[1])}{self.unit}")
        if self.bad is not None:
            parts.append(f"bad {self.bad[0]} {_num(self.bad[1])}{self.unit}")
        return ", ".join(parts) or "no target: shown, never decides"


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("critical_episodes", "CRITICAL alert episodes", "zero CRITICAL alerts",
              "alerts.jsonl (episodes that fired)", bad=(">", 0)),
    Threshold("warning_episodes", "WARNING alert episodes", "no warning episodes",
              "alerts.jsonl (episodes that fired)", warning=(">", 0)),
    Threshold("snapshot_minutes_missing", "minutes without a snapshot",
              "480 snapshots with no gaps", "snapshot lines vs the run's minutes",
              warning=(">", 0)),
    Threshold("aged_max", "aged positions (most open at once)", "< 5 aged positions",
              "snapshot gauges / final report", warning=(">=", 5)),
    Threshold("sl_update_p95_ms", "SL update p95 (a trailing stop moving its stop-loss)",
              "SL update < 200 ms (> 500 ms bad)", "none on this bot (see the value)",
              warning=(">=", 200), bad=(">", 500), unit=" ms"),
    Threshold("sl_placement_p95_ms",
              "SL placement after an open, p95 (position_created -> stop_loss_placed)",
              "none (the operators' 200 ms is for SL updates, not placement)",
              "post-test SQL 05_performance", unit=" ms"),
    Threshold("db_poll_p95_ms", "database poll latency p95", "DB query < 300 ms",
              "final report poll_latency_ms", warning=(">=", 300), unit=" ms"),
    Threshold("api_p50_ms", "exchange API latency p50", "API p50 < 500 ms (> 1000 ms bad)",
              "none: botmon does not see the bot's API calls",
              warning=(">=", 500), bad=(">", 1000), unit=" ms"),
    Threshold("ws_reconnects", "WebSocket reconnects", "< 5 reconnects (> 20 bad)",
              "events (total_ws_reconnects)", warning=(">=", 5), bad=(">", 20)),
    Threshold("errors", "errors (events)", "< 10 API errors (> 50 bad)",
              "events (total_errors: error types and ERROR/CRITICAL severity)",
              warning=(">=", 10), bad=(">", 50)),
    Threshold("zombies", "zombie orders", "0 zombies (> 5 bad)", "events (total_zombies)",
              warning=(">", 0), bad=(">", 5)),
)


def evaluate(values: Mapping[str, float | None],
             thresholds: tuple[Threshold, ...] = THRESHOLDS,
             details: Mapping[str, str] | None = None,
             unmeasurable: Mapping[str, str] | None = None,
             sources: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``{"verdict", "decided_by": [check ids], "reason", "checks": [...]}``.

    ``unmeasurable`` names the checks this bot gives no source for (check id -> why): they are
    "n/a: not measurable on this bot" whatever value came in. ``sources`` replaces a check's
    source when its value came from elsewhere (the bot's log instead of events)."""
    checks = []
    for threshold in thresholds:
        value = values.get(threshold.id)
        why = (unmeasurable or {}).get(threshold.id)
        if why:
            value = None
        checks.append({
            "id": threshold.id, "label": threshold.label, "target": threshold.target,
            "rule": threshold.rule(), "source": (sources or {}).get(threshold.id,
                                                                     threshold.source),
            "value": value, "detail": (details or {}).get(threshold.id, ""),
            "status": threshold.status(value), "unit": threshold.unit.strip(),
            "not_measurable": why or None})
    bad = [c for c in checks if c["status"] == BAD]
    warn = [c for c in checks if c["status"] == WARNING]
    if bad:
        verdict, deciding = RED, bad
    elif warn:
        verdict, deciding = YELLOW, warn
    else:
        verdict, deciding = GREEN, []
    return {"verdict": verdict, "decided_by": [c["id"] for c in deciding],
            "reason": reason(verdict, deciding), "checks": checks,
            "rule": "RED when any check crosses its bad mark (any CRITICAL episode fired "
                    "included); YELLOW when any crosses its warning mark (any WARNING episode "
                    "fired included); GREEN otherwise; n/a and info checks do not count"}


def reason(verdict: str, deciding: list[dict]) -> str:
    if not deciding:
        return "every check is within the operators' good marks (or has no data)"
    parts = []
    for check in deciding:
        mark = check["rule"].split(", ")
        crossed = next((m for m in mark if m.startswith("bad" if verdict == RED else "warning")),
                       check["rule"])
        parts.append(f"{check['label']} = {_num(check['value'])}"
                     f"{' ' + check['unit'] if check['unit'] else ''} "
                     f"({crossed}; target: {check['target']})")
    return "; ".join(parts)


def _num(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value == int(value) else f"{value:.1f}"
    return str(value)
