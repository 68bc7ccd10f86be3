"""Dependencies point down only (docs/architecture.md): each layer's modules are read for
their imports, and importing a low layer is checked to load none of the higher ones.

kernel/ is the bottom; consensus/ does no I/O of its own; p2p/ moves opaque bytes; wallet/ and
oracle/ are clients of a node over JSON-RPC; node/ is where the layers meet, nothing imports it.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# layer -> the top-level packages none of its modules may import
FORBIDDEN: dict[str, frozenset[str]] = {
    "kernel": frozenset({"node", "consensus", "p2p", "wallet", "oracle", "trio", "libp2p"}),
    "consensus": frozenset({"node", "p2p", "wallet", "oracle", "trio", "libp2p", "plyvel"}),
    "p2p": frozenset({"node", "consensus", "wallet", "oracle"}),
    "wallet": frozenset({"node", "consensus", "p2p", "oracle"}),
    "oracle": frozenset({"node", "consensus"}),
}
# The pure engine may not even touch the file system or clocks; only sign_guard stores a file.
PURE_CONSENSUS = {"types", "validator_set", "signing", "commit", "vote_keeper", "state_machine", "driver",
                  "events", "config", "abc", "block_rules", "wire"}
IMPURE = frozenset({"os", "time", "socket", "threading", "asyncio", "tempfile", "random"})


def imported_roots(path: Path) -> set[str]:
    """The top-level packages ``path`` imports by absolute name (type-checking imports too)."""
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def modules_of(layer: str) -> list[Path]:
    return sorted((ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_no_module_imports_a_higher_layer(layer: str) -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(imported_roots(p) & FORBIDDEN[layer]) for p in modules_of(layer)}
    assert {path: bad for path, bad in offenders.items() if bad} == {}


@pytest.mark.parametrize("layer", ["kernel", "consensus"])
def test_importing_a_low_layer_loads_none_of_the_higher_ones(layer: str) -> None:
    forbidden = sorted(FORBIDDEN[layer])
    code = (f"import sys, pkgutil, importlib, {layer}\n"
            f"for m in pkgutil.iter_modules({layer}.__path__): importlib.import_module('{layer}.' + m.name)\n"
            f"print(sorted(r for r in {forbidden!r} if r in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert result.stdout.strip() == "[]"


def test_consensus_engine_modules_import_no_clock_file_or_network_modules() -> None:
    offenders = {p.stem: imported_roots(p) & IMPURE for p in modules_of("consensus") if p.stem in PURE_CONSENSUS}
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def consensus_imports(path: Path) -> set[str]:
    """The consensus modules ``path`` imports, counting imports made only for type checking."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("consensus."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "consensus":
            found |= {alias.name for alias in node.names}
    return found


def test_consensus_modules_import_no_circle() -> None:
    graph = {p.stem: consensus_imports(p) for p in modules_of("consensus")}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt})):
                return True
        return False

    assert sorted(m for m in graph if reaches(m, m, {m})) == []


def test_the_rule_fails_on_an_import_of_a_higher_layer(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom node.rpc import eth\nif True:\n    import trio.lowlevel\nfrom . import x\n")
    assert imported_roots(module) == {"os", "node", "trio"}
