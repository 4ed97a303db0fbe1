"""The one error type users see: a single line naming the object at fault and a hint.

Everything that can fail because of the user's input or environment (config files, rule files,
DSNs, missing tables, unreadable logs) raises :class:`BotmonError`; the CLI prints ``str(err)``
and exits with ``err.exit_code`` instead of a traceback.
"""

from __future__ import annotations


class BotmonError(Exception):
    """A user-facing failure: ``where`` names the file/key/object, ``hint`` says what to do."""

    exit_code = 2

    def __init__(self, where: str, problem: str, hint: str | None = None) -> None:
        self.where = where
        self.problem = problem
        self.hint = hint
        super().__init__(self.line())

    def line(self) -> str:
        text = f"{self.where}: {self.problem}" if self.where else self.problem
        if self.hint:
            text += f" (hint: {self.hint})"
        return text.replace("\n", " ")


class ConfigError(BotmonError):
    """Bad configuration: file, key, what was expected."""


class SchemaError(BotmonError):
    """The bot's database lacks tables or columns that the configuration names."""


class DatabaseUnavailable(BotmonError):
    """The database cannot be reached (never carries a password)."""
