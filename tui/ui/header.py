"""The status header: database, bot staleness, run clock, run directory, one-glance problems."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.widgets import Static

from tui.store.view import MetricsView
from tui.ui import format as fmt
from tui.ui.alerts_pane import severity_counts
from tui.ui.metric_lines import BAD, problems

BOT_SILENT_WARN_S = 60.0  # the bot writes several events a second; a minute of silence is odd
BOT_SILENT_BAD_S = 300.0


@dataclass
class HeaderState:
    """What the app adds to the view: pause, a crashed source, the end of the run."""

    run_dir: str = ""
    paused_at: datetime | None = None
    source_error: str | None = None
    finishing: str | None = None
    reminder: str = ""  # quiet: e.g. an audit hour that ended without a note
    progress: str = ""  # a running export


def log_silent_s(view: MetricsView) -> float | None:
    """Seconds since the bot's last log line: the store's ``log_silent_s`` when a log is
    followed, else what another source puts in ``view.extra["log"]``."""
    silent_now = view.value("log_silent_s")
    if silent_now is not None:
        return float(silent_now)
    log: Any = view.extra.get("log") if view.extra else None
    if log is None:
        return None
    get = log.get if isinstance(log, dict) or hasattr(log, "get") else (
        lambda name, default=None: getattr(log, name, default))
    silent = get("silent_s", None)
    if silent is not None:
        return float(silent)
    last = get("last_line_at", None)
    if isinstance(last, datetime):
        return max(0.0, (view.now - last).total_seconds())
    return None


def _staleness(label: str, seconds: float | None) -> str:
    text = f"{label} {fmt.since(seconds)}"
    if seconds is None or seconds >= BOT_SILENT_BAD_S:
        return f"[bold $text-error]▲ {text}[/]"
    if seconds >= BOT_SILENT_WARN_S:
        return f"[bold $text-warning]▲ {text}[/]"
    return text


def status_line(view: MetricsView) -> str:
    cur = view.windows.get("current", {})
    if view.db_up:
        db = f"[bold $text-success]DB OK[/] {fmt.decimal(cur.get('poll_ms'))} ms"
    else:
        down = (view.now - view.db_down_since).total_seconds() if view.db_down_since else None
        db = (f"[bold reverse $text-error] DB DOWN [/][bold $text-error] since "
              f"{fmt.clock(view.db_down_since)} ({fmt.hms(down)})[/]")
    parts = [db, _staleness("bot event", cur.get("bot_silent_s")
                            if view.last_event_at else None)]
    log_s = log_silent_s(view)
    if log_s is not None or "log" in view.extra or view.log_tail is not None:
        parts.append(_staleness("log line", log_s))
    if not view.db_up and view.db_error:  # last: the reason may be long, the line ellipsizes
        parts.append(f"[$text-error]{escape(view.db_error)}[/]")
    return " │ ".join(parts)


def run_line(view: MetricsView, run_dir: str, width: int) -> str:
    end = fmt.clock(view.run_end) if view.run_end else "open-ended"
    remaining = fmt.hms(view.remaining_s) if view.run_end else "–"
    text = (f"run {fmt.clock(view.run_start)} → {end} │ elapsed {fmt.hms(view.elapsed_s)}"
            f" │ left {remaining} │ snapshots {view.snapshots_written}")
    if view.gaps:
        text += f" [bold $text-warning]▲ gaps {len(view.gaps)}[/]"
    else:
        text += " gaps 0"
    plain_len = len(text) - (len("[bold $text-warning]▲ [/]") if view.gaps else 0)
    room = width - plain_len - len(" │ dir ")
    if run_dir and room >= 12:
        text += f" │ dir {escape(fmt.shorten_path(run_dir, room))}"
    return text


def problem_line(view: MetricsView, state: HeaderState) -> str:
    parts: list[str] = []
    if state.finishing:
        parts.append(f"[bold reverse $text-warning] {escape(state.finishing)} [/]")
    if state.paused_at is not None:
        parts.append(f"[bold reverse $text-accent] PAUSED [/] display frozen at "
                     f"{fmt.clock(state.paused_at)}, recording continues · p resumes")
    if state.source_error:
        parts.append(f"[bold reverse $text-error] SOURCE FAILED [/] "
                     f"[$text-error]{escape(state.source_error)}[/]")
    counts = severity_counts(view.alerts)
    alert_bits = [f"{n} {name}" for name, n in counts.items() if n and name != "info"]
    if alert_bits:
        style = "$text-error" if counts.get("critical") else "$text-warning"
        parts.append(f"[bold {style}]▲ alerts: {', '.join(alert_bits)}[/]")
    if counts.get("info"):  # informational: listed in the pane, quiet here
        parts.append(f"[$text-muted]{counts['info']} info alert"
                     f"{'s' if counts['info'] > 1 else ''}[/]")
    found = problems(view)
    for level, text in found:
        style = "$text-error" if level == BAD else "$text-warning"
        parts.append(f"[bold {style}]▲ {escape(text)}[/]")
    if not found and not alert_bits and not state.source_error:
        parts.append("[$text-success]✓ no problems[/]" if view.db_up else
                     "[$text-muted]figures frozen while the database is down[/]")
    if state.progress:
        parts.append(f"[$text-accent]{escape(state.progress)}[/]")
    if state.reminder:
        parts.append(f"[$text-muted]{escape(state.reminder)}[/]")
    return " · ".join(parts)


class StatusHeader(Vertical):
    """Three lines: database and bot, the run clock, problems and app state."""

    def compose(self) -> ComposeResult:
        yield Static("botmon: connecting…", id="header-status")
        yield Static("", id="header-run")
        yield Static("", id="header-problems")

    def show(self, view: MetricsView, state: HeaderState) -> None:
        width = self.size.width or 120
        self.query_one("#header-status", Static).update(status_line(view))
        self.query_one("#header-run", Static).update(run_line(view, state.run_dir, width))
        self.query_one("#header-problems", Static).update(problem_line(view, state))
