"""The shipped Grafana dashboard queries only metrics that GalaxyCo exports."""

from __future__ import annotations

import json
import re

from galaxyco_ui.api.metrics_route import QueueCollector
from galaxyco_ui.config import PROJECT_ROOT
from galaxyco_ui.infra import metrics


def test_every_metric_the_dashboard_queries_is_exported() -> None:
    dashboard = json.loads((PROJECT_ROOT / "docs" / "grafana-dashboard.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"galaxyco_[a-z_]+", target["expr"])
    }
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    families = [*metrics.REGISTRY.collect(), *QueueCollector().collect()]
    exported = {family.name + suffix for family in families for suffix in suffixes[family.type]}

    assert queried, "the dashboard has no queries"
    assert queried <= exported, queried - exported
