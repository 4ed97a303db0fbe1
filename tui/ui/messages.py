"""Messages the app routes: the recorder's frames come up as messages, the app sets attributes down.

Frames arrive on the recorder's thread (tui/recorder.py); ``post_message`` hands them to the
app's loop.
"""

from __future__ import annotations

from textual.message import Message

from tui.store.view import MetricsView


class ViewUpdated(Message):
    """A new frozen view from the recorder (about once a second).

    A queued, not yet handled frame is replaced by the next one: a slow repaint skips old
    frames instead of queueing them (toolong does the same). ``bell``: a new critical alert
    fired with this view (ring once, even when the frame itself is skipped: see can_replace).
    """

    def __init__(self, view: MetricsView, bell: bool = False) -> None:
        super().__init__()
        self.view = view
        self.bell = bell

    def can_replace(self, message: Message) -> bool:
        # ``self`` is the older, queued frame; ``message`` the newer one that replaces it.
        if isinstance(message, ViewUpdated):
            message.bell = message.bell or self.bell  # a skipped frame's bell still rings
            return True
        return False


class RecorderSaid(Message):
    """Any other frame from the recorder: LoopFailed, ExportProgress, RunFinished."""

    def __init__(self, frame: object) -> None:
        super().__init__()
        self.frame = frame


class StopRequested(Message):
    """A signal (SIGTERM, SIGHUP, SIGINT) asked the run to end: same path as the `q` key."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason
