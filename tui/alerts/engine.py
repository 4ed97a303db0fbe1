"""AlertEngine: evaluates the rules on every view and keeps alert episodes.

Time is the view's database clock (``view.now``), never the wall clock: ``for`` and
``keep_firing_for`` are measured between views, so tests and ``botmon replay`` drive time
explicitly. A condition over a metric missing from its window (gauges while the database is down,
``bot_silent_s`` before the first event) is not evaluable and counts as not holding.
"""

from __future__ import annotations

from collections import Counter, deque
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from tui.alerts.conditions import format_duration, pretty
from tui.alerts.episodes import Episode
from tui.alerts.journal import Journal
from tui.alerts.model import SEVERITIES, AlertItem
from tui.alerts.rules import Rule, RuleSet, load_rules
from tui.outputs.report import AlertSummary
from tui.store.buckets import minute_of
from tui.store.view import MetricsView

MAX_EPISODES_KEPT = 5000  # for the report's list; the counts stay exact beyond it
_RANK = {severity: index for index, severity in enumerate(SEVERITIES)}


def engine_for(config, alerts_path: Path | None = None, *, bell: bool | None = None
               ) -> AlertEngine:
    """The engine of a run: rules from ``config.rules_dir`` (raises RuleError, exit 2)."""
    engine = AlertEngine(load_rules(config.rules_dir),
                         journal=Journal(alerts_path) if alerts_path else None, bell=bell)
    engine.restore()  # a resumed run continues its episodes instead of counting them twice
    return engine


class AlertEngine:
    def __init__(self, ruleset: RuleSet, journal: Journal | None = None,
                 bell: bool | None = None) -> None:
        self.ruleset = ruleset
        self.rules: tuple[Rule, ...] = ruleset.rules
        self.journal = journal
        # Told of every transition journaled (e.g. notifications); must not block or raise.
        self.listeners: list[Callable[[dict[str, Any]], None]] = []
        self.bell_enabled = ruleset.settings.bell if bell is None else bell
        self.active: dict[str, Episode] = {}  # rule name -> its pending or firing episode
        self.resolved: deque[Episode] = deque(maxlen=max(ruleset.settings.keep_resolved, 0))
        self.fired: list[Episode] = []  # every episode that fired, for the report
        self.fired_count: Counter = Counter()  # severity -> episodes that fired (exact)
        self.numbers: Counter = Counter()  # rule -> episodes started
        self.minutes_held: Counter = Counter()  # rule -> minutes its condition held (old view)
        self._last_held_minute: dict[str, datetime] = {}
        self.now: datetime | None = None
        self._bell = False
        self._items: tuple[AlertItem, ...] = ()
        self._console_resolved: list[Episode] = []

    # -- evaluation ------------------------------------------------------------------------------
    def evaluate(self, view: MetricsView) -> list[dict[str, Any]]:
        """Evaluate every rule on ``view``; return (and journal) the transitions it caused."""
        now = view.now
        self.now = now
        engine_values = {"run_elapsed_s": view.elapsed_s}
        transitions: list[dict[str, Any]] = []
        for rule in self.rules:
            values = [c.read(view, engine_values) for c in rule.conditions]
            strict = all(c.holds(v) for c, v in zip(rule.conditions, values))
            self._count_minute(rule, now, strict)
            episode = self.active.get(rule.name)
            held = strict
            if episode is not None and episode.state == "firing" and \
                    rule.resolve_threshold is not None:
                # Hysteresis: while firing, the first condition only has to stay past the
                # resolve threshold, so a value hovering at the threshold does not flap.
                held = rule.condition.holds(values[0], rule.resolve_threshold) and all(
                    c.holds(v) for c, v in zip(rule.also, values[1:]))
            items = tuple(view.details.get(rule.condition.metric, ()))
            transitions.extend(self._step(rule, episode, now, values, held, items))
        for transition in transitions:
            if self.journal is not None:
                self.journal.append(transition)
            for listener in self.listeners:
                listener(transition)
        self._refresh()
        return transitions

    def _count_minute(self, rule: Rule, now: datetime, held: bool) -> None:
        """The old kit's view: one alert per rule per minute in which its condition held."""
        if not held:
            return
        minute = minute_of(now)
        if self._last_held_minute.get(rule.name) != minute:
            self._last_held_minute[rule.name] = minute
            self.minutes_held[rule.name] += 1

    def _step(self, rule: Rule, episode: Episode | None, now: datetime,
              values: list[float | None], held: bool,
              items: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        if episode is None:
            if not held:
                return []
            self.numbers[rule.name] += 1
            episode = Episode(rule=rule, number=self.numbers[rule.name], started_at=now)
            self.active[rule.name] = episode
            episode.observe(now, values, held, items)
            if rule.for_s <= 0:
                return [self._fire(episode, now)]
            return [self._transition(episode, "pending", now)]
        episode.observe(now, values, held, items)
        if episode.state == "pending":
            if not held:
                episode.state = "cancelled"
                del self.active[rule.name]
                return [self._transition(episode, "cancelled", now)]
            if (now - episode.started_at).total_seconds() >= rule.for_s:
                return [self._fire(episode, now)]
            return []
        # firing
        if held:
            episode.cleared_at = None
            return []
        if episode.cleared_at is None:
            episode.cleared_at = now
        if (now - episode.cleared_at).total_seconds() >= rule.keep_firing_for_s:
            episode.state = "resolved"
            episode.resolved_at = now
            del self.active[rule.name]
            self.resolved.append(episode)
            self._console_resolved.append(episode)
            return [self._transition(episode, "resolved", now)]
        return []

    def _fire(self, episode: Episode, now: datetime) -> dict[str, Any]:
        episode.state = "firing"
        episode.fired_at = now
        self.fired_count[episode.rule.severity] += 1
        if len(self.fired) < MAX_EPISODES_KEPT:
            self.fired.append(episode)
        if episode.rule.severity == "critical" and episode.rule.rings and self.bell_enabled:
            self._bell = True
        return self._transition(episode, "firing", now)

    @staticmethod
    def _transition(episode: Episode, event: str, now: datetime) -> dict[str, Any]:
        return {"at": now.isoformat(), "event": event, **episode.record(now)}

    # -- what the UI, the console and the report read ---------------------------------------------
    def _refresh(self) -> None:
        active = sorted(self.active.values(), key=lambda e: (
            _RANK.get(e.rule.severity, 9), e.state != "firing", e.started_at))
        resolved = sorted(self.resolved, key=lambda e: e.resolved_at or e.started_at,
                          reverse=True)
        self._items = tuple(e.item() for e in active + resolved)

    def items(self) -> tuple[AlertItem, ...]:
        """Firing and pending (by severity, firing first, oldest first), then recently resolved
        (newest first, at most ``settings.keep_resolved``)."""
        return self._items

    def acknowledge(self, key: str) -> bool:
        """Acknowledge an episode (``rule#n``) or a rule's current episode; it stays listed."""
        episode = self.active.get(key)
        if episode is None:
            episode = next((e for e in list(self.active.values()) + list(self.resolved)
                            if e.key == key), None)
        if episode is None or episode.acknowledged:
            return False
        episode.acknowledged = True
        if self.journal is not None:
            self.journal.append(self._transition(episode, "acknowledged",
                                                 self.now or episode.started_at))
        self._refresh()
        return True

    def take_bell(self) -> bool:
        """True once after a new critical episode fired (and the bell is on): ring it once."""
        ring, self._bell = self._bell, False
        return ring

    def counts(self) -> dict[str, int]:
        """Firing episodes per severity, for the pane's header."""
        found = Counter(e.rule.severity for e in self.active.values() if e.state == "firing")
        return {severity: found.get(severity, 0) for severity in SEVERITIES}

    def console_lines(self) -> list[str]:
        """Lines under the headless per-minute block: active alerts, then what resolved since."""
        now = self.now
        lines = []
        for item in self._items:
            if item.state == "resolved":
                continue
            age = format_duration(item.duration_s(now)) if now else ""
            ack = " (acknowledged)" if item.acknowledged else ""
            lines.append(f"{item.severity.upper():<8} {item.state} {age}: {item.message}"
                         f"  [{item.rule}: {item.condition}]{ack}")
        for episode in self._console_resolved:
            lines.append(f"{episode.rule.severity.upper():<8} resolved after "
                         f"{format_duration(episode.duration_s(episode.resolved_at))}: "
                         f"{episode.rule.name} (peak {pretty(episode.peak)}, "
                         f"{episode.minutes} min)")
        self._console_resolved.clear()
        return lines

    def episodes(self) -> list[dict[str, Any]]:
        """Every episode that fired, oldest first."""
        return [e.record(self.now) for e in self.fired]

    def per_minute_view(self) -> dict[str, Any]:
        by_severity = Counter()
        for rule in self.rules:
            by_severity[rule.severity] += self.minutes_held.get(rule.name, 0)
        return {
            "total": sum(by_severity.values()),
            **{severity: by_severity.get(severity, 0) for severity in SEVERITIES},
            "by_rule": {name: n for name, n in self.minutes_held.most_common() if n},
            "note": "one alert per rule per minute in which its condition held, as the old "
                    "console monitor raised them; compare with the episode counts",
        }

    def summary(self) -> AlertSummary:
        """Episode counts for the final report, plus the per-minute view for comparison."""
        total = sum(self.fired_count.values())
        extra: dict[str, Any] = {
            "alerts_per_minute_view": self.per_minute_view(),
            "alert_rules": {"files": [str(f) for f in self.ruleset.files],
                            "rules": len(self.rules)},
        }
        if self.journal is not None:
            extra["alert_journal"] = {"path": str(self.journal.path),
                                      "transitions": self.journal.written,
                                      "write_failures": self.journal.failed}
        return AlertSummary(total=total, critical=self.fired_count.get("critical", 0),
                            warning=self.fired_count.get("warning", 0),
                            info=self.fired_count.get("info", 0), alerts=self.episodes(),
                            extra=extra)

    # -- resuming --------------------------------------------------------------------------------
    def restore(self) -> int:
        """Continue a crashed run from its alerts.jsonl: fired episodes count, firing ones go on.

        Pending episodes are dropped (their ``for`` starts again); rules no longer in the rule
        files are skipped. Returns the number of episodes restored.
        """
        if self.journal is None:
            return 0
        by_name = {rule.name: rule for rule in self.rules}
        last: dict[str, dict[str, Any]] = {}
        for record in self.journal.read():
            key = record.get("episode")
            if isinstance(key, str) and record.get("rule") in by_name:
                last[key] = record
                tail = key.rpartition("#")[2]
                if tail.isdigit():  # numbering goes on: rule#3 after rule#2
                    self.numbers[record["rule"]] = max(self.numbers[record["rule"]], int(tail))
        restored = 0
        for record in sorted(last.values(), key=lambda r: str(r.get("start"))):
            if record.get("state") not in ("firing", "resolved") or not record.get("fired"):
                continue
            rule = by_name[record["rule"]]
            try:
                episode = Episode.from_record(rule, record)
            except (ValueError, TypeError):  # a hand-edited line must not stop the resume
                continue
            self.fired_count[rule.severity] += 1
            if len(self.fired) < MAX_EPISODES_KEPT:
                self.fired.append(episode)
            if episode.state == "firing":
                self.active[rule.name] = episode
            else:
                self.resolved.append(episode)
            self.minutes_held[rule.name] += episode.minutes
            restored += 1
        self.fired.sort(key=lambda e: e.started_at)
        self._refresh()
        return restored
