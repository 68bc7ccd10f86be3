"""docs/dao.md runs as written: its ```bash blocks, in order, against a fresh ``azora dev``, take
a proposal from a file to Executed (the voting period becomes 30) and cancel a template's."""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from web3 import Web3

from contracts.build import load_artifact

REPO = Path(__file__).resolve().parents[2]


def doc_script(path: Path) -> str:
    return "\n".join(re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S))


def test_dao_doc_walkthrough_executes_a_proposal(dev_node, tmp_path):
    # `azora` as an installed console script would run it: this interpreter, this checkout
    prelude = (f"set -euo pipefail\nazora() {{ {shlex.quote(sys.executable)} -m node.cli \"$@\"; }}\n"
               f"export PYTHONPATH={shlex.quote(str(REPO))}${{PYTHONPATH:+:$PYTHONPATH}}\n")
    run = subprocess.run(["bash", "-c", prelude + doc_script(REPO / "docs" / "dao.md")], cwd=tmp_path,
                         capture_output=True, text=True, timeout=900, env={**os.environ, "RPC": dev_node.url})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert "state     Executed" in run.stdout
    listed = run.stdout.strip().splitlines()[-2:]          # the closing `azora dao list`
    assert " Executed " in listed[0] and " Canceled " in listed[1], listed
    w3 = Web3(Web3.HTTPProvider(dev_node.url))
    address = dev_node.rpc("azora_nodeInfo")["result"]["contracts"]["Governor"]
    governor = w3.eth.contract(address=address, abi=load_artifact("Governor")["abi"])
    assert governor.functions.votingPeriod().call() == 30
    ballot = json.loads((tmp_path / "carol-ballot.json").read_text())
    assert ballot["voter"] == "0x90F79bf6EB2c4f870365E785982E1f101E93b906" and ballot["support"] == "abstain"
