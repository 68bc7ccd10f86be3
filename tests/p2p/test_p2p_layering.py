"""p2p/ imports neither node/ nor oracle/ (DESIGN.md: dependencies point down only)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

P2P_DIR = Path(__file__).resolve().parents[2] / "p2p"
FORBIDDEN = {"node", "oracle", "wallet", "consensus"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.timeout(10)
@pytest.mark.parametrize("path", sorted(P2P_DIR.glob("*.py")), ids=lambda p: p.name)
def test_p2p_module_imports_no_higher_layer(path: Path) -> None:
    assert imported_roots(path) & FORBIDDEN == set()
