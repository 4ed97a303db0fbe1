"""The alert item that panes, the console and the report read (the engine produces them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class AlertItem:
    # Unique per episode: "<rule>#<n>" (n-th episode of the rule), so a resolved episode and the
    # rule's next one can sit in the same list; AlertEngine.acknowledge() takes it (or a rule name).
    key: str
    rule: str
    severity: str  # critical / warning / info
    state: str  # pending / firing / resolved
    message: str  # with {value}/{threshold}/{metric} filled in
    value: float | None
    threshold: float | None
    started_at: datetime  # condition first held
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    peak: float | None = None
    runbook: str = ""
    acknowledged: bool = False
    episode: int = 0  # n-th episode of this rule in the run
    minutes: int = 0  # distinct minutes (database clock) in which the condition held
    condition: str = ""  # the rule in words: "current.unprotected > 0 for 30s"
    metric: str = ""  # the first condition's metric and window ("unprotected", "current")
    window: str = ""
    items: tuple[str, ...] = ()  # what the metric was made of when it last held

    def duration_s(self, now: datetime) -> float:
        """How long the episode has lasted (to its resolution, or to ``now``)."""
        end = self.resolved_at or now
        return max(0.0, (end - self.started_at).total_seconds())
