"""consensus/ does no I/O of its own: it must not import trio, p2p, node or plyvel."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CONSENSUS = Path(__file__).resolve().parents[2] / "consensus"
FORBIDDEN = {"trio", "p2p", "node", "plyvel", "libp2p", "oracle", "wallet"}
# The pure engine may not even touch the file system or clocks; only sign_guard stores a file.
PURE_MODULES = {"types", "validator_set", "signing", "commit", "vote_keeper", "state_machine", "driver", "events",
                "config", "abc", "block_rules", "wire"}
IMPURE = {"os", "time", "socket", "threading", "asyncio", "tempfile", "random"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_consensus_module_imports_io_layers() -> None:
    offenders = {p.name: imported_roots(p) & FORBIDDEN for p in CONSENSUS.glob("*.py")}
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_engine_modules_import_no_clock_file_or_network_modules() -> None:
    offenders = {p.stem: imported_roots(p) & IMPURE for p in CONSENSUS.glob("*.py") if p.stem in PURE_MODULES}
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_importing_consensus_loads_none_of_the_io_layers() -> None:
    code = ("import sys, pkgutil, importlib, consensus\n"
            "for m in pkgutil.iter_modules(consensus.__path__): importlib.import_module('consensus.' + m.name)\n"
            f"print(sorted(r for r in {sorted(FORBIDDEN)!r} if r in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=CONSENSUS.parent)
    assert result.stdout.strip() == "[]"


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
    graph = {p.stem: consensus_imports(p) for p in CONSENSUS.glob("*.py")}

    def reaches(start: str, target: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == target or (nxt not in seen and reaches(nxt, target, seen | {nxt})):
                return True
        return False

    assert sorted(m for m in graph if reaches(m, m, {m})) == []
