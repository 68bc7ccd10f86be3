"""docs/operations.md runs as written: its ``sh`` blocks in one shell against a real
``azora dev`` (and a stopped one's datadir for the backup), and every metric the Grafana
dashboard it ships queries is one a node serves."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "operations.md"
DASHBOARD = REPO / "docs" / "grafana" / "azora-dashboard.json"
PROMQL_WORDS = {"histogram_quantile", "sum", "by", "rate", "increase", "le", "instance", "method", "path",
                "outcome", "ok"}


def doc_commands() -> str:
    return "\n".join(re.findall(r"```sh\n(.*?)```", DOC.read_text(), re.S))


def test_operations_doc_commands_run_as_written(dev_node, start_azora, tmp_path):
    stopped = start_azora("dev", "--datadir", str(tmp_path / "node"))
    stopped.rpc("evm_mine")
    assert stopped.stop() == 0
    env = {**os.environ, "RPC": dev_node.url, "DATADIR": str(tmp_path / "node")}
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", doc_commands()], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "azora_head_number " in run.stdout and '"status": "ok"' in run.stdout.replace('":"', '": "')
    assert "\n200\n" in f"\n{run.stdout}"
    assert (tmp_path / "azora-backup.tar.gz").stat().st_size > 0


def served_metric_names(url: str) -> set[str]:
    text = requests.get(url + "/metrics", timeout=10).text
    return {family.name for family in text_string_to_metric_families(text)}


def test_every_metric_the_dashboard_queries_is_served(dev_node):
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    queried = {name for expr in expressions for name in re.findall(r"\bazora_[a-z0-9_]+", expr)}
    families = {re.sub(r"_(bucket|sum|count|total)$", "", name) for name in queried}
    served = served_metric_names(dev_node.url)
    # p2p and validator metrics appear on a networked node (with a validator key): the dev node
    # has neither, so those names are checked against the collector's source
    network_only = {name for name in families if name.startswith(("azora_validator_", "azora_p2p_"))}
    assert families - network_only - served == set()
    metrics_source = (REPO / "node" / "metrics.py").read_text()
    assert [name for name in network_only if f'"{name}"' not in metrics_source] == []
    assert {"azora_head_number", "azora_block_finality_seconds", "azora_rpc_duration_seconds"} <= families
    documented = DOC.read_text()
    assert all(name.removeprefix("azora_validator") in documented for name in families), \
        [n for n in families if n.removeprefix("azora_validator") not in documented]
