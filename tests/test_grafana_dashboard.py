"""docs/grafana/botmon.json: generated from its script, laid out without overlaps, and every
query reads series that /metrics serves and parses as PromQL (promtool)."""

from __future__ import annotations

import importlib.util
import json
import re
from datetime import timedelta
from pathlib import Path

from tests.test_prom_rules import run_promtool
from tests.test_prometheus import _families, _store
from tests.test_store import T0

DOCS = Path(__file__).parent.parent / "docs" / "grafana"


def _maker():
    spec = importlib.util.spec_from_file_location("make_dashboard", DOCS / "make_dashboard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _exprs() -> list[str]:
    dashboard = json.loads((DOCS / "botmon.json").read_text(encoding="utf-8"))
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_the_dashboard_is_generated_by_its_script_and_panels_do_not_overlap():
    assert (DOCS / "botmon.json").read_text(encoding="utf-8") == _maker().render(), \
        "run python docs/grafana/make_dashboard.py"
    cells: dict[tuple[int, int], str] = {}
    for panel in json.loads((DOCS / "botmon.json").read_text())["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, (panel["title"], cells.get((x, y)))
                cells[(x, y)] = panel["title"]


def test_every_query_reads_served_series():
    served = set(_families(_store(log=True).view(T0 + timedelta(minutes=1, seconds=45))))
    served |= {name + "_total" for name in served}  # counters: family name without _total
    exprs = _exprs()
    used = {name for expr in exprs for name in re.findall(r"botmon_[a-z0-9_]+", expr)}
    assert len(used) > 30
    # Present only with something to show: episodes, unavailable figures, decided trades.
    missing = sorted(used - served - {"botmon_alerts", "botmon_metric_unavailable",
                                      "botmon_win_rate_ratio"})
    assert not missing


def test_every_query_is_valid_promql(tmp_path):
    rules = ["groups:", "  - name: dashboard", "    rules:"]
    for index, expr in enumerate(_exprs()):
        rules += [f"      - record: dashboard:query{index}",
                  f"        expr: {json.dumps(expr.replace('$bot', '.*'))}"]
    path = tmp_path / "dashboard.rules.yml"
    path.write_text("\n".join(rules) + "\n")
    assert "SUCCESS" in run_promtool("check", "rules", str(path), cwd=tmp_path)
