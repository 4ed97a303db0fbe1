"""The alert item that panes, the console and the report read (the engine produces them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class AlertItem:
    key: str  # unique per episode source (the rule name)
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
