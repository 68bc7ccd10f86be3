"""A JavaScript client's section of docs/dapp.md, run as written against a real ``azora dev``.

The section's ``js`` blocks are files: the first line names the path (``// ~/ethers-demo/deploy.mjs``)
and the reader saves the block there; its ``sh`` blocks run, in order, in one shell, from a
directory that stands for the repository root (``.venv`` is this interpreter's environment,
``tests`` the checkout's), with ``azora`` on PATH, a HOME of its own and ``$RPC`` naming the node.
npm shares its download cache between runs, so the doc's ``npm install`` is quick after the first.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from client_venvs import npm_env
from helpers import REPO, doc_shell_env

DOC = REPO / "docs" / "dapp.md"


def doc_section(heading: str, path: Path = DOC) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level."""
    text = path.read_text()
    level = heading.split(" ", 1)[0]
    start = text.index(heading + "\n")
    following = re.compile(rf"^#{{1,{len(level)}}} ", re.M).search(text, start + len(heading))
    return text[start:following.start() if following else len(text)]


def section_files(section: str) -> dict[str, str]:
    """``{path as written: content}`` of the section's ``js`` blocks."""
    files = {}
    for block in re.findall(r"```js\n(.*?)```", section, re.S):
        first = block.split("\n", 1)[0]
        assert first.startswith("// "), f"a js block must name its file on its first line: {first!r}"
        files[first.removeprefix("// ").strip()] = block
    return files


def run_doc_section(heading: str, rpc_url: str, tmp_path: Path) -> str:
    """Run the section as a reader would; returns what its commands printed."""
    section = doc_section(heading)
    env = npm_env(doc_shell_env(tmp_path, rpc_url))
    home = Path(env["HOME"])
    for name, content in section_files(section).items():
        target = Path(name.replace("~", str(home), 1))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    root = tmp_path / "repository"
    root.mkdir()
    (root / ".venv").symlink_to(Path(sys.prefix))
    (root / "tests").symlink_to(REPO / "tests")
    script = "\n".join(re.findall(r"```sh\n(.*?)```", section, re.S))
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=root, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run.stdout
