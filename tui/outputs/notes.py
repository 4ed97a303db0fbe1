"""Hourly observations: the operator's note per audit hour, next to the figures of that hour.

Audit hours count from the run start ("Hour 3 (09:49–10:49)"). Each save rewrites
``hourly_observations.md`` atomically (synced temporary file + rename) with that hour's section
replaced and every other section kept, so a crash mid-save never loses a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Mapping

from tui.outputs.durable import write_atomic

NOTES_FILE = "hourly_observations.md"
HOUR = timedelta(hours=1)
_SECTION = re.compile(r"^## Hour (\d+) ", re.MULTILINE)

# The template's figures for an hour: label -> (window metric, how to show it).
FIGURES: tuple[tuple[str, str], ...] = (
    ("Open positions (average / max)", "open_positions"),
    ("Positions opened", "positions_opened"),
    ("Positions closed", "positions_closed"),
    ("Trailing-stop activations", "ts_activations"),
    ("Without stop-loss (max)", "unprotected_max"),
    ("Aged positions (max)", "aged_max"),
    ("Errors", "errors"),
    ("WebSocket reconnects", "ws_reconnects"),
    ("Emergency closes", "emergency_closes"),
    ("Zombie orders cleaned", "zombies"),
    ("Database poll p50 / p95 (ms)", "poll_ms"),
)


@dataclass(frozen=True)
class AuditHour:
    number: int
    start: datetime
    end: datetime

    def title(self) -> str:
        return (f"Hour {self.number} ({self.start.astimezone():%H:%M}–"
                f"{self.end.astimezone():%H:%M})")


def audit_hour(run_start: datetime, now: datetime) -> AuditHour:
    number = max(0, int((now - run_start) / HOUR)) + 1
    return hour_number(run_start, number)


def hour_number(run_start: datetime, number: int) -> AuditHour:
    start = run_start + HOUR * (number - 1)
    return AuditHour(number, start, start + HOUR)


def format_figures(values: Mapping[str, float], exchanges: tuple[str, ...]) -> list[str]:
    """Markdown table rows of the hour's figures (values from the store's window)."""
    def n(name: str, digits: int = 0, default: float | None = None) -> str:
        value = values.get(name, default)
        if value is None:
            return "–"
        return f"{value:,.{digits}f}" if digits else f"{int(round(value)):,}"

    rows = ["| Figure | Value |", "|---|---|"]
    for label, metric in FIGURES:
        if metric == "open_positions":
            shown = f"{n('open_positions_avg', 1)} / {n('open_positions_max')}"
        elif metric == "poll_ms":
            shown = f"{n('poll_p50_ms', 1)} / {n('poll_p95_ms', 1)}"
        else:
            shown = n(metric)
        rows.append(f"| {label} | {shown} |")
    for exchange in exchanges:
        rows.append(f"| {exchange}: opened / closed / open (max) | "
                    f"{n('positions_opened.' + exchange, default=0)} / "
                    f"{n('positions_closed.' + exchange, default=0)}"
                    f" / {n('open_positions_max.' + exchange)} |")
    rows.append(f"| Minutes recorded / gaps | {n('polled_minutes')} / {n('gap_minutes_hour')} |")
    return rows


@dataclass
class HourNote:
    hour: AuditHour
    figures: list[str]  # Markdown table rows
    alerts: list[str] = field(default_factory=list)
    anomalies: str = ""
    notes: str = ""
    written_at: datetime | None = None

    def markdown(self) -> str:
        lines = [f"## {self.hour.title()}", ""]
        if self.written_at is not None:
            lines += [f"_Written {self.written_at.astimezone():%Y-%m-%d %H:%M}_", ""]
        lines += self.figures + [""]
        lines.append("**Alerts this hour:** " + ("none" if not self.alerts else ""))
        lines += [f"- {alert}" for alert in self.alerts]
        lines += ["", "### Anomalies", "", self.anomalies.strip() or "None noted.", "",
                  "### Notes", "", self.notes.strip() or "-", ""]
        return "\n".join(lines)


class NotesFile:
    def __init__(self, run_dir: Path, run_start: datetime) -> None:
        self.path = run_dir / NOTES_FILE
        self.run_start = run_start

    def _sections(self) -> tuple[str, dict[int, str]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return "", {}
        starts = [(int(m.group(1)), m.start()) for m in _SECTION.finditer(text)]
        head = text[:starts[0][1]] if starts else text
        sections = {}
        for index, (number, begin) in enumerate(starts):
            end = starts[index + 1][1] if index + 1 < len(starts) else len(text)
            sections[number] = text[begin:end].rstrip() + "\n"
        return head, sections

    def hours_written(self) -> set[int]:
        return set(self._sections()[1])

    def load(self, number: int) -> tuple[str, str]:
        """The operator's anomalies and notes of an hour already saved ("" if none)."""
        section = self._sections()[1].get(number, "")
        return _between(section, "### Anomalies", "### Notes"), _between(section, "### Notes")

    def save(self, note: HourNote) -> Path:
        """Replace (or add) the hour's section; keep every other one; atomically."""
        head, sections = self._sections()
        if not head.strip():
            head = (f"# Hourly observations\n\nRun started "
                    f"{self.run_start.astimezone():%Y-%m-%d %H:%M:%S %Z}.\n\n")
        sections[note.hour.number] = note.markdown()
        body = "\n".join(sections[number] for number in sorted(sections))
        write_atomic(self.path, head.rstrip() + "\n\n" + body)
        return self.path

    def missing(self, now: datetime) -> list[int]:
        """Audit hours that have ended without a note (for a quiet reminder)."""
        ended = int((now - self.run_start) / HOUR)
        written = self.hours_written()
        return [number for number in range(1, ended + 1) if number not in written]


def _between(section: str, start: str, end: str | None = None) -> str:
    if start not in section:
        return ""
    text = section.split(start, 1)[1]
    if end and end in text:
        text = text.split(end, 1)[0]
    text = text.strip()
    return "" if text in ("None noted.", "-") else text
