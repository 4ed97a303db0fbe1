"""The run directory: everything for one audit in one folder, and the monitor's own log."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tui.config import Config, redact, secrets_of
from tui.errors import BotmonError
from tui.outputs.durable import to_json, write_atomic

META = "run.json"
OWN_LOG = "botmon.log"


@dataclass
class RunDir:
    path: Path

    @classmethod
    def create(cls, config: Config, out: str | None = None, now: datetime | None = None) -> RunDir:
        base = config.resolve(out) if out else config.resolve(config.run.out_dir)
        stamp = (now or datetime.now()).strftime("%Y%m%d_%H%M%S")
        path = base / stamp
        suffix = 1
        while path.exists():  # two runs started in the same second
            suffix += 1
            path = base / f"{stamp}_{suffix}"
        try:
            path.mkdir(parents=True)
        except OSError as exc:
            raise BotmonError(str(path), f"cannot create the run directory: {exc.strerror}",
                              "choose another --out directory") from None
        return cls(path)

    @classmethod
    def open_existing(cls, path: str | Path) -> RunDir:
        run = cls(Path(path))
        if not (run.path / META).exists():
            raise BotmonError(str(path), f"not a botmon run directory (no {META})",
                              "pass the folder printed when the run started")
        return run

    def discard(self) -> None:
        """Remove a run directory that never started (only botmon's own log inside)."""
        import shutil

        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "baseFilename", "").startswith(str(self.path)):
                logging.getLogger().removeHandler(handler)
                handler.close()
        if all(p.name == OWN_LOG for p in self.path.iterdir()):
            shutil.rmtree(self.path, ignore_errors=True)

    def file(self, name: str) -> Path:
        return self.path / name

    def write_meta(self, meta: dict) -> None:
        write_atomic(self.file(META), json.dumps(json.loads(to_json(meta)), indent=2) + "\n")

    def read_meta(self) -> dict:
        try:
            return json.loads(self.file(META).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BotmonError(str(self.file(META)), f"unreadable run metadata: {exc}") from None


class _Redacting(logging.Filter):
    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = None
        return True


def setup_own_log(run: RunDir, config: Config, level: int = logging.INFO) -> logging.Handler:
    """botmon's own log goes to ``botmon.log`` in the run directory, never to the terminal."""
    handler = logging.FileHandler(run.file(OWN_LOG), encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_Redacting(secrets_of(config)))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("asyncio", "watchfiles"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return handler
