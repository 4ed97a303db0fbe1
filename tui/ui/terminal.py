"""Surviving the terminal going away (an ssh drop, a closed tmux pane) in hour six.

When the terminal hangs up, writes to it fail with EIO. Textual's output thread dies on the
first one, its bounded queue fills, and the app's shutdown then blocks forever on a queue put:
botmon would write its report but never exit (the demo's server and the bot database connection
would stay). The driver below drops output once the terminal is gone, and treats a failing
terminal read as "the terminal closed": the run ends like `q` (report first).
"""

from __future__ import annotations

from typing import Any, TextIO

from textual.driver import Driver


class HangupSafeFile:
    """A terminal file whose writes are dropped instead of raising once the terminal is gone."""

    def __init__(self, file: TextIO) -> None:
        self._file = file
        self.lost = False

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                return self._file.write(text)
            except OSError:
                self.lost = True
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self._file.flush()
            except OSError:
                self.lost = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def hangup_safe(driver_class: type[Driver], on_lost) -> type[Driver]:
    """``driver_class`` with hangup-safe output and input (Linux/macOS driver only)."""
    try:
        from textual.drivers.linux_driver import LinuxDriver
    except ImportError:  # pragma: no cover - Windows
        return driver_class
    if not issubclass(driver_class, LinuxDriver):
        return driver_class

    class HangupSafeDriver(driver_class):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._file = HangupSafeFile(self._file)

        def run_input_thread(self) -> None:
            try:
                super().run_input_thread()
            except OSError:  # EIO: the terminal hung up (SIGHUP may or may not follow)
                if not self.exit_event.is_set():
                    on_lost(self._app)

    return HangupSafeDriver
