"""The full-screen monitor: wiring only (workers, message routing, bindings).

This is the viewer side. The monitor (poller, store, rules, writers) is the recorder side and
runs on a thread and event loop of its own (tui/recorder.py), so a slow repaint never delays a
poll or inflates its latency. The app receives frames (views, a crashed loop, the end of the run)
and sends actions (snapshot, note, acknowledge, export, finish), plain data both ways. Panes only
read views; nothing here queries the database or touches the monitor.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer

from tui.recorder import ExportProgress, Frame, LoopFailed, Recorder, RunFinished, ViewFrame
from tui.store.buckets import minute_of
from tui.store.metrics import EventClassifier
from tui.store.view import MetricsView
from tui.ui.alert_screen import AlertScreen
from tui.ui.alerts_pane import AlertTable, AlertsPane
from tui.ui.audit_actions import AuditActions
from tui.ui.events import EventStream
from tui.ui.focus import neighbour
from tui.ui.header import HeaderState, StatusHeader
from tui.ui.help import HelpScreen
from tui.ui.log_pane import LogPane
from tui.ui.messages import RecorderSaid, StopRequested, ViewUpdated
from tui.ui.metric_lines import PANES
from tui.ui.metric_pane import MetricPane
from tui.ui.positions import SORTS, PositionsTable
from tui.ui.terminal import hangup_safe

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
WIDE, NARROW = 160, 100  # layout breakpoints (columns)
SPLIT = 170  # positions | events side by side from here (each keeps all its columns)
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
        # An 8-hour audit must not end on a reflex (ctrl+c is also "copy"): ctrl+c asks like q
        # instead of Textual's "press ctrl+q to quit" hint; ctrl+q does the same.
        Binding("ctrl+c", "quit", "Quit", show=False, id="quit.ctrl_c"),
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

    def __init__(self, recorder: Recorder, view: MetricsView, *, title: str = "botmon",
                 autostart: bool = True) -> None:
        """``autostart=False`` leaves the monitor loop to the caller (tests post views)."""
        super().__init__()
        self.autostart = autostart
        self.title = title
        self.recorder = recorder
        info = recorder.info
        self.config = info.config
        self.alerts_loaded = info.alerts_loaded
        self.view = view
        self.header_state = HeaderState(run_dir=info.run_dir)
        self.finished_by: str | None = None
        self.report_path: Path | None = None
        self.report_error: str | None = None
        self.restarts = 0
        self._painted: tuple[int, object] | None = None
        self._init_audit()
        self._reminded_at: object = None  # the minute the missing notes were last checked
        self._classifier = EventClassifier(self.config.events)

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
            yield AlertsPane(self.alerts_loaded, id="alerts")
            with Horizontal(id="lower"):
                positions = PositionsTable(self.config.positions.stop_loss_check,
                                           self.config.positions.unprotected_grace_s,
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
        self.recorder.subscribe(self._take_frame)
        if self.autostart:
            self.run_worker(self.recorder.request("start"), name="start", group="recorder",
                            exit_on_error=False)

    def on_unmount(self) -> None:
        self.recorder.subscribe(None)

    def on_resize(self, event: Resize) -> None:
        self._set_layout(event.size.width)

    def _set_layout(self, width: int) -> None:
        screen = self.screen_stack[0]  # the main screen, also when help is on top
        for name, on in (("-wide", width >= WIDE), ("-medium", NARROW <= width < WIDE),
                         ("-narrow", width < NARROW), ("-split", width >= SPLIT)):
            screen.set_class(on, name)
        self.query_one(StatusHeader).show(self.view, self.header_state)

    # -- the recorder ------------------------------------------------------------------------
    def _take_frame(self, frame: Frame) -> None:
        """On the recorder's thread (or loop): hand the frame to the app's loop."""
        if isinstance(frame, ViewFrame):
            self.post_message(ViewUpdated(frame.view, frame.bell))
        else:
            self.post_message(RecorderSaid(frame))

    def on_recorder_said(self, message: RecorderSaid) -> None:
        frame = message.frame
        if isinstance(frame, LoopFailed):
            log.error("monitor loop failed: %s", frame.error)
            self.restarts = frame.restarts
            self.header_state.source_error = (
                f"{frame.error} · restart {frame.restarts} in {frame.restart_in_s:.0f} s")
            self._paint_header()
        elif isinstance(frame, ExportProgress):
            self._export_progress(frame.step, frame.fraction)
        elif isinstance(frame, RunFinished):
            self._run_finished(frame)

    # -- views ---------------------------------------------------------------------------------
    def on_view_updated(self, message: ViewUpdated) -> None:
        self.view = message.view
        if self.header_state.source_error:
            self.header_state.source_error = None  # the loop runs again
        if message.bell:  # a new critical alert: ring once, flash for a moment
            self.bell()
            header = self.query_one(StatusHeader)
            header.add_class("-flash")
            self.set_timer(FLASH_S, lambda: header.remove_class("-flash"))
        if self.header_state.paused_at is not None:
            self._paint_header()
        else:
            self.apply_view(message.view)
            if isinstance(self.screen, AlertScreen):
                self.screen.show(message.view)

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
            return self.finished_by is None
        if action in ("acknowledge", "alerts_scope"):
            return self.alerts_loaded
        return True

    def action_snapshot(self) -> None:
        self.run_worker(self._snapshot(), group="snapshot", exit_on_error=False)

    async def _snapshot(self) -> None:
        try:
            path = await self.recorder.request("snapshot", note="s key")
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
        self.push_screen(HelpScreen(self.key_list(), self.view.unavailable))

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
        if item is None or not self.alerts_loaded:
            self.notify("No alert to acknowledge", timeout=3)
            return
        if not table.has_focus:  # never silence the top alert by a stray key: select first
            table.focus()
            self.notify("Select the alert (up / down), then a acknowledges it", timeout=4)
            return
        self.run_worker(self._acknowledge(item.key), group="acknowledge", exit_on_error=False)

    async def _acknowledge(self, key: str) -> None:
        done, items = await self.recorder.request("acknowledge", key=key)
        if not done:
            self.notify(f"{key} is already acknowledged", timeout=3)
            return
        # Repaint now from the engine's items: the next frame would do it a second later.
        self.view = dataclasses.replace(self.view, alerts=items)
        self.query_one(AlertsPane).show(self.view.alerts, self.view.now)
        self._paint_header()
        self.notify(f"Acknowledged {key}", timeout=3)

    def on_data_table_row_selected(self, event: AlertTable.RowSelected) -> None:
        """Enter on an alert: its runbook and the affected items."""
        if not isinstance(event.data_table, AlertTable):
            return
        event.stop()
        key = event.row_key.value
        item = next((i for i in self.query_one(AlertsPane).items if i.key == key), None)
        if item is None:
            return

        def closed(answer: str | None) -> None:
            if answer == "ack":
                self.run_worker(self._acknowledge(item.key), group="acknowledge",
                                exit_on_error=False)

        self.push_screen(AlertScreen(item, self.view), closed)

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
    def request_stop(self, finished_by: str, *, export: bool = False) -> None:
        """`q`, a signal: close the run (final report), optionally export, then exit."""
        if self.finished_by is not None:
            if self.report_path is not None or self.report_error is not None:
                self.exit(self.finished_by)  # closed already (planned end): a signal ends it
                return
            self.notify("The final report is being written…", timeout=3)
            return
        self.finished_by = finished_by
        self.header_state.finishing = "writing the final report…"
        self._paint_header()
        self.run_worker(self._finish(finished_by, export), name="finish", group="finish",
                        exit_on_error=False)

    async def _finish(self, finished_by: str, export: bool) -> None:
        await self._close_run(finished_by)
        if export and self.report_path is not None:
            if not await self._export_after_close():
                self._show_finished()  # the export failed: say so and wait for a key
                return
        self.exit(finished_by)

    async def _close_run(self, finished_by: str) -> None:
        try:
            path = await self.recorder.request("finish", finished_by=finished_by)
        except Exception as exc:  # noqa: BLE001 - the caller reports it after the app exits
            log.exception("final report failed")
            self.report_error = f"{type(exc).__name__}: {exc}"
            return
        self.report_path = Path(path)

    def _run_finished(self, frame: RunFinished) -> None:
        """The recorder closed the run. At the planned end nobody asked: keep the screen,
        offer the export like `q`, then wait for a key."""
        if frame.report is not None:
            self.report_path = Path(frame.report)
        self.report_error = frame.error
        if self.finished_by is not None:  # `q` or a signal: _finish goes on from here
            return
        self.finished_by = frame.finished_by
        self.header_state.finishing = ("run finished: planned end reached"
                                       if frame.finished_by == "duration"
                                       else f"run finished: {frame.finished_by}")
        self._paint_header()
        self.refresh_bindings()
        self._offer_export_at_end()


@dataclass(frozen=True)
class AppEnding:
    """How the app ended, for the command line to print."""

    finished_by: str
    report: Path | None
    report_error: str | None
    export: tuple[Path, Path] | None
    export_error: str | None


async def run_app(recorder: Recorder, view: MetricsView, *, title: str = "botmon",
                  headless: bool = False) -> AppEnding:
    """Run the full-screen app in the caller's event loop until it ends; say how it ended.

    ``recorder`` holds an open monitor (``view`` is what ``open`` returned). The final report
    is written before this returns whether the run ended by `q`, the planned duration,
    SIGTERM/SIGHUP/SIGINT, or an unexpected error in the app. ``headless`` runs without a
    terminal (tests).
    """
    app = BotmonApp(recorder, view, title=title)
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
        recorder.subscribe(None)
    finished_by = app.finished_by or result or "error: the app ended unexpectedly"
    report, error = app.report_path, app.report_error
    if report is None:
        # The app crashed, or closing the run inside it failed: try (again) here, so the
        # report goes out or the caller sees why it could not.
        try:
            report, error = Path(await recorder.request("finish", finished_by=finished_by)), None
        except Exception as exc:  # noqa: BLE001 - printed by the caller
            log.exception("final report failed")
            error = f"{type(exc).__name__}: {exc}"
    return AppEnding(finished_by, report, error, app.export_paths, app.export_error)
