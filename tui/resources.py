"""Where the data files (sql/, rules/, config.example.toml) live.

In a checkout they sit at the repository root; in an installed wheel they are packaged under
``tui/_data``. A path from the configuration always wins over both.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_path(name: str) -> Path:
    """Return the packaged default for ``name`` ("sql", "rules", "config.example.toml")."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"botmon data file {name!r} is missing from the installation")


def sql_path(relative: str, sql_dir: Path | None = None) -> Path:
    """Resolve ``relative`` (e.g. ``"poll/poll.sql"``) inside the configured or packaged sql/."""
    base = sql_dir if sql_dir is not None else data_path("sql")
    return base / relative


def read_sql(relative: str, sql_dir: Path | None = None) -> str:
    return sql_path(relative, sql_dir).read_text(encoding="utf-8")
