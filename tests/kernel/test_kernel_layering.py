"""kernel/ is the bottom layer: it imports none of node/, consensus/, p2p/, wallet/, oracle/."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

KERNEL = Path(__file__).resolve().parents[2] / "kernel"
FORBIDDEN = {"node", "consensus", "p2p", "wallet", "oracle", "trio", "libp2p"}


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("path", sorted(KERNEL.glob("*.py")), ids=lambda p: p.name)
def test_kernel_module_imports_no_higher_layer(path: Path) -> None:
    assert imported_roots(path) & FORBIDDEN == set()


def test_importing_the_kernel_loads_none_of_the_higher_layers() -> None:
    code = ("import sys, pkgutil, importlib, kernel\n"
            "for m in pkgutil.iter_modules(kernel.__path__): importlib.import_module('kernel.' + m.name)\n"
            f"print(sorted(r for r in {sorted(FORBIDDEN)!r} if r in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=KERNEL.parent)
    assert result.stdout.strip() == "[]"
