"""The full-screen monitor: wiring only (workers, message routing, bindings).

The monitor loop (:meth:`tui.monitor.Monitor.run`) runs in an exclusive worker on the app's
event loop and posts one :class:`ViewUpdated` per view; a crash of that loop shows a red status
and restarts it, never a dead app. Panes only read views; nothing here queries the database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from pathlib import Path
from typing import Iterable

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState

from tui.monitor import Monitor
from tui.store.buckets import minute_of
from tui.store.metrics import EventClassifier
from tui.store.view import MetricsView
from tui.ui.alerts_pane import AlertTable, AlertsPane
from tui.ui.audit_actions import AuditActions
from tui.ui.events import EventStream
from tui.ui.focus import neighbour
from tui.ui.header import HeaderState, StatusHeader
from tui.ui.help import HelpScreen
from tui.ui.log_pane import LogPane
from tui.ui.messages import StopRequested, ViewUpdated
from tui.ui.metric_lines import PANES
from tui.ui.metric_pane import MetricPane
from tui.ui.positions import SORTS, PositionsTable
from tui.ui.terminal import hangup_safe

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
STOP_WAIT_S = 3.0  # how long `q` waits for an in-flight poll before cancelling it
RESTART_DELAY_S = 10.0  # after the monitor loop crashed
WIDE, NARROW = 160, 100  # layout breakpoints (columns)
FLASH_S = 2.0  # the header flashes this long when a critical alert fires; never forever


class BotmonApp(AuditActions, App[str]):
    CSS_PATH = "app.tcss"
    TITLE = "botmon"
    # Binding ids let users remap keys (App.set_keymap / a keymap in the config).
    BINDINGS = [
        Binding("s", "snapshot", "Snapshot", id="snapshot",
                tooltip="Write a snapshot line now (marked manual)"),
        Binding("p", "pause", "Pause", id="pause",
                tooltip="Freeze the display; polling and recording continue"),
        Binding("p", "resume", "Resume", id="resume"),
        Binding("q", "quit", "Quit", id="quit",
                tooltip="Offer to export the audit report, write the final report, exit"),
        Binding("question_mark", "help", "Help", id="help", key_display="?"),
        Binding("e", "export", "Export audit report", id="export", show=False,
                tooltip="Write the audit report (Markdown and JSON) into the run directory"),
        Binding("n", "note", "Hourly note", id="note", show=False,
                tooltip="Write this audit hour's note (figures and alerts filled in)"),
        Binding("l", "log_filter", "Log filter", id="log_filter", show=False,
                tooltip="Bot log: all / WARNING+ / ERROR+"),
        Binding("a", "acknowledge", "Acknowledge alert", id="acknowledge", show=False,
                tooltip="Acknowledge the selected alert: it stays listed, greyed"),
        Binding("A", "alerts_scope", "Alerts: all / firing only", id="alerts_scope",
                show=False, key_display="A"),
        Binding("z", "zoom", "Zoom pane", id="zoom", show=False,
                tooltip="Maximize the focused pane (z or escape restores)"),
    ]

    def __init__(self, monitor: Monitor, view: MetricsView, *, title: str = "botmon",
                 autostart: bool = True) -> None:
        """``autostart=False`` leaves the monitor loop to the caller (tests post views)."""
        super().__init__()
        self.autostart = autostart
        self.title = title
        self.monitor = monitor
        self.view = view
        self.header_state = HeaderState(run_dir=str(monitor.run_dir.path))
        self.stop_event = asyncio.Event()
        self.finished_by: str | None = None
        self.report_path: Path | None = None
        self.report_error: str | None = None
        self.restarts = 0
        self._painted: tuple[int, object] | None = None
        self._init_audit()
        self._reminded_at: object = None  # the minute the missing notes were last checked
        self._monitor_worker: Worker | None = None
        self._classifier = EventClassifier(monitor.config.events)

    def get_driver_class(self) -> type:
        # A closed terminal ends the run like `q` instead of hanging the exit (tui/ui/terminal.py).
        return hangup_safe(super().get_driver_class(),
                           lambda app: app.post_message(StopRequested("terminal closed")))

    # -- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusHeader(id="header")
        with VerticalScroll(id="body"):
            with Horizontal(id="metrics"):
                with Vertical(id="col-now"):
                    yield MetricPane(PANES[0])
                    yield MetricPane(PANES[1])
                with Horizontal(id="col-windows"):
                    yield MetricPane(PANES[2])
                    yield MetricPane(PANES[3])
            # Alerts span the full width: the one place that gets loud.
            yield AlertsPane(self.monitor.alerts is not None, id="alerts")
            with Horizontal(id="lower"):
                positions = PositionsTable(self.monitor.config.positions.stop_loss_check,
                                           id="positions")
                positions.border_title = "Open positions"
                yield positions
                events = EventStream(self._is_error, id="events")
                events.border_title = "Bot events"
                yield events
            yield LogPane(id="log")
        yield Footer()

    def _is_error(self, event_type: str, severity: str | None) -> bool:
        return "errors" in self._classifier.counters_for(event_type, severity)

    def on_mount(self) -> None:
        self._set_layout(self.size.width)
        self.apply_view(self.view, force=True)
        self.query_one("#pane-current").focus()
        if self.autostart:
            self._start_monitor()

    def on_resize(self, event: Resize) -> None:
        self._set_layout(event.size.width)

    def _set_layout(self, width: int) -> None:
        screen = self.screen_stack[0]  # the main screen, also when help is on top
        for name, on in (("-wide", width >= WIDE), ("-medium", NARROW <= width < WIDE),
                         ("-narrow", width < NARROW)):
            screen.set_class(on, name)
        self.query_one(StatusHeader).show(self.view, self.header_state)

    # -- the monitor loop --------------------------------------------------------------------
    def _start_monitor(self) -> None:
        self._monitor_worker = self.run_worker(
            self._run_monitor(), name="monitor", group="monitor", exclusive=True,
            exit_on_error=False)

    async def _run_monitor(self) -> str:
        return await self.monitor.run(self.stop_event, on_view=self._post_view)

    def _post_view(self, view: MetricsView) -> None:
        self.post_message(ViewUpdated(view))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "monitor":
            return
        if event.state == WorkerState.ERROR and not self.stop_event.is_set():
            error = worker.error
            log.error("monitor loop failed", exc_info=error)
            self.restarts += 1
            self.header_state.source_error = (
                f"{type(error).__name__}: {error} · restart {self.restarts} in "
                f"{RESTART_DELAY_S:.0f} s")
            self._paint_header()
            self.set_timer(RESTART_DELAY_S, self._restart_monitor)
        elif event.state == WorkerState.SUCCESS and worker.result == "duration":
            self.request_stop("duration")

    def _restart_monitor(self) -> None:
        if not self.stop_event.is_set():
            self._start_monitor()

    # -- views ---------------------------------------------------------------------------------
    def on_view_updated(self, message: ViewUpdated) -> None:
        self.view = message.view
        if self.header_state.source_error:
            self.header_state.source_error = None  # the loop runs again
        bell = getattr(self.monitor.alerts, "take_bell", None)
        if callable(bell) and bell():  # a new critical alert: ring once, flash for a moment
            self.bell()
            header = self.query_one(StatusHeader)
            header.add_class("-flash")
            self.set_timer(FLASH_S, lambda: header.remove_class("-flash"))
        if self.header_state.paused_at is not None:
            self._paint_header()
        else:
            self.apply_view(message.view)

    def apply_view(self, view: MetricsView, *, force: bool = False) -> None:
        """Set every pane from ``view``; panes repaint only when the data or minute changed."""
        stamp = (view.version, minute_of(view.now))
        if force or stamp[1] != self._reminded_at:  # reads the notes file: once a minute
            self._reminded_at = stamp[1]
            self._check_notes()
        with self.batch_update():
            self.query_one(StatusHeader).show(view, self.header_state)
            if force or stamp != self._painted:
                self._painted = stamp
                for pane in self.query(MetricPane):
                    pane.show(view)
                self.query_one(PositionsTable).show(view)
                self.query_one(EventStream).show(view.recent_events)
                self.query_one(LogPane).show(view.log_tail)
            self.query_one(AlertsPane).show(view.alerts, view.now)

    def _paint_header(self) -> None:
        self.query_one(StatusHeader).show(self.view, self.header_state)

    # -- keys ------------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        paused = self.header_state.paused_at is not None
        if action == "pause":
            return not paused
        if action == "resume":
            return paused
        if action in ("export", "note"):
            return self.monitor.store is not None and self.finished_by is None
        if action in ("acknowledge", "alerts_scope"):
            return self.monitor.alerts is not None
        return True

    def action_snapshot(self) -> None:
        self.run_worker(self._snapshot(), group="snapshot", exit_on_error=False)

    async def _snapshot(self) -> None:
        try:
            path = await self.monitor.manual_snapshot("s key")
        except Exception as exc:  # noqa: BLE001 - shown to the operator, logged
            log.exception("manual snapshot failed")
            self.notify(f"{type(exc).__name__}: {exc}", title="Snapshot failed",
                        severity="error")
            return
        self.notify(str(path), title="Snapshot written")

    def action_pause(self) -> None:
        self.header_state.paused_at = self.view.now
        self._paint_header()
        self.refresh_bindings()

    def action_resume(self) -> None:
        self.header_state.paused_at = None
        self.apply_view(self.view, force=True)
        self.refresh_bindings()

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(self.key_list()))

    def key_list(self) -> list[tuple[str, str]]:
        """The app's keys in effect (after any keymap), then the panes' own."""
        seen: dict[str, tuple[str, str]] = {}
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if active.node is not self or binding.system or not binding.description:
                continue
            if binding.show or binding.action not in seen:  # the footer's key wins
                seen[binding.action] = (self.get_key_display(binding), binding.description)
        keys = list(seen.values())
        keys += [("ctrl+p", "Command palette (all actions, sorting, theme)"),
                 ("tab / shift+tab", "Next / previous pane"),
                 ("arrows", "Between metric panes; rows in the tables"),
                 ("o / r", "Positions: cycle the sort / reverse it")]
        return keys

    def action_acknowledge(self) -> None:
        pane = self.query_one(AlertsPane)
        table = pane.query_one(AlertTable)
        item = pane.selected
        acknowledge = getattr(self.monitor.alerts, "acknowledge", None)
        if item is None or acknowledge is None:
            self.notify("No alert to acknowledge", timeout=3)
            return
        if not table.has_focus:  # never silence the top alert by a stray key: select first
            table.focus()
            self.notify("Select the alert (up / down), then a acknowledges it", timeout=4)
            return
        if not acknowledge(item.key):
            self.notify(f"{item.key} is already acknowledged", timeout=3)
            return
        # Repaint now from the engine's items: the next tick would do it a second later.
        self.view = dataclasses.replace(self.view, alerts=self.monitor.alerts.items())
        pane.show(self.view.alerts, self.view.now)
        self._paint_header()
        self.notify(f"Acknowledged {item.key}", timeout=3)

    def action_alerts_scope(self) -> None:
        firing_only = self.query_one(AlertsPane).toggle_firing_only()
        self.notify("Alerts: firing only" if firing_only else "Alerts: all", timeout=2)

    def action_log_filter(self) -> None:
        level = self.query_one(LogPane).cycle_filter()
        self.notify(f"Bot log: {level}", timeout=2)

    def action_zoom(self) -> None:
        screen = self.screen
        if screen.maximized is not None:
            screen.minimize()
        elif screen.focused is not None:
            screen.maximize(screen.focused)

    def action_focus_neighbour(self, direction: str) -> None:
        panes = [p for p in self.query(MetricPane) if p.region.area]
        focused = self.focused
        if not isinstance(focused, MetricPane) or focused not in panes:
            return
        target = neighbour({p: p.region for p in panes}, focused, direction)
        if target is not None:
            target.focus()

    def on_stop_requested(self, message: StopRequested) -> None:
        self.request_stop(message.reason)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield SystemCommand("Snapshot now", "Write a snapshot line marked manual (s)",
                            self.action_snapshot)
        if self.header_state.paused_at is None:
            yield SystemCommand("Pause display", "Freeze the panes; recording continues (p)",
                                self.action_pause)
        else:
            yield SystemCommand("Resume display", "Show the live figures again (p)",
                                self.action_resume)
        yield SystemCommand("Export audit report", "Markdown and JSON into the run directory (e)",
                            self.action_export)
        yield SystemCommand("Hourly note", "This audit hour's observations (n)",
                            self.action_note)
        yield SystemCommand("Help", "Keys and how to read the panes (?)", self.action_help)
        table = self.query_one(PositionsTable)
        for name, label in SORTS.items():
            yield SystemCommand(f"Sort positions by {label}", "Order the positions table",
                                lambda name=name: table.set_sort(name))
        for command in super().get_system_commands(screen):
            if command.title == "Quit":
                yield SystemCommand("Quit", "Export first?, the final report, then exit (q)",
                                    self.action_quit)
            else:
                yield command

    # -- the end -------------------------------------------------------------------------------
    def request_stop(self, finished_by: str) -> None:
        """`q`, a signal or the end of the duration: final report first, then exit."""
        if self.finished_by is not None:
            self.notify("The final report is being written…", timeout=3)
            return
        self.finished_by = finished_by
        self.header_state.finishing = "writing the final report…"
        self._paint_header()
        self.stop_event.set()
        self.run_worker(self._finish(finished_by), name="finish", group="finish",
                        exit_on_error=False)

    async def _finish(self, finished_by: str) -> None:
        worker = self._monitor_worker
        if worker is not None and worker.state in (WorkerState.PENDING, WorkerState.RUNNING):
            try:
                await asyncio.wait_for(worker.wait(), STOP_WAIT_S)
            except (WorkerFailed, WorkerCancelled):
                pass
            except asyncio.TimeoutError:
                log.warning("monitor loop did not stop within %.0f s: cancelled", STOP_WAIT_S)
                worker.cancel()
        try:
            self.report_path = await self.monitor.finish(finished_by)
        except Exception as exc:  # noqa: BLE001 - the caller reports it after the app exits
            log.exception("final report failed")
            self.report_error = f"{type(exc).__name__}: {exc}"
        self.exit(finished_by)


async def run_app(monitor: Monitor, view: MetricsView, *, title: str = "botmon",
                  headless: bool = False) -> str:
    """Run the full-screen app in the caller's event loop until it ends; say how it ended.

    ``monitor`` is open (``view`` is what ``open()`` returned). The final report is written
    before this returns (``monitor.finished`` holds its path) whether the run ended by `q`,
    the planned duration, SIGTERM/SIGHUP/SIGINT, or an unexpected error in the app.
    ``headless`` runs without a terminal (tests).
    """
    app = BotmonApp(monitor, view, title=title)
    loop = asyncio.get_running_loop()
    installed = []
    for sig in STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, app.post_message, StopRequested(f"signal {sig.name}"))
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        result = await app.run_async(headless=headless)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    finished_by = app.finished_by or result or "error: the app ended unexpectedly"
    if monitor.finished is None:
        # The app crashed, or writing the report inside it failed: try (again) here, so the
        # report goes out or the caller sees why it could not.
        await monitor.finish(finished_by)
    return finished_by
