"""Plain formatting helpers shared by the panes (no Textual here, so they test in isolation)."""

from __future__ import annotations

from datetime import datetime

DASH = "–"


def count(value: float | None) -> str:
    """An integer counter with thousands separators; a dash when unknown."""
    if value is None:
        return DASH
    return f"{int(round(value)):,}"


def decimal(value: float | None, digits: int = 1) -> str:
    if value is None:
        return DASH
    return f"{value:,.{digits}f}"


def avg_max(avg: float | None, peak: float | None) -> str:
    """A gauge over a window: ``67.4 / 71`` (average / maximum)."""
    if avg is None and peak is None:
        return DASH
    return f"{decimal(avg)} / {count(peak)}"


def clock(ts: datetime | None) -> str:
    """Local wall time of a database timestamp (the operator's clock face)."""
    return ts.astimezone().strftime("%H:%M:%S") if ts else DASH


def hms(seconds: float | None) -> str:
    """``1:02:03`` for durations of a run (hours unbounded)."""
    if seconds is None:
        return DASH
    seconds = int(max(0.0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def age(seconds: float | None) -> str:
    """Compact age: ``45s``, ``12m``, ``3h05m``, ``2d04h``."""
    if seconds is None:
        return DASH
    seconds = int(max(0.0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h{minutes % 60:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"


def since(seconds: float | None) -> str:
    """``4 s ago`` / ``12 m ago`` for staleness figures."""
    if seconds is None:
        return "never"
    seconds = max(0.0, seconds)
    if seconds < 100:
        return f"{seconds:.0f} s ago"
    return f"{age(seconds)} ago"


def percent(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:+.2f}%"


def signed(value: float | None) -> str:
    """``+0.55`` / ``-12.34``: a percentage under a header that says %."""
    if value is None:
        return DASH
    return f"{value:+.2f}"


def shorten_path(path: str, width: int) -> str:
    """Keep the end of a long path (the run's own folder name is what matters)."""
    if len(path) <= width:
        return path
    if width <= 1:
        return "…"[:width]
    return "…" + path[-(width - 1):]
