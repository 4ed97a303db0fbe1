"""Load and validate ``rules/*.toml``: data only, checked once, reported with file/rule/field.

A rule file holds ``[[rule]]`` tables (and an optional ``[settings]`` table)::

    [[rule]]
    name = "unprotected_positions"
    severity = "critical"                      # critical / warning / info
    metric = "unprotected"                     # a metric of the store (docs/alerts.md)
    window = "current"                         # current / last_minute / last_10_minutes / all_time
    op = ">"                                   # > >= < <= == !=
    threshold = 0
    and = [{ metric = "open_positions", window = "current", op = ">", threshold = 0 }]
    for = "30s"                                # must hold this long before firing
    keep_firing_for = "1m"                     # stays firing this long after it stops holding
    resolve_threshold = 0                      # optional hysteresis band while firing
    message = "{value} open positions without a stop-loss"
    runbook = "what to do"
    bell = true                                # default: true for critical rules
    enabled = true

Every problem raises :class:`RuleError` (a BotmonError: exit code 2) naming the file (with a line
number when it can be found), the rule and the field, with a did-you-mean where one helps.
"""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tui.alerts.catalog import metric_problem
from tui.alerts.conditions import (OPS, RISING, WINDOWS, Condition, Num, format_duration,
                                   parse_duration, placeholder_names, placeholders, pretty)
from tui.alerts.model import SEVERITIES
from tui.errors import BotmonError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

RULE_FIELDS = ("name", "severity", "metric", "window", "op", "threshold", "and", "for",
               "keep_firing_for", "resolve_threshold", "message", "runbook", "bell", "enabled")
CONDITION_FIELDS = ("metric", "window", "op", "threshold")
SETTINGS_FIELDS = ("bell", "keep_resolved")
TOP_LEVEL = ("rule", "settings")
DEFAULT_MESSAGE = "{metric} is {value} ({op} {threshold})"
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class RuleError(BotmonError):
    """A rule file that cannot be used."""


@dataclass(frozen=True)
class Rule:
    name: str
    severity: str
    condition: Condition
    also: tuple[Condition, ...] = ()  # the `and` conditions
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    resolve_threshold: float | None = None
    message: str = DEFAULT_MESSAGE
    runbook: str = ""
    bell: bool | None = None  # None: ring for critical rules only
    source: str = ""

    @property
    def rings(self) -> bool:
        return self.severity == "critical" if self.bell is None else self.bell

    @property
    def conditions(self) -> tuple[Condition, ...]:
        return (self.condition,) + self.also

    def describe(self) -> str:
        text = " and ".join(c.text() for c in self.conditions)
        if self.for_s:
            text += f" for {format_duration(self.for_s)}"
        if self.resolve_threshold is not None:
            text += f", stays firing while {self.condition.op} {pretty(self.resolve_threshold)}"
        if self.keep_firing_for_s:
            text += f", keeps firing {format_duration(self.keep_firing_for_s)}"
        return text


@dataclass(frozen=True)
class Settings:
    bell: bool = True  # master switch for the terminal bell on a new critical alert
    keep_resolved: int = 20  # resolved alerts kept in items() for the pane


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]
    settings: Settings = field(default_factory=Settings)
    files: tuple[Path, ...] = ()
    disabled: tuple[str, ...] = ()


def _did_you_mean(word: str, options: list[str] | tuple[str, ...]) -> str | None:
    close = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.5)
    return f"did you mean '{close[0]}'?" if close else None


def rule_files(path: Path) -> list[Path]:
    """All ``*.toml`` files of a directory, sorted; or the one file given."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise RuleError(str(path), "no such rules directory or file",
                        "pass the folder holding rules/*.toml (paths.rules_dir or --rules)")
    files = sorted(p for p in path.glob("*.toml") if p.is_file())
    if not files:
        raise RuleError(str(path), "no *.toml rule files in this directory",
                        "copy rules/default.toml from botmon as a start")
    return files


def load_rules(path: Path | str) -> RuleSet:
    """Every rule of every file (sorted); names must be unique across files."""
    rules: list[Rule] = []
    disabled: list[str] = []
    settings: dict[str, Any] = {}
    seen: dict[str, str] = {}
    files = rule_files(Path(path))
    for file in files:
        parsed = _FileParser(file).parse()
        for rule, enabled in parsed.rules:
            if rule.name in seen:
                raise RuleError(f"{parsed.where(rule.name, 'name')}: rule '{rule.name}'",
                                f"the name is already used in {seen[rule.name]}",
                                "rule names must be unique across the rule files")
            seen[rule.name] = str(file)
            if enabled:
                rules.append(rule)
            else:
                disabled.append(rule.name)
        settings.update(parsed.settings)  # later files win, like later config layers
    return RuleSet(tuple(rules), Settings(**settings), tuple(files), tuple(disabled))


def check_rules(path: Path | str) -> list[str]:
    """`botmon check --rules DIR`: a summary of valid rules; raises RuleError (exit 2) if not."""
    ruleset = load_rules(path)
    lines = []
    for file in ruleset.files:
        mine = [r for r in ruleset.rules if r.source == str(file)]
        counts = ", ".join(f"{sum(r.severity == s for r in mine)} {s}" for s in SEVERITIES)
        lines.append(f"{file}: {len(mine)} rules ({counts})")
        for rule in mine:
            lines.append(f"  {rule.severity:<8} {rule.name}: {rule.describe()}")
    if ruleset.disabled:
        lines.append(f"disabled: {', '.join(ruleset.disabled)}")
    lines.append(f"OK: {len(ruleset.rules)} rules in {len(ruleset.files)} file(s)")
    return lines


class _FileParser:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.rules: list[tuple[Rule, bool]] = []
        self.settings: dict[str, Any] = {}
        try:
            self.text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RuleError(str(path), f"cannot read the rule file: {exc}") from None
        self.blocks = _rule_blocks(self.text)

    # -- locating a problem ----------------------------------------------------------------------
    def where(self, index_or_name: int | str, field_name: str | None = None) -> str:
        """``file:line`` of the rule's field when the line can be found (tomllib keeps none)."""
        index = index_or_name
        if isinstance(index_or_name, str):
            index = next((i for i, b in enumerate(self.blocks)
                          if b.get("name", (0, None))[1] == index_or_name), -1)
        line = None
        if isinstance(index, int) and 0 <= index < len(self.blocks):
            block = self.blocks[index]
            top = (field_name or "").split("[")[0].split(".")[0]
            line = block.get(top, (None,))[0] or block["[[rule]]"][0]
        return f"{self.path}:{line}" if line else str(self.path)

    def error(self, index: int, name: str | None, field_name: str | None, problem: str,
              hint: str | None = None) -> RuleError:
        where = self.where(index, field_name)
        where += f": rule '{name}'" if name else f": rule #{index + 1}"
        if field_name:
            where += f" field '{field_name}'"
        return RuleError(where, problem, hint)

    # -- parsing ---------------------------------------------------------------------------------
    def parse(self) -> _FileParser:
        try:
            data = tomllib.loads(self.text)
        except tomllib.TOMLDecodeError as exc:
            raise RuleError(str(self.path), f"not valid TOML: {exc}",
                            "compare with rules/default.toml") from None
        for key in data:
            if key not in TOP_LEVEL:
                raise RuleError(str(self.path), f"unknown top-level key '{key}'",
                                _did_you_mean(key, TOP_LEVEL)
                                or "a rule file holds [[rule]] tables and [settings]")
        self._settings(data.get("settings", {}))
        rules = data.get("rule", [])
        if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
            raise RuleError(str(self.path), "'rule' must be an array of tables",
                            "write each rule under its own [[rule]] header")
        for index, table in enumerate(rules):
            self.rules.append(self._rule(index, table))
        return self

    def _settings(self, table: Any) -> None:
        where = f"{self.path}: [settings]"
        if not isinstance(table, dict):
            raise RuleError(where, "expected a table")
        for key, value in table.items():
            if key not in SETTINGS_FIELDS:
                raise RuleError(f"{where} key '{key}'", "unknown setting",
                                _did_you_mean(key, SETTINGS_FIELDS)
                                or f"settings are {', '.join(SETTINGS_FIELDS)}")
            if key == "bell" and not isinstance(value, bool):
                raise RuleError(f"{where} key 'bell'", f"expected true or false, got {value!r}")
            if key == "keep_resolved" and (isinstance(value, bool) or not isinstance(value, int)
                                           or value < 0):
                raise RuleError(f"{where} key 'keep_resolved'",
                                f"expected an integer >= 0, got {value!r}")
            self.settings[key] = value

    def _rule(self, index: int, table: dict) -> tuple[Rule, bool]:
        name = table.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise self.error(index, None, "name",
                             "missing" if name is None else f"expected a plain name, got {name!r}",
                             'e.g. name = "unprotected_positions" (letters, digits, _ . -)')
        for key in table:
            if key not in RULE_FIELDS:
                raise self.error(index, name, key, "unknown field",
                                 _did_you_mean(key, RULE_FIELDS)
                                 or f"fields are {', '.join(RULE_FIELDS)}")
        severity = table.get("severity")
        if severity not in SEVERITIES:
            raise self.error(index, name, "severity",
                             "missing" if severity is None else f"unknown severity {severity!r}",
                             _did_you_mean(str(severity), SEVERITIES)
                             or f"one of {', '.join(SEVERITIES)}")
        condition = self._condition(index, name, table, "")
        also_raw = table.get("and", [])
        if isinstance(also_raw, dict):
            also_raw = [also_raw]
        if not isinstance(also_raw, list) or not all(isinstance(c, dict) for c in also_raw):
            raise self.error(index, name, "and", "expected a list of conditions",
                             'and = [{ metric = "open_positions", window = "current", '
                             'op = ">", threshold = 0 }]')
        also = []
        for position, raw in enumerate(also_raw, 1):
            for key in raw:
                if key not in CONDITION_FIELDS:
                    raise self.error(index, name, f"and[{position}].{key}", "unknown field",
                                     _did_you_mean(key, CONDITION_FIELDS)
                                     or f"a condition has {', '.join(CONDITION_FIELDS)}")
            also.append(self._condition(index, name, raw, f"and[{position}]."))
        for_s = self._duration(index, name, table, "for")
        keep_s = self._duration(index, name, table, "keep_firing_for")
        resolve = table.get("resolve_threshold")
        if resolve is not None:
            resolve = self._resolve_threshold(index, name, condition, resolve)
        message = table.get("message", DEFAULT_MESSAGE)
        runbook = table.get("runbook", "")
        for key, value in (("message", message), ("runbook", runbook)):
            if not isinstance(value, str):
                raise self.error(index, name, key, f"expected a string, got {value!r}")
        self._check_message(index, name, message, len(also))
        bell = table.get("bell", severity == "critical")
        enabled = table.get("enabled", True)
        for key, value in (("bell", bell), ("enabled", enabled)):
            if not isinstance(value, bool):
                raise self.error(index, name, key, f"expected true or false, got {value!r}")
        rule = Rule(name=name, severity=severity, condition=condition, also=tuple(also),
                    for_s=for_s, keep_firing_for_s=keep_s, resolve_threshold=resolve,
                    message=message, runbook=runbook.strip(), bell=bell, source=str(self.path))
        return rule, enabled

    def _condition(self, index: int, name: str, table: dict, prefix: str) -> Condition:
        metric = table.get("metric")
        if not isinstance(metric, str) or not metric:
            raise self.error(index, name, prefix + "metric",
                             "missing" if metric is None else f"expected a name, got {metric!r}",
                             'e.g. metric = "unprotected"')
        window = table.get("window", "current")
        if window not in WINDOWS:
            raise self.error(index, name, prefix + "window", f"unknown window {window!r}",
                             _did_you_mean(str(window), WINDOWS)
                             or f"one of {', '.join(WINDOWS)}")
        problem = metric_problem(metric, window)
        if problem is not None:
            # A rule over a metric that never appears would be a silent no-op: refuse it.
            raise self.error(index, name, prefix + "metric", problem[0], problem[1])
        op = table.get("op")
        if op not in OPS:
            raise self.error(index, name, prefix + "op",
                             "missing" if op is None else f"unknown comparison {op!r}",
                             f"one of {' '.join(OPS)}")
        threshold = table.get("threshold")
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise self.error(index, name, prefix + "threshold",
                             "missing" if threshold is None else
                             f"expected a number, got {threshold!r}", "e.g. threshold = 0")
        return Condition(metric, window, op, float(threshold))

    def _duration(self, index: int, name: str, table: dict, key: str) -> float:
        raw = table.get(key, 0)
        seconds = parse_duration(raw)
        if seconds is None:
            raise self.error(index, name, key, f"expected a duration, got {raw!r}",
                             'e.g. "30s", "2m", "1h30m" or a number of seconds')
        return seconds

    def _resolve_threshold(self, index: int, name: str, condition: Condition,
                           raw: Any) -> float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise self.error(index, name, "resolve_threshold", f"expected a number, got {raw!r}")
        value = float(raw)
        if condition.op in ("==", "!="):
            raise self.error(index, name, "resolve_threshold",
                             f"no hysteresis band for op '{condition.op}'",
                             "use keep_firing_for instead")
        # The band must make resolving harder than firing, or it would flap more, not less.
        wrong = value > condition.threshold if condition.op in RISING else \
            value < condition.threshold
        if wrong:
            side = "<=" if condition.op in RISING else ">="
            raise self.error(index, name, "resolve_threshold",
                             f"{pretty(value)} is on the firing side of threshold "
                             f"{pretty(condition.threshold)}",
                             f"with op '{condition.op}' it must be {side} the threshold")
        return value

    def _check_message(self, index: int, name: str, message: str, n_and: int) -> None:
        allowed = placeholder_names(n_and)
        try:
            fields = placeholders(message)
        except ValueError as exc:
            raise self.error(index, name, "message", f"malformed placeholder: {exc}",
                             "write a literal brace as {{ or }}") from None
        sample: dict[str, Any] = {}
        for field_name, _ in fields:
            if field_name not in allowed:
                raise self.error(index, name, "message", f"unknown placeholder {{{field_name}}}",
                                 _did_you_mean(field_name, allowed)
                                 or f"placeholders: {', '.join('{%s}' % a for a in allowed)}")
        for key in allowed:
            sample[key] = Num(1.5) if key.startswith(("value", "threshold", "peak")) else "x"
        try:
            message.format(**sample)
        except (ValueError, TypeError) as exc:
            raise self.error(index, name, "message", f"bad format spec: {exc}",
                             "e.g. {value:.1f}") from None


def _rule_blocks(text: str) -> list[dict[str, tuple[int, str | None]]]:
    """Per ``[[rule]]`` header: field -> (line number, string value if simple) for messages."""
    blocks: list[dict[str, tuple[int, str | None]]] = []
    current: dict[str, tuple[int, str | None]] | None = None
    key_line = re.compile(r'^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:"([^"]*)")?')
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("[[rule]]"):
            current = {"[[rule]]": (number, None)}
            blocks.append(current)
        elif stripped.startswith("[") and not stripped.startswith("[[rule."):
            current = None
        elif current is not None:
            match = key_line.match(stripped)
            if match and match.group(1) not in current:
                current[match.group(1)] = (number, match.group(2))
    return blocks
