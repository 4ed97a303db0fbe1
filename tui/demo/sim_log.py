"""The simulated bot's log file, byte-for-byte in the bot's format.

``%(asctime)s - %(name)s - %(levelname)s - %(message)s`` with ``asctime`` in local time and a comma
before the milliseconds (``2025-10-15 13:21:03,512``). A traceback follows its record on the next
lines without the prefix, as ``logger.error(..., exc_info=True)`` writes it. Records are buffered,
sorted by time and appended + flushed in one write per :meth:`BotLog.flush` (the monitor tails the
file). ``max_bytes`` rotates like ``logging.handlers.RotatingFileHandler``: ``bot.log`` ->
``bot.log.1`` -> ... -> ``bot.log.<backup_count>``.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

# What a record's first line looks like (the tests and the log tailer can share it).
LINE_RE = re.compile(
    r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}) - ([A-Za-z0-9_.]+) - "
    r"(DEBUG|INFO|WARNING|ERROR|CRITICAL) - (.*)$")


def format_time(when: datetime) -> str:
    local = when.astimezone()  # aware UTC -> the host's local time, as logging does
    return f"{local:%Y-%m-%d %H:%M:%S},{local.microsecond // 1000:03d}"


class BotLog:
    """Buffered writer of bot log records; a ``None`` path only counts."""

    def __init__(self, path: Path | None, *, max_bytes: int | None = None,
                 backup_count: int = 10) -> None:
        self.path = Path(path) if path is not None else None
        self.max_bytes = max_bytes if max_bytes and backup_count > 0 else None
        self.backup_count = backup_count
        self._pending: list[tuple[datetime, int, bytes]] = []
        self._seq = 0
        self._file: BinaryIO | None = None
        self._size = 0
        self.lines_written = 0
        self.records_written = 0
        self.rotations = 0

    # -- producing --------------------------------------------------------------------------------
    def log(self, when: datetime, logger: str, level: str, message: str, *,
            traceback: str | None = None, raw: bytes = b"") -> None:
        text = f"{format_time(when)} - {logger} - {level} - {message}"
        if traceback:
            text += "\n" + traceback.rstrip("\n")
        data = text.encode("utf-8", "surrogateescape") + raw + b"\n"
        self._seq += 1
        self._pending.append((when, self._seq, data))

    def info(self, when: datetime, logger: str, message: str, **kw: object) -> None:
        self.log(when, logger, "INFO", message, **kw)  # type: ignore[arg-type]

    def warning(self, when: datetime, logger: str, message: str, **kw: object) -> None:
        self.log(when, logger, "WARNING", message, **kw)  # type: ignore[arg-type]

    def error(self, when: datetime, logger: str, message: str, **kw: object) -> None:
        self.log(when, logger, "ERROR", message, **kw)  # type: ignore[arg-type]

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- writing ----------------------------------------------------------------------------------
    def flush(self) -> int:
        """Append the buffered records in time order; return the number of bytes written."""
        records, self._pending = self._pending, []
        if not records:
            return 0
        records.sort(key=lambda r: (r[0], r[1]))
        self.records_written += len(records)
        self.lines_written += sum(r[2].count(b"\n") for r in records)
        if self.path is None:
            return sum(len(r[2]) for r in records)
        self._ensure_open()
        chunk: list[bytes] = []
        chunk_size = 0
        written = 0
        for _, _, data in records:
            if (self.max_bytes is not None and self._size + chunk_size > 0
                    and self._size + chunk_size + len(data) > self.max_bytes):
                written += self._write(chunk)
                chunk, chunk_size = [], 0
                self._rotate()
            chunk.append(data)
            chunk_size += len(data)
        written += self._write(chunk)
        return written

    def close(self) -> None:
        self.flush()
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- internals --------------------------------------------------------------------------------
    def _ensure_open(self) -> None:
        if self._file is None:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")  # noqa: SIM115 - kept open across flushes
            self._size = self._file.tell()

    def _write(self, chunk: list[bytes]) -> int:
        if not chunk:
            return 0
        assert self._file is not None
        data = b"".join(chunk)
        self._file.write(data)
        self._file.flush()
        self._size += len(data)
        return len(data)

    def _rotate(self) -> None:
        assert self.path is not None and self._file is not None
        self._file.close()
        self._file = None
        for i in range(self.backup_count - 1, 0, -1):
            src = Path(f"{self.path}.{i}")
            if src.exists():
                os.replace(src, f"{self.path}.{i + 1}")
        os.replace(self.path, f"{self.path}.1")
        self.rotations += 1
        self._ensure_open()
