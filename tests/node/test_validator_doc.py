"""docs/validator.md §7 "Becoming a validator: from course to seat" runs as written: its ``sh``
blocks, in order, in one shell, against a fresh ``azora dev --balance 100000`` (the command the
page starts), with ``azora`` on PATH and the default keystore directory under a temporary HOME."""
from __future__ import annotations

import json
import re
import subprocess

from helpers import REPO, doc_shell_env
SECTION = "## 7. Becoming a validator: from course to seat"


def doc_commands() -> str:
    text = (REPO / "docs" / "validator.md").read_text()
    section = text[text.index(SECTION):]
    assert "$ azora dev --balance 100000" in section
    return "\n".join(re.findall(r"```sh\n(.*?)```", section, re.S))


def test_validator_doc_goes_from_the_course_to_an_active_seat(start_azora, tmp_path):
    dev = start_azora("dev", "--datadir", str(tmp_path / "chain"), "--balance", "100000")
    work = tmp_path / "work"
    work.mkdir()
    env = doc_shell_env(tmp_path, dev.url)
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", doc_commands()], cwd=work, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    assert ": not registered" in out
    assert "VALID: credential #" in out
    assert ": bonded: active from epoch 1" in out and "11000.0 AZR" in out
    assert ": active (power 11000) in epoch 1" in out
    shown = json.loads(out[out.rindex('{"address"'):])
    assert (shown["state"], shown["power"], shown["bond"]) == ("active", "11000", "11000.0")
    members = [v["address"].lower() for v in dev.rpc("azora_validators")["result"]]
    assert shown["address"].lower() in members
