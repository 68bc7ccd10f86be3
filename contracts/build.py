"""Compile the Azora system contracts to JSON artifacts.

``python -m contracts.build`` compiles every ``contracts/*.vy`` with Vyper 0.4.3 and writes
``contracts/build/<Name>.json`` = ``{"abi", "bytecode", "deployedBytecode", "compiler",
"storageLayout"}``. ``storageLayout`` is the compiler's storage layout (``vyper -f layout``,
its ``storage_layout`` part): each variable's ``slot`` and ``n_slots``, those of an
``initializes:``d module nested under its name. Programs that read a contract's storage
directly (the oracle reads ``ProofOfKnowledge.claimOf`` with ``eth_getStorageAt``) take the
slots from here, never from a count of the declarations, and need no compiler at run time.

The output is a pure function of the sources: the search paths are fixed (this folder, then
the folder holding the installed ``snekmate`` package) and ``sys.path`` is not consulted, so
the same sources give byte-identical artifacts on every machine. The genesis hash depends on
these bytes, which is why ``tests/contracts/test_build.py`` checks that the committed
artifacts equal a fresh compile.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent
BUILD_DIR = CONTRACTS_DIR / "build"
COMPILER = "vyper 0.4.3"


def snekmate_search_path() -> Path:
    """Return the directory that contains the ``snekmate`` package (its parent)."""
    import importlib.util

    # snekmate ships no __init__.py: it is a namespace package, located through its spec
    spec = importlib.util.find_spec("snekmate")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("snekmate is not installed")
    return Path(list(spec.submodule_search_locations)[0]).resolve().parent


def search_paths() -> list[str]:
    """Vyper import search paths: the contracts folder first, then snekmate's parent."""
    return [str(CONTRACTS_DIR), str(snekmate_search_path())]


def contract_sources() -> list[Path]:
    """Every top-level contract source, sorted by name so the build order is stable."""
    return sorted(CONTRACTS_DIR.glob("*.vy"))


def compile_source(path: Path) -> dict[str, Any]:
    """Compile one contract and return its artifact dictionary."""
    import vyper
    from vyper.cli.vyper_compile import compile_files

    if not vyper.__version__.startswith("0.4.3"):
        raise RuntimeError(f"contracts need vyper 0.4.3, found {vyper.__version__}")
    # compile relative to the contracts folder so no absolute path can leak into the output
    out = compile_files(
        [path.name],
        ("abi", "bytecode", "bytecode_runtime", "layout"),
        paths=search_paths(),
        include_sys_path=False,
    )
    (result,) = out.values()
    return {
        "abi": result["abi"],
        "bytecode": result["bytecode"],
        "deployedBytecode": result["bytecode_runtime"],
        "compiler": COMPILER,
        "storageLayout": result["layout"].get("storage_layout", {}),
    }


def compile_all() -> dict[str, dict[str, Any]]:
    """Compile every contract; return ``{name: artifact}`` (nothing is written)."""
    import os

    cwd = os.getcwd()
    os.chdir(CONTRACTS_DIR)
    try:
        return {path.stem: compile_source(path) for path in contract_sources()}
    finally:
        os.chdir(cwd)


def dump_artifact(artifact: dict[str, Any]) -> str:
    """Serialise an artifact canonically (sorted keys, fixed indent, trailing newline)."""
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


def write_all(artifacts: dict[str, dict[str, Any]]) -> list[Path]:
    """Write artifacts to ``contracts/build`` and drop stale ones; return the written paths."""
    BUILD_DIR.mkdir(exist_ok=True)
    written = []
    for name, artifact in artifacts.items():
        target = BUILD_DIR / f"{name}.json"
        target.write_text(dump_artifact(artifact))
        written.append(target)
    for stale in BUILD_DIR.glob("*.json"):
        if stale.stem not in artifacts:
            stale.unlink()
    _load_cached.cache_clear()
    return written


@lru_cache(maxsize=None)
def _load_cached(name: str) -> str:
    path = BUILD_DIR / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"no artifact {path}: run `python -m contracts.build`")
    return path.read_text()


def load_artifact(name: str) -> dict[str, Any]:
    """Return the committed artifact of contract ``name`` (``abi``, ``bytecode`` hex, ...).

    A fresh dictionary is returned on every call, so callers may mutate it freely.
    """
    return json.loads(_load_cached(name))


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m contracts.build``."""
    artifacts = compile_all()
    for path in write_all(artifacts):
        print(f"wrote {path.relative_to(CONTRACTS_DIR.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
