"""The recorder side of the full-screen app: the Monitor on its own event loop and thread.

The Textual app (the viewer) and the monitor (the recorder: poller, store, rules, writers) used to
share one event loop, so a resize or a slow repaint delayed polls and inflated the measured poll
latency. Now the recorder runs on a thread of its own with its own asyncio loop, and the two sides
meet only here, through plain data, as if a socket were between them (issue 13 will put one):

viewer -> recorder, :meth:`Recorder.request` (``action`` name, keyword arguments, a result back):

======================  ===========================================  ============================
action                  arguments                                    result
======================  ===========================================  ============================
``open``                ``resume: bool``                             the first MetricsView
``start``               --                                           None (frames begin)
``snapshot``            ``note: str``                                path of the snapshot file
``hour_note``           ``number: int | None``                       HourNote (pre-filled)
``save_note``           ``note: HourNote``                           path of the notes file
``missing_notes``       --                                           list of audit hour numbers
``acknowledge``         ``key: str``                                 (done: bool, alert items)
``export``              ``use_db: bool, use_logs: bool``             (Markdown path, JSON path)
``finish``              ``finished_by: str``                         path of the final report
``close``               --                                           None (connections closed)
======================  ===========================================  ============================

recorder -> viewer, the ``on_frame`` callback given to :meth:`Recorder.subscribe` (called on the
recorder's thread: the viewer hands each frame to its own loop): :class:`ViewFrame`,
:class:`LoopFailed`, :class:`ExportProgress`, :class:`RunFinished`.

Every argument, result and frame is plain data (dataclasses of numbers, strings, datetimes and
tuples; paths as strings), so the channel can be serialised. ``export`` after ``finish`` builds the
audit report from the final report on disk (exact recount, ``finished_by`` set, last minute
written); during the run, from the live totals.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable

from tui.monitor import Monitor
from tui.store.view import MetricsView

log = logging.getLogger(__name__)

RESTART_DELAY_S = 10.0  # after the monitor loop crashed
STOP_WAIT_S = 3.0  # how long `finish` waits for an in-flight poll before cancelling it


# -- frames: recorder -> viewer -----------------------------------------------------------------
@dataclass(frozen=True)
class ViewFrame:
    view: MetricsView
    bell: bool = False  # a new critical alert fired: ring once


@dataclass(frozen=True)
class LoopFailed:
    error: str  # "RuntimeError: disk full"
    restarts: int
    restart_in_s: float


@dataclass(frozen=True)
class ExportProgress:
    step: str
    fraction: float


@dataclass(frozen=True)
class RunFinished:
    """The run is closed: the final report is written (``report``) or could not be (``error``).
    Sent once, whether a viewer asked (``finish``) or the planned end came."""

    finished_by: str
    report: str | None
    error: str | None = None


Frame = ViewFrame | LoopFailed | ExportProgress | RunFinished


@dataclass(frozen=True)
class RecorderInfo:
    """What a viewer needs to know once: static facts of the run."""

    run_dir: str
    config: Any  # tui.config.Config (frozen); a remote viewer would load it from run.json
    alerts_loaded: bool


ACTIONS = ("open", "start", "snapshot", "hour_note", "save_note", "missing_notes",
           "acknowledge", "export", "finish", "close")


class Recorder:
    """A Monitor behind the action/frame interface above.

    :meth:`in_thread` gives the monitor a thread and loop of its own (the app); :meth:`here`
    keeps it on the caller's loop (tests drive ``monitor.step()`` themselves).
    """

    def __init__(self, monitor: Monitor, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.monitor = monitor
        self.loop = loop
        self.restart_delay_s = RESTART_DELAY_S
        self.stop_wait_s = STOP_WAIT_S
        self.restarts = 0
        self.export_options: dict[str, Any] = {}  # defaults for `export` (tests skip slow parts)
        self._thread: threading.Thread | None = None
        self._on_frame: Callable[[Frame], None] | None = None
        self._task: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None
        self._restart: asyncio.Event | None = None
        self._finish_lock: asyncio.Lock | None = None
        self._finished: RunFinished | None = None

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def in_thread(cls, monitor: Monitor) -> Recorder:
        """Start a thread running a new event loop for ``monitor`` (which must not be open yet:
        its connections belong to the loop that opens them)."""
        loop = asyncio.new_event_loop()
        recorder = cls(monitor, loop)

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_forever()
            finally:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
                loop.close()

        # A daemon: a recorder stuck in I/O must never keep the process alive after the viewer
        # is gone (the final report is awaited before the thread is stopped).
        recorder._thread = threading.Thread(target=run, name="botmon-recorder", daemon=True)
        recorder._thread.start()
        return recorder

    @classmethod
    def here(cls, monitor: Monitor) -> Recorder:
        """The monitor stays on the caller's loop (tests drive it; no thread)."""
        return cls(monitor)

    @property
    def info(self) -> RecorderInfo:
        return RecorderInfo(run_dir=str(self.monitor.run_dir.path), config=self.monitor.config,
                            alerts_loaded=self.monitor.alerts is not None)

    # -- the viewer's side ----------------------------------------------------------------------
    def subscribe(self, on_frame: Callable[[Frame], None] | None) -> None:
        """Frames go to ``on_frame`` from now on (called on the recorder's thread)."""
        self._on_frame = on_frame

    async def request(self, action: str, **args: Any) -> Any:
        """Run ``action`` on the recorder's loop and return its result (or raise its error)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown recorder action {action!r}")
        coro = getattr(self, f"_do_{action}")(**args)
        if self.loop is None:  # here(): the caller's loop is the monitor's
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def restart_now(self) -> None:
        """Restart a crashed monitor loop without waiting for the delay (tests, a future key)."""
        if self._restart is None:
            return
        if self.loop is None:
            self._restart.set()
        else:
            self.loop.call_soon_threadsafe(self._restart.set)

    async def shutdown(self) -> None:
        """Close the monitor's connections and stop the thread (after ``finish``)."""
        try:
            await self.request("close")
        finally:
            thread, loop = self._thread, self.loop
            if thread is not None and loop is not None and thread.is_alive():
                loop.call_soon_threadsafe(loop.stop)
                await asyncio.to_thread(thread.join, 10.0)

    # -- actions, on the recorder's loop --------------------------------------------------------
    async def _do_open(self, resume: bool = False) -> MetricsView:
        return await (self.monitor.resume() if resume else self.monitor.open())

    async def _do_start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._stop = asyncio.Event()
        self._restart = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="monitor")

    async def _do_snapshot(self, note: str = "") -> str:
        return str(await self.monitor.manual_snapshot(note))

    async def _do_hour_note(self, number: int | None = None):
        return self.monitor.hour_note(number)

    async def _do_save_note(self, note) -> str:
        return str(await self.monitor.save_note(note))

    async def _do_missing_notes(self) -> list[int]:
        return self.monitor.missing_notes()

    async def _do_acknowledge(self, key: str) -> tuple[bool, tuple]:
        alerts = self.monitor.alerts
        acknowledge = getattr(alerts, "acknowledge", None)
        if acknowledge is None:
            return False, ()
        done = bool(acknowledge(key))
        return done, tuple(alerts.items())

    async def _do_export(self, **options: Any) -> tuple[str, str]:
        """The audit report: from the final report once the run is closed, else the live
        totals. Built in a worker thread; progress goes out as frames."""
        from tui.outputs.audit_report import build_audit_report

        monitor = self.monitor
        report = None if monitor.finished is not None else monitor.live_report()
        loop = asyncio.get_running_loop()

        def progress(step: str, fraction: float) -> None:  # in the worker thread
            loop.call_soon_threadsafe(self._emit, ExportProgress(step, fraction))

        md, js = await asyncio.to_thread(
            build_audit_report, monitor.run_dir.path, monitor.config, report=report,
            progress=progress, **{**self.export_options, **options})
        return str(md), str(js)

    async def _do_finish(self, finished_by: str) -> str:
        """Stop the loop (an in-flight poll gets ``stop_wait_s``), then close the run."""
        if self._stop is not None:
            self._stop.set()
        task = self._task
        if task is not None and not task.done() and task is not asyncio.current_task():
            try:
                await asyncio.wait_for(asyncio.shield(task), self.stop_wait_s)
            except asyncio.TimeoutError:
                log.warning("monitor loop did not stop within %.0f s: cancelled", self.stop_wait_s)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            except Exception:  # noqa: BLE001 - the loop's own error was reported as a frame
                pass
        ended = await self._close_run(finished_by)
        if ended.error is not None:
            raise RuntimeError(ended.error)
        return ended.report or ""

    async def _do_close(self) -> None:
        if self._stop is not None:
            self._stop.set()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.monitor.close()

    # -- the monitor loop -----------------------------------------------------------------------
    async def _run(self) -> str:
        assert self._stop is not None and self._restart is not None
        while True:
            try:
                reason = await self.monitor.run(self._stop, on_view=self._view_out)
            except Exception as exc:  # noqa: BLE001 - shown to the viewer, retried
                if self._stop.is_set():
                    return "stopped"
                self.restarts += 1
                log.error("monitor loop failed", exc_info=exc)
                self._emit(LoopFailed(f"{type(exc).__name__}: {exc}", self.restarts,
                                      self.restart_delay_s))
                self._restart.clear()
                waits = [asyncio.ensure_future(self._stop.wait()),
                         asyncio.ensure_future(self._restart.wait())]
                try:
                    await asyncio.wait(waits, timeout=self.restart_delay_s,
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for wait in waits:
                        wait.cancel()
                if self._stop.is_set():
                    return "stopped"
                continue
            if reason == "duration":
                # The planned end: the recorder closes the run itself, viewer or not.
                await self._close_run("duration")
            return reason

    def _view_out(self, view: MetricsView) -> None:
        take_bell = getattr(self.monitor.alerts, "take_bell", None)
        bell = bool(take_bell()) if callable(take_bell) else False
        self._emit(ViewFrame(view, bell))

    async def _close_run(self, finished_by: str) -> RunFinished:
        if self._finish_lock is None:
            self._finish_lock = asyncio.Lock()
        async with self._finish_lock:
            if self._finished is not None:
                return self._finished
            try:
                path = await self.monitor.finish(finished_by)
            except Exception as exc:  # noqa: BLE001 - said to the viewer; the caller retries
                log.exception("final report failed")
                ended = RunFinished(finished_by, None, f"{type(exc).__name__}: {exc}")
                self._emit(ended)
                return ended
            self._finished = RunFinished(finished_by, str(path))
            view = self.monitor.view
            if view is not None:  # the final state, as the report closed it
                alerts = self.monitor.alerts
                if alerts is not None:
                    view = dataclasses.replace(view, alerts=alerts.items())
                self._emit(ViewFrame(view))
            self._emit(self._finished)
            return self._finished

    def _emit(self, frame: Frame) -> None:
        on_frame = self._on_frame
        if on_frame is None:
            return
        try:
            on_frame(frame)
        except Exception:  # noqa: BLE001 - a viewer's bug never stops the recording
            log.exception("viewer failed to take a frame")
