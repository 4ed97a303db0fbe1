"""One alert episode: pending -> firing -> resolved (or cancelled while still pending).

An episode is the unit the operator sees and the report counts: a condition that holds for 474
minutes is one episode with ``minutes = 474``, not 474 alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tui.alerts.conditions import RISING, Num
from tui.alerts.model import AlertItem
from tui.alerts.rules import Rule
from tui.store.buckets import minute_of


def _iso(ts: datetime | None) -> str | None:
    return ts.isoformat() if ts else None


def items_text(items: tuple[str, ...], shown: int = 5) -> str:
    """"ALLUSDT/bybit 4m12s, XUSDT/binance 3m05s and 2 more"; "—" when nothing is known."""
    if not items:
        return "—"
    text = ", ".join(items[:shown])
    return text + (f" and {len(items) - shown} more" if len(items) > shown else "")


@dataclass
class Episode:
    rule: Rule
    number: int
    started_at: datetime
    state: str = "pending"  # pending / firing / resolved / cancelled
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    cleared_at: datetime | None = None  # stopped holding while firing (keep_firing_for runs)
    last_held_at: datetime | None = None
    values: list[float | None] = field(default_factory=list)  # one per condition, latest
    # The values of the last evaluation that held: the message says what fired, not the 0 that
    # a keep_firing_for phase sees ("WebSocket reconnect: 1", not "0 in the last minute").
    held_values: list[float | None] = field(default_factory=list)
    peak: float | None = None
    minutes: int = 0
    last_minute: datetime | None = None
    acknowledged: bool = False
    # What the metric is made of when it last held (view.details), e.g. the symbols without a
    # stop-loss and for how long: the {items} of a message.
    items: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.rule.name}#{self.number}"

    @property
    def value(self) -> float | None:
        return self.values[0] if self.values else None

    @property
    def threshold(self) -> float:
        return self.rule.condition.threshold

    def observe(self, now: datetime, values: list[float | None], held: bool,
                items: tuple[str, ...] = ()) -> None:
        """Take the latest values; a held evaluation may raise the peak and count its minute."""
        if any(v is not None for v in values):
            self.values = list(values)
        if not held:
            return
        self.last_held_at = now
        self.held_values = list(values)
        if items:
            self.items = items
        value = values[0]
        if value is not None:
            rising = self.rule.condition.op in RISING
            if self.peak is None or (value > self.peak if rising else value < self.peak):
                self.peak = value
        minute = minute_of(now)
        if minute != self.last_minute:
            self.minutes += 1
            self.last_minute = minute

    def message(self) -> str:
        rule = self.rule
        shown = self.held_values or self.values
        fields: dict[str, Any] = {
            "value": Num(shown[0] if shown else None), "threshold": Num(self.threshold),
            "metric": rule.condition.metric, "window": rule.condition.window,
            "op": rule.condition.op, "rule": rule.name, "severity": rule.severity,
            "peak": Num(self.peak), "for": f"{rule.for_s:g}s", "items": items_text(self.items)}
        for index, condition in enumerate(rule.also, 2):
            value = shown[index - 1] if len(shown) >= index else None
            fields.update({f"value{index}": Num(value), f"threshold{index}":
                           Num(condition.threshold), f"metric{index}": condition.metric,
                           f"window{index}": condition.window})
        try:
            return rule.message.format(**fields)
        except (ValueError, KeyError, IndexError):  # validated at load; never lose the alert
            return f"{rule.name}: {rule.condition.metric} = {Num(self.value)}"

    def duration_s(self, now: datetime) -> float:
        end = self.resolved_at or now
        return max(0.0, (end - self.started_at).total_seconds())

    def item(self) -> AlertItem:
        return AlertItem(
            key=self.key, rule=self.rule.name, severity=self.rule.severity, state=self.state,
            message=self.message(), value=self.value, threshold=self.threshold,
            started_at=self.started_at, fired_at=self.fired_at, resolved_at=self.resolved_at,
            peak=self.peak, runbook=self.rule.runbook, acknowledged=self.acknowledged,
            episode=self.number, minutes=self.minutes, condition=self.rule.describe(),
            metric=self.rule.condition.metric, window=self.rule.condition.window,
            items=self.items)

    def record(self, now: datetime | None = None) -> dict[str, Any]:
        """The episode as the report, replay --json and alerts.jsonl write it."""
        end = self.resolved_at
        return {
            "rule": self.rule.name, "severity": self.rule.severity, "episode": self.key,
            "state": self.state, "start": _iso(self.started_at), "fired": _iso(self.fired_at),
            "end": _iso(end), "last_held": _iso(self.last_held_at),
            "duration_s": round(self.duration_s(end or now or self.started_at), 1),
            "minutes": self.minutes, "peak": self.peak, "value": self.value,
            "held_value": self.held_values[0] if self.held_values else None,
            "threshold": self.threshold, "metric": self.rule.condition.metric,
            "window": self.rule.condition.window, "message": self.message(),
            "runbook": self.rule.runbook, "acknowledged": self.acknowledged,
            "items": list(self.items),
        }

    @classmethod
    def from_record(cls, rule: Rule, record: dict[str, Any]) -> Episode:
        """Rebuild an episode from its last alerts.jsonl line (resuming a run); ValueError or
        TypeError when the line is not one the engine wrote."""
        def ts(key: str) -> datetime | None:
            return datetime.fromisoformat(record[key]) if record.get(key) else None

        number = int(str(record.get("episode", "#1")).rpartition("#")[2] or 1)
        started = ts("start") or ts("at")
        if started is None:
            raise ValueError("no start time")
        episode = cls(rule=rule, number=number, started_at=started,
                      state=record.get("state", "firing"), fired_at=ts("fired"),
                      resolved_at=ts("end"), last_held_at=ts("last_held"),
                      values=[record.get("value")], peak=record.get("peak"),
                      held_values=[record.get("held_value", record.get("value"))],
                      minutes=int(record.get("minutes") or 0),
                      acknowledged=bool(record.get("acknowledged")),
                      items=tuple(record.get("items") or ()))
        episode.last_minute = minute_of(episode.last_held_at) if episode.last_held_at else None
        return episode
