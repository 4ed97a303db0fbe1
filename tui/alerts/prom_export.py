"""botmon's rules as Prometheus alerting rules, over the series of ``/metrics``.

Windows map to PromQL by reading botmon's own windows, which ``/metrics`` exports as series
(:mod:`tui.outputs.prom_names`): ``last_minute.errors > 5`` becomes
``sum without (window, exchange) (botmon_errors_in_window{window="last_minute"}) > 5``. The
expression reads exactly the number botmon's engine reads (minute buckets keyed by each event's
own ``created_at`` on the database clock, late rows in their minute), so a threshold means the
same in both. ``increase(botmon_errors_total[1m])`` would be a different figure: it counts rows
when they are scraped, not in their minute, and extrapolates.

- ``for`` and ``keep_firing_for`` (Prometheus >= 2.42) carry over as they are.
- ``resolve_threshold`` (hysteresis) becomes ``strict or (relaxed and <the alert is firing>)``.
- ``and`` conditions: PromQL ``and``; every side is aggregated to the same labels (``bot`` and
  the target's own) so they match.
- Values in milliseconds are exported in seconds; the expression multiplies them back
  (``* 1000 > 300``) so the threshold and the message read as in the rule file.
- ``{value}`` is the alert's value; ``{value2}``... are read by a template query; ``{peak}`` and
  ``{items}`` (the affected positions) have no Prometheus counterpart and print "–".
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

from tui import __version__
from tui.alerts.conditions import Condition, pretty
from tui.alerts.rules import Rule, RuleError, RuleSet
from tui.outputs.prom_names import is_point, series_for

_LABELS_KEPT = "without (window, exchange)"
_ALERT_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_PRINTF_SPEC = re.compile(r"^\.?\d*[fgeE]?$")
_BRACE = re.compile(r"[{}]")  # a literal brace must not start or end a Go template action
NO_VALUE = "–"
STATIC_LABELS = {"source": "botmon"}


def alert_name(rule: Rule) -> str:
    """A Prometheus alert name is a metric name: botmon's ``.`` and ``-`` become ``_``."""
    name = re.sub(r"[^a-zA-Z0-9_:]", "_", rule.name)
    return name if _ALERT_NAME.match(name) else f"_{name}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def value_expr(condition: Condition, bot_placeholder: bool = False) -> str:
    """The PromQL of a condition's left side: one value per bot (and scrape target)."""
    base, _, exchange = condition.metric.partition(".")
    series = series_for(base, condition.window)
    matchers = []
    if series.window is not None:
        matchers.append(f'window="{series.window}"')
    if exchange:
        matchers.append(f'exchange="{exchange}"')
        aggregate = "max"  # one series
    elif series.additive:
        aggregate = "sum"  # per-exchange series plus the rest add up to the bot-wide figure
    else:
        aggregate = "max"
        if not is_point(base):
            matchers.append('exchange=""')  # the bot-wide value, not a per-exchange one
    if bot_placeholder:
        matchers.append('bot="%s"')
    selector = series.family + ("{" + ",".join(matchers) + "}" if matchers else "")
    expr = f"{aggregate} {_LABELS_KEPT} ({selector})"
    if series.scale != 1.0:
        expr = f"{expr} * {_number(1 / series.scale)}"  # back to the rule's unit (ms)
    return expr


def condition_expr(condition: Condition, threshold: float | None = None) -> str:
    limit = condition.threshold if threshold is None else threshold
    return f"{value_expr(condition)} {condition.op} {_number(limit)}"


def rule_expr(rule: Rule) -> str:
    strict = "\nand ".join(condition_expr(c) for c in rule.conditions)
    if rule.resolve_threshold is None:
        return strict
    # While the alert fires, the first condition only has to stay past the resolve threshold
    # (botmon's hysteresis): ALERTS carries the rule's labels, which `ignoring` leaves out.
    ignored = ", ".join(["alertname", "alertstate", "severity", *STATIC_LABELS])
    relaxed = "\nand ".join([condition_expr(rule.condition, rule.resolve_threshold)]
                             + [condition_expr(c) for c in rule.also])
    firing = f'ALERTS{{alertname="{alert_name(rule)}",alertstate="firing"}}'
    return f"(\n{strict}\n)\nor\n(\n{relaxed}\nand ignoring({ignored}) {firing}\n)"


def _go_string(text: str) -> str:
    return json.dumps(text)  # a Go interpreted string literal uses the same escapes


def _template_value(spec: str, source: str) -> str:
    if spec and _PRINTF_SPEC.match(spec):
        return f'{{{{ printf {_go_string("%" + spec)} {source} }}}}'
    return f'{{{{ printf "%.6g" {source} }}}}'  # 3 -> "3", 0.5 -> "0.5", as botmon prints


def message_template(rule: Rule) -> str:
    """The rule's message as a Prometheus (Go) template."""
    literals = {"threshold": pretty(rule.condition.threshold), "metric": rule.condition.metric,
                "window": rule.condition.window, "op": rule.condition.op, "rule": rule.name,
                "severity": rule.severity, "for": f"{rule.for_s:g}s", "peak": NO_VALUE,
                "items": NO_VALUE}
    queried: dict[str, Condition] = {}
    for index, condition in enumerate(rule.also, 2):
        literals.update({f"threshold{index}": pretty(condition.threshold),
                         f"metric{index}": condition.metric, f"window{index}": condition.window})
        queried[f"value{index}"] = condition
    out = []
    for literal, field, spec, _ in string.Formatter().parse(rule.message):
        out.append(_BRACE.sub(lambda m: f'{{{{ "{m.group(0)}" }}}}', literal))
        if field is None:
            continue
        if field == "value":
            out.append(_template_value(spec, "$value"))
        elif field in queried:
            query = _go_string(value_expr(queried[field], bot_placeholder=True))
            out.append(f"{{{{ with printf {query} $labels.bot | query }}}}"
                       f"{_template_value(spec, '(. | first | value)')}"
                       f"{{{{ else }}}}{NO_VALUE}{{{{ end }}}}")
        else:
            out.append(literals.get(field, NO_VALUE))
    return "".join(out)


def _duration(seconds: float) -> str:
    """The largest unit that states it exactly: 300 -> "5m", 90 -> "90s", 0.25 -> "250ms"."""
    if not float(seconds).is_integer():
        return f"{int(round(seconds * 1000))}ms"
    seconds = int(seconds)
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _scalar(text: str, indent: int) -> str:
    """A YAML scalar: a literal block for multi-line or quote-heavy text, else JSON-quoted."""
    plain_lines = all(line == line.rstrip() and line.isprintable() for line in text.split("\n"))
    if ("\n" in text or '"' in text) and plain_lines and text and not text[0].isspace():
        pad = " " * indent
        return "|-\n" + "\n".join(pad + line if line else "" for line in text.split("\n"))
    return json.dumps(text, ensure_ascii=False)


def _group_name(file: Path) -> str:
    return f"botmon-{file.stem}"


def export_prometheus(ruleset: RuleSet) -> str:
    """The YAML of a Prometheus rule file: one group per botmon rule file."""
    names: dict[str, str] = {}
    for rule in ruleset.rules:
        alert = alert_name(rule)
        if alert in names and names[alert] != rule.name:
            raise RuleError(rule.source, f"rules '{names[alert]}' and '{rule.name}' both "
                            f"become the Prometheus alert '{alert}'",
                            "rename one of them (Prometheus names allow letters, digits, _)")
        names[alert] = rule.name
    sources = ", ".join(str(f) for f in ruleset.files)
    lines = [f"# Generated by `botmon rules export --prometheus` (botmon {__version__}) from",
             f"# {sources}. Do not edit: change the botmon rules and export again.",
             "# The series are those of botmon's /metrics; see the README, \"Prometheus, Grafana",
             "# and notifications\". keep_firing_for needs Prometheus >= 2.42.",
             "groups:"]
    for file in ruleset.files:
        rules = [r for r in ruleset.rules if r.source == str(file)]
        if not rules:
            continue
        lines += [f"  - name: {_scalar(_group_name(file), 6)}", "    rules:"]
        for rule in rules:
            lines += _rule_lines(rule)
    if len(lines) == 5:
        lines[-1] = "groups: []"
    return "\n".join(lines) + "\n"


def _rule_lines(rule: Rule) -> list[str]:
    lines = [f"      - alert: {alert_name(rule)}",
             f"        expr: {_scalar(rule_expr(rule), 10)}"]
    if rule.for_s:
        lines.append(f"        for: {_duration(rule.for_s)}")
    if rule.keep_firing_for_s:
        lines.append(f"        keep_firing_for: {_duration(rule.keep_firing_for_s)}")
    lines.append("        labels:")
    for key, value in {"severity": rule.severity, **STATIC_LABELS}.items():
        lines.append(f"          {key}: {_scalar(value, 12)}")
    annotations = {"summary": message_template(rule), "condition": rule.describe(),
                   "runbook": rule.runbook, "botmon_rule": rule.name}
    lines.append("        annotations:")
    for key, value in annotations.items():
        if value:
            lines.append(f"          {key}: {_scalar(value, 12)}")
    return lines
