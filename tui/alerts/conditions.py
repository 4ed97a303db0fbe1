"""Conditions and their evaluation against a view: comparisons, durations, message placeholders.

Rule files are data: the six comparison operators map to functions here, nothing is ``eval``-ed.
"""

from __future__ import annotations

import math
import operator
import re
import string
from dataclasses import dataclass
from typing import Callable, Mapping

from tui.store.metrics import WINDOWS  # noqa: F401 - the store defines the windows
from tui.store.view import MetricsView

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}
# Operators for which "worse" means "larger": the peak of an episode is its maximum value.
RISING = (">", ">=", "==", "!=")

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object) -> float | None:
    """``"90s"``, ``"2m"``, ``"1h30m"``, ``"250ms"`` or a number of seconds; None if invalid."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value >= 0 and math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "")
    if text == "0":
        return 0.0
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        position = match.end()
    return total if text and position == len(text) else None


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s" if seconds else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def pretty(value: float | None) -> str:
    """3.0 -> "3", 2.345 -> "2.35": what a person wants to read in an alert line."""
    if value is None:
        return "–"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class Condition:
    metric: str
    window: str
    op: str
    threshold: float

    def read(self, view: MetricsView, extra: Mapping[str, float] | None = None) -> float | None:
        """The metric's value in the view; None when it is missing (not evaluable)."""
        value = view.value(self.metric, self.window)
        if value is None and extra is not None and self.window in ("current", "all_time"):
            value = extra.get(self.metric)
        return None if value is None else float(value)

    def holds(self, value: float | None, threshold: float | None = None) -> bool:
        """A missing value never holds: a rule cannot fire on what the monitor cannot see."""
        if value is None or math.isnan(value):
            return False
        return OPS[self.op](value, self.threshold if threshold is None else threshold)

    def text(self, threshold: float | None = None) -> str:
        limit = self.threshold if threshold is None else threshold
        return f"{self.window}.{self.metric} {self.op} {pretty(limit)}"


class Num:
    """A number in a message: plain ``{value}`` reads "3" not "3.0"; ``{value:.1f}`` works too."""

    def __init__(self, value: float | None) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        if self.value is None:
            return "–"
        return format(self.value, spec) if spec else pretty(self.value)

    def __str__(self) -> str:
        return self.__format__("")


def placeholders(message: str) -> list[tuple[str, str]]:
    """(field, format spec) of every ``{...}`` in ``message``; raises ValueError if malformed."""
    found = []
    for _, field, spec, _ in string.Formatter().parse(message):
        if field is not None:
            found.append((field, spec or ""))
    return found


def placeholder_names(n_and: int) -> list[str]:
    names = ["value", "threshold", "metric", "window", "op", "rule", "severity", "peak", "for",
             "items"]
    for index in range(2, n_and + 2):  # value2 = the first `and` condition, value3 the second...
        names.extend(f"{name}{index}" for name in ("value", "threshold", "metric", "window"))
    return names
