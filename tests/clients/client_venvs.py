"""Client environments built from pinned versions and cached outside the clone.

The Python clients (ape, brownie) pin versions incompatible with the node's own environment,
so each gets its own venv; the JavaScript clients (ethers, viem) get a ``node_modules`` from
the npm registry. Each lives under ``~/.cache/azora/clients`` (or ``AZORA_CLIENT_CACHE``),
keyed by a hash of its pin files: later runs on the same machine reuse it, a changed pin builds
anew.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Mapping, Sequence

CACHE_ROOT = Path(os.environ.get("AZORA_CLIENT_CACHE", Path.home() / ".cache" / "azora" / "clients"))


def make_venv(path: Path, requirements: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    subprocess.run([str(path / "bin" / "pip"), "install", "--disable-pip-version-check", "-q",
                    "-r", str(requirements)], check=True, timeout=900)


def cached_build(name: str, pins: Sequence[Path], build: Callable[[Path], None]) -> Path:
    """``CACHE_ROOT/<name>-<hash of pins>``, made by ``build(path)`` on first use.

    A venv cannot be renamed after it is built (its scripts name their interpreter by absolute
    path), so it is built in place under a file lock and marked complete last: a directory
    without the marker is a half-built leftover of an interrupted run and is rebuilt.
    """
    content = b"".join(p.read_bytes() for p in pins)
    key = hashlib.sha256(content).hexdigest()[:16]
    target = CACHE_ROOT / f"{name}-{key}"
    marker = target / ".azora-complete"
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with open(CACHE_ROOT / f"{name}-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)      # parallel workers wait for one build
        if not marker.exists():
            shutil.rmtree(target, ignore_errors=True)
            build(target)
            marker.write_bytes(content)
    return target


NPM_CACHE = CACHE_ROOT / "npm-cache"


def npm_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """npm with a download cache shared by every run (a doc's ``npm install`` under a temporary
    HOME is then quick and asks the registry only for what it lacks), and no audit, fund or
    update-notifier requests."""
    return {**(os.environ if base is None else base), "npm_config_cache": str(NPM_CACHE),
            "npm_config_prefer_offline": "true", "npm_config_audit": "false",
            "npm_config_fund": "false", "npm_config_update_notifier": "false"}


def npm_install(path: Path, package_json: Path) -> None:
    npm = shutil.which("npm")
    assert npm and shutil.which("node"), "Node.js and npm are needed for the JavaScript client tests"
    path.mkdir(parents=True)
    shutil.copy(package_json, path / "package.json")
    subprocess.run([npm, "install", "--silent"], cwd=path, env=npm_env(), check=True, timeout=600)


def node_modules(name: str, package_json: Path) -> Path:
    """The cached ``node_modules`` of ``package_json``'s pinned dependencies; a script run
    from a directory holding a symlink to it imports them by name."""
    return cached_build(name, [package_json], lambda path: npm_install(path, package_json)) / "node_modules"
