"""Messages the app routes: sources post upwards, the app sets attributes downwards."""

from __future__ import annotations

from textual.message import Message

from tui.store.view import MetricsView


class ViewUpdated(Message):
    """A new frozen view from the monitor loop (about once a second).

    A queued, not yet handled frame is replaced by the next one: a slow repaint skips old
    frames instead of queueing them (toolong does the same).
    """

    def __init__(self, view: MetricsView) -> None:
        super().__init__()
        self.view = view

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ViewUpdated)


class StopRequested(Message):
    """A signal (SIGTERM, SIGHUP, SIGINT) asked the run to end: same path as the `q` key."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason
