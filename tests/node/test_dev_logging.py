"""``--log-level`` and ``--log-format text|json`` on every command, before or after its name:
``azora dev --log-format json`` writes one JSON object per log line."""
from __future__ import annotations

import json
import re

from web3 import Web3

from node.cli import build_parser

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL)")


def test_every_long_running_command_takes_the_logging_flags():
    parser = build_parser()
    for argv in (["dev"], ["serve", "--datadir", "d"], ["node", "run", "--datadir", "d"], ["oracle", "run", "--config", "c"],
                 ["testnet", "run", "d"]):
        args, _ = parser.parse_known_args([*argv, "--log-level", "debug", "--log-format", "json"])
        assert (args.log_level, args.log_format) == ("DEBUG", "json"), argv
        args, _ = parser.parse_known_args(["--log-level", "warning", *argv])
        assert (args.log_level, args.log_format) == ("WARNING", "text"), argv


def test_dev_logs_one_json_object_per_line(start_azora, tmp_path):
    node = start_azora("dev", "--datadir", str(tmp_path / "chain"), "--log-format", "json", "--log-level", "debug")
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    tx = w3.eth.send_transaction({"from": w3.eth.accounts[1], "to": w3.eth.accounts[2], "value": 1})
    w3.eth.wait_for_transaction_receipt(tx, timeout=30)
    assert node.stop() == 0
    lines = node.log_path.read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert not [line for line in lines if TEXT_LINE.match(line)]          # no text records
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["logger"] == "azora.consensus" and r["message"].startswith("committed #1") for r in records)
    assert any(r["logger"] == "azora.dev" and tx.to_0x_hex() in r["message"] for r in records)
    assert any(r["level"] == "DEBUG" for r in records)
