"""Rule files: the defaults load, bad files fail with file, rule, field and a did-you-mean."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.alerts import catalog
from tui.alerts.catalog import EXTRA_METRICS, known_metric
from tui.alerts.conditions import parse_duration
from tui.alerts.rules import RuleError, check_rules, load_rules
from tui.errors import BotmonError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RULES = ROOT / "rules"

GOOD = '''
[[rule]]
name = "r"
severity = "warning"
metric = "errors"
window = "last_minute"
op = ">"
threshold = 5
'''


def write(tmp_path: Path, text: str, name: str = "rules.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_default_rules_cover_every_old_kit_alert_and_the_monitor_health():
    ruleset = load_rules(DEFAULT_RULES)
    conditions = {(r.condition.window, r.condition.metric, r.condition.op, r.condition.threshold,
                   r.severity) for r in ruleset.rules}
    # The old console monitor's alerts (BOT_FACTS.md) ...
    assert ("current", "unprotected", ">", 0, "critical") in conditions
    assert ("last_minute", "emergency_closes", ">", 0, "critical") in conditions
    assert ("last_minute", "positions_opened", ">", 15, "warning") in conditions
    assert ("last_minute", "errors", ">", 5, "warning") in conditions
    assert ("last_minute", "positions_price_updated", "==", 0, "warning") in conditions
    assert ("last_minute", "ws_reconnects", ">", 0, "warning") in conditions
    assert ("current", "aged", ">", 5, "info") in conditions
    # ... the monitor's own health and the operators' end-of-run marks.
    assert ("current", "db_up", "==", 0, "critical") in conditions
    assert ("last_minute", "poll_p95_ms", ">", 300, "warning") in conditions
    assert ("current", "last_line_gap", "==", 1, "warning") in conditions
    # WebSocket reconnects: the bot writes no websocket events, its log has them.
    assert ("last_minute", "log_ws_reconnects", ">", 0, "warning") in conditions
    assert any(r.condition.metric == "bot_silent_s" for r in ruleset.rules)
    for metric, limit in (("ws_reconnects", 20), ("errors", 50), ("zombies", 5)):
        assert ("all_time", metric, ">", limit, "warning") in conditions
    no_prices = next(r for r in ruleset.rules if r.name == "no_price_updates")
    assert [c.metric for c in no_prices.also] == ["open_positions", "polls", "minute_complete"]
    assert ruleset.settings.bell is True
    assert all(r.runbook for r in ruleset.rules)


def test_check_rules_summarises_a_valid_directory():
    lines = check_rules(DEFAULT_RULES)
    assert lines[0].endswith("default.toml: 18 rules (3 critical, 14 warning, 1 info)")
    assert any("unprotected_positions: current.unprotected > 0 for 3m" in line
               for line in lines)
    assert lines[-1] == "OK: 18 rules in 1 file(s)"


BAD = [
    # (what is wrong, replacement of a line of GOOD or extra text, expected pieces)
    ("unknown metric", ('metric = "errors"', 'metric = "eror"'),
     ["field 'metric'", "unknown metric 'eror'", "did you mean 'errors'?"]),
    ("typo in a field", ("threshold = 5", "treshold = 5"),
     ["field 'treshold'", "unknown field", "did you mean 'threshold'?"]),
    ("bad severity", ('severity = "warning"', 'severity = "warn"'),
     ["field 'severity'", "unknown severity 'warn'", "did you mean 'warning'?"]),
    ("bad window", ('window = "last_minute"', 'window = "last_10_minute"'),
     ["field 'window'", "did you mean 'last_10_minutes'?"]),
    ("bad operator", ('op = ">"', 'op = "=>"'), ["field 'op'", "unknown comparison '=>'"]),
    ("missing threshold", ("threshold = 5", ""), ["field 'threshold'", "missing"]),
    ("threshold not a number", ("threshold = 5", 'threshold = "5"'),
     ["field 'threshold'", "expected a number"]),
    ("bad duration", ("threshold = 5", 'threshold = 5\nfor = "2 minutes"'),
     ["field 'for'", "expected a duration", '"2m"']),
    ("unknown placeholder", ("threshold = 5", 'threshold = 5\nmessage = "{valeu} errors"'),
     ["field 'message'", "unknown placeholder {valeu}", "did you mean 'value'?"]),
    ("bad format spec", ("threshold = 5", 'threshold = 5\nmessage = "{value:zz}"'),
     ["field 'message'", "bad format spec"]),
    ("and: unknown metric", ("threshold = 5", 'threshold = 5\nand = [{ metric = "open_positons",'
                             ' window = "current", op = ">", threshold = 0 }]'),
     ["field 'and[1].metric'", "did you mean 'open_positions'?"]),
    ("and: unknown field", ("threshold = 5", 'threshold = 5\nand = [{ metric = "aged", '
                            'windw = "current", op = ">", threshold = 0 }]'),
     ["field 'and[1].windw'", "did you mean 'window'?"]),
    ("health metric has no exchanges", ('metric = "errors"', 'metric = "poll_ms.bybit"'),
     ["field 'metric'", "no per-exchange variants"]),
    ("point-in-time metric in a minute window", ('metric = "errors"', 'metric = "bot_silent_s"'),
     ["field 'metric'", "never in the last_minute window", 'window = "current"']),
    ("hysteresis on the wrong side", ("threshold = 5", "threshold = 5\nresolve_threshold = 8"),
     ["field 'resolve_threshold'", "firing side", "<= the threshold"]),
    ("bell not a bool", ("threshold = 5", 'threshold = 5\nbell = "yes"'),
     ["field 'bell'", "expected true or false"]),
]


@pytest.mark.parametrize("replace,expected", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_rule_names_file_rule_and_field(tmp_path, replace, expected):
    old, new = replace
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(RuleError) as caught:
        check_rules(tmp_path)
    line = caught.value.line()
    assert str(path) in line and "rule 'r'" in line, line
    for piece in expected:
        assert piece in line, line
    assert caught.value.exit_code == 2 and isinstance(caught.value, BotmonError)


def test_the_message_points_at_the_line_of_the_field(tmp_path):
    path = write(tmp_path, GOOD + GOOD.replace('"r"', '"second"').replace('"errors"', '"eror"'))
    with pytest.raises(RuleError) as caught:
        load_rules(path)
    # GOOD is 8 lines starting with a blank one: the second rule's metric is on line 13.
    assert f"{path}:13: rule 'second' field 'metric'" in caught.value.line()


@pytest.mark.parametrize("text,expected", [
    ("rule = 3", "'rule' must be an array of tables"),
    ("[[rules]]\nname = 'x'", "unknown top-level key 'rules' (hint: did you mean 'rule'?)"),
    ("[settings]\nbel = true", "unknown setting (hint: did you mean 'bell'?)"),
    ("[settings]\nkeep_resolved = -1", "expected an integer >= 0"),
    ("[[rule]\nname = 'x'", "not valid TOML"),
    ("[[rule]]\nseverity = 'info'", "rule #1 field 'name': missing"),
])
def test_bad_file_structure(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(RuleError) as caught:
        load_rules(path)
    assert str(path) in caught.value.line() and expected in caught.value.line()


def test_rule_names_are_unique_across_files(tmp_path):
    write(tmp_path, GOOD, "a.toml")
    write(tmp_path, GOOD, "b.toml")
    with pytest.raises(RuleError) as caught:
        load_rules(tmp_path)
    line = caught.value.line()
    assert "b.toml" in line and "already used in" in line and "a.toml" in line


def test_missing_or_empty_rules_directory(tmp_path):
    with pytest.raises(RuleError, match="no such rules directory"):
        load_rules(tmp_path / "nope")
    with pytest.raises(RuleError, match="no \\*.toml rule files"):
        load_rules(tmp_path)


def test_files_are_read_in_order_and_disabled_rules_are_skipped(tmp_path):
    write(tmp_path, GOOD.replace('"r"', '"b_rule"'), "20_b.toml")
    write(tmp_path, GOOD.replace('"r"', '"a_rule"') + "enabled = false\n"
          + GOOD.replace('"r"', '"a2"') + "\n[settings]\nbell = false\n", "10_a.toml")
    ruleset = load_rules(tmp_path)
    assert [r.name for r in ruleset.rules] == ["a2", "b_rule"]
    assert ruleset.disabled == ("a_rule",)
    assert ruleset.settings.bell is False
    assert [p.name for p in ruleset.files] == ["10_a.toml", "20_b.toml"]


def test_rule_fields_are_parsed(tmp_path):
    path = write(tmp_path, '''
[[rule]]
name = "slow"
severity = "critical"
metric = "poll_p95_ms"
window = "last_minute"
op = ">"
threshold = 300
resolve_threshold = 250
for = "1m30s"
keep_firing_for = 45
and = [
  { metric = "open_positions_max.bybit", window = "last_10_minutes", op = ">=", threshold = 1 },
]
message = "p95 {value:.0f} ms > {threshold}; {value2} open"
runbook = """
  check the database
"""
''')
    rule = load_rules(path).rules[0]
    assert (rule.for_s, rule.keep_firing_for_s, rule.resolve_threshold) == (90, 45, 250)
    assert rule.bell is True  # critical rules ring by default
    assert rule.also[0].metric == "open_positions_max.bybit"
    assert rule.runbook == "check the database"
    assert rule.describe() == ("last_minute.poll_p95_ms > 300 and "
                               "last_10_minutes.open_positions_max.bybit >= 1 for 1m30s, "
                               "stays firing while > 250, keeps firing 45s")


@pytest.mark.parametrize("text,seconds", [
    ("30s", 30), ("2m", 120), ("1h30m", 5400), ("250ms", 0.25), ("0", 0), (15, 15), (1.5, 1.5),
    ("1d", 86400), ("2 m", 120), ("", None), ("2 minutes", None), ("-5s", None), (-1, None),
    (True, None), ("m5", None), ("5x", None),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("name,known", [
    ("unprotected", True), ("open_positions.bybit", True), ("open_positions_max.okx", True),
    ("errors.binance", True), ("bot_silent_s", True), ("run_elapsed_s", True),
    ("open_position", False), ("errors.", False), ("db_up.bybit", False), ("ext_widgets", False), ("log_errors", True), ("log_silent_s", True),
])
def test_known_metric(name, known):
    assert known_metric(name) is known


def test_other_sources_register_their_metrics(tmp_path, monkeypatch):
    path = write(tmp_path, GOOD.replace('"errors"', '"ext_widgets"'))
    with pytest.raises(RuleError, match="unknown metric 'ext_widgets'"):
        load_rules(path)
    monkeypatch.setattr(catalog, "EXTRA_METRICS", EXTRA_METRICS | {"ext_widgets"})
    assert load_rules(path).rules[0].condition.metric == "ext_widgets"
    assert known_metric("ext_widgets.bybit")
