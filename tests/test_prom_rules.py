"""`botmon rules export --prometheus`: promtool validates the export and runs a unit-test file
(a held condition fires once, like botmon's engine); every expression reads served series."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from tests.test_alert_engine import engine, make_view
from tests.test_prometheus import _families, _store
from tests.test_store import T0 as STORE_T0
from tui.alerts.conditions import Condition
from tui.alerts.prom_export import alert_name, export_prometheus, message_template, rule_expr
from tui.alerts.rules import Rule, RuleError, RuleSet, load_rules
from tui.cli import main
from tui.resources import data_path

FIXTURES = Path(__file__).parent / "fixtures" / "prometheus"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: .ci/run installs the Debian package `prometheus`")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    return found


def run_promtool(*args: str, cwd: Path) -> str:
    done = subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_promtool_validates_the_exported_default_rules(tmp_path, capsys):
    out = tmp_path / "botmon.rules.yml"
    assert main(["rules", "export", "--prometheus", "-o", str(out)]) == 0
    count = len(load_rules(data_path("rules")).rules)
    assert f"{count} Prometheus alerting rules" in capsys.readouterr().err
    assert f"SUCCESS: {count} rules found" in run_promtool("check", "rules", str(out),
                                                           cwd=tmp_path)


def test_promtool_unit_test_a_held_condition_fires_once(tmp_path):
    assert main(["rules", "export", "--prometheus", "--rules", str(FIXTURES / "rules"),
                 "-o", str(tmp_path / "held_rules.yml")]) == 0
    shutil.copy(FIXTURES / "held_test.yml", tmp_path)
    assert "SUCCESS" in run_promtool("test", "rules", "held_test.yml", cwd=tmp_path)


def test_botmons_engine_gives_the_same_episode_as_the_promtool_test():
    """The first case of held_test.yml through botmon's own engine: same firing and end."""
    rules = load_rules(FIXTURES / "rules").rules
    unprotected = next(r for r in rules if r.name == "unprotected_positions")
    e = engine(unprotected)
    fired = []
    for step in range(36):  # held_test.yml: '0x3 1x20 0x12' every 15 s
        value = 1 if 4 <= step <= 24 else 0
        for transition in e.evaluate(make_view(step * 15, {"unprotected": value})):
            fired.append((transition["event"], step * 15))
    assert fired == [("pending", 60), ("firing", 90), ("resolved", 405)]
    # promtool: not firing at 75 s, firing at 90 s, 5 m and 6 m 30 s, resolved at 7 m.


def test_the_default_rules_read_series_that_metrics_serves():
    view = _store(log=True).view(STORE_T0 + timedelta(minutes=1, seconds=45))
    served = set(_families(view))
    served |= {f.removesuffix("_total") for f in served}
    text = export_prometheus(load_rules(data_path("rules")))
    used = set(re.findall(r"\b(botmon_[a-z0-9_]+)[{)]", text))  # the series in expressions
    assert used, text
    for name in used:
        assert name in served or name.removesuffix("_total") in served, name


def _rule(**kwargs) -> Rule:
    base = dict(name="r", severity="warning", condition=Condition("errors", "last_minute", ">", 5))
    base.update(kwargs)
    return Rule(**base)


def test_windows_units_and_exchanges_map_to_promql():
    assert rule_expr(_rule()) == \
        'sum without (window, exchange) (botmon_errors_in_window{window="last_minute"}) > 5'
    assert rule_expr(_rule(condition=Condition("errors", "all_time", ">", 50))) == \
        "sum without (window, exchange) (botmon_errors_total) > 50"
    assert rule_expr(_rule(condition=Condition("positions_opened.bybit", "last_10_minutes",
                                               ">=", 3))) == \
        ('max without (window, exchange) (botmon_positions_opened_in_window'
         '{window="last_10_minutes",exchange="bybit"}) >= 3')
    assert rule_expr(_rule(condition=Condition("poll_ms", "current", ">", 300))) == \
        "max without (window, exchange) (botmon_poll_seconds) * 1000 > 300"
    assert rule_expr(_rule(condition=Condition("open_positions_max", "all_time", ">", 70))) == \
        ('max without (window, exchange) (botmon_open_positions_max'
         '{window="all_time",exchange=""}) > 70')


def test_messages_become_go_templates():
    rule = _rule(message="{value} errors (> {threshold}), {value:.1f}, peak {peak}, {{x}}")
    assert message_template(rule) == (
        '{{ printf "%.6g" $value }} errors (> 5), {{ printf "%.1f" $value }}, peak –, '
        '{{ "{" }}x{{ "}" }}')


def test_alert_names_are_prometheus_names_and_collisions_are_refused():
    assert alert_name(_rule(name="my.rule-1")) == "my_rule_1"
    assert alert_name(_rule(name="1st")) == "_1st"
    ruleset = RuleSet((_rule(name="a.b", source="x.toml"), _rule(name="a-b", source="x.toml")),
                      files=(Path("x.toml"),))
    with pytest.raises(RuleError, match="both become the Prometheus alert 'a_b'"):
        export_prometheus(ruleset)


def test_export_to_stdout_and_bad_input(tmp_path, capsys):
    assert main(["rules", "export", "--prometheus", "--rules", str(FIXTURES / "rules")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Generated by `botmon rules export --prometheus`")
    assert "- alert: no_price_updates" in out
    assert main(["rules", "export", "--prometheus", "--rules", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("botmon rules: ") and "no such rules directory" in err
    assert len(err.strip().splitlines()) == 1
    assert main(["rules", "export"]) == 2  # no format chosen: argparse's one line, exit 2
    err = capsys.readouterr().err
    assert err.startswith("botmon rules export: ") and len(err.strip().splitlines()) == 1
    assert main(["rules", "export", "--prometheus", "-o", str(tmp_path / "no" / "f.yml")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_percentages_are_ratios_multiplied_back():
    assert rule_expr(_rule(condition=Condition("win_rate_pct", "last_10_minutes", "<", 40))) == \
        ('max without (window, exchange) (botmon_win_rate_ratio'
         '{window="last_10_minutes",exchange=""}) * 100 < 40')
