"""``azora testnet run --log-format json --log-level debug`` passes its logging flags on to the
``azora node run`` processes it starts: each node's node.log is JSON, DEBUG records included."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from helpers import AZORA, REPO, free_port_range

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL)")


def json_records(log: Path) -> list[dict]:
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_testnet_run_passes_its_log_flags_to_its_nodes(tmp_path: Path):
    out = tmp_path / "net"
    init = subprocess.run([*AZORA, "testnet", "init", "--validators", "1", "--out", str(out),
                           "--base-p2p-port", str(free_port_range(2)), "--base-http-port", str(free_port_range(2)),
                           "--block-interval", "0.2"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    logs = [out / "validator0" / "node.log"]
    with open(tmp_path / "testnet.out", "wb") as screen:
        # its own process group: whatever is left of it (the nodes too) goes at the end
        run = subprocess.Popen([*AZORA, "testnet", "run", str(out), "--log-format", "json", "--log-level", "debug"],
                               cwd=REPO, stdout=screen, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.time() + 120
            while time.time() < deadline and not all(
                    any(r["message"].startswith("committed #") for r in json_records(log)) for log in logs):
                assert run.poll() is None, (tmp_path / "testnet.out").read_text()[-3000:]
                time.sleep(0.5)
            run.send_signal(signal.SIGTERM)
            assert run.wait(60) == 0
        finally:
            try:
                os.killpg(run.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for log in logs:
        text_records = [line for line in log.read_text(errors="replace").splitlines() if TEXT_LINE.match(line)]
        assert not text_records, (log, text_records[:3])      # its only other line is the banner
        records = json_records(log)
        assert any(r["message"].startswith("committed #") for r in records), log
        assert any(r["level"] == "DEBUG" for r in records), log
