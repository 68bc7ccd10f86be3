"""node/rpc/ reads the chain only through the kernel's read-only view (reth's reader traits):
no namespace imports LevelDB, tries or the writable chain, reaches into a private attribute
of another object (py-evm's, the executor's), or calls anything that writes the chain."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kernel.view import ChainView

RPC = Path(__file__).resolve().parents[2] / "node" / "rpc"
FORBIDDEN_MODULES = {"plyvel", "trie", "kernel.db", "kernel.chain", "eth.db"}
# What changes the chain or a state: the writable Chain's methods and py-evm's state setters.
WRITERS = {"chain", "db", "build_block", "execute_transactions", "execute_block", "import_block",
           "commit_block", "rewind_to", "set_aux", "set_commit", "persist", "set_balance", "set_nonce",
           "set_code", "set_storage", "delete_storage", "delete_account", "vm_at"}
RPC_MODULES = sorted(RPC.glob("*.py"))


def imported_modules(tree: ast.AST) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def is_forbidden(module: str) -> bool:
    return any(module == bad or module.startswith(bad + ".") for bad in FORBIDDEN_MODULES)


def foreign_private_attributes(tree: ast.AST) -> list[str]:
    """``x._name`` where x is not ``self``/``cls``: another object's private attribute."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def writer_attributes(tree: ast.AST) -> list[str]:
    return [f"line {node.lineno}: {ast.unparse(node)}" for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in WRITERS]


@pytest.mark.parametrize("path", RPC_MODULES, ids=lambda p: p.name)
def test_rpc_module_imports_no_database_trie_or_writable_chain(path: Path) -> None:
    assert {m for m in imported_modules(ast.parse(path.read_text())) if is_forbidden(m)} == set()


@pytest.mark.parametrize("path", RPC_MODULES, ids=lambda p: p.name)
def test_rpc_module_touches_no_private_attribute_of_another_object(path: Path) -> None:
    assert foreign_private_attributes(ast.parse(path.read_text())) == []


@pytest.mark.parametrize("path", RPC_MODULES, ids=lambda p: p.name)
def test_rpc_module_calls_nothing_that_writes_the_chain(path: Path) -> None:
    assert writer_attributes(ast.parse(path.read_text())) == []


def test_the_chain_view_has_no_writer() -> None:
    assert {name for name in dir(ChainView) if name in WRITERS} == set()


def test_the_layering_checks_catch_what_they_forbid() -> None:
    offending = ast.parse("import plyvel\nfrom trie import HexaryTrie\n"
                          "x = backend.executor._run(vm)\nbackend.chain.set_aux(k, v)\n")
    assert {m for m in imported_modules(offending) if is_forbidden(m)} == {"plyvel", "trie"}
    assert foreign_private_attributes(offending) == ["line 3: backend.executor._run"]
    assert len(writer_attributes(offending)) == 2
