"""The committed artifacts are exactly what the sources compile to."""

from __future__ import annotations

import json

from contracts import build


def test_committed_artifacts_equal_a_fresh_compile() -> None:
    fresh = build.compile_all()
    committed = {p.stem for p in build.BUILD_DIR.glob("*.json")}
    assert committed == set(fresh), "run `python -m contracts.build`"
    for name, artifact in fresh.items():
        on_disk = (build.BUILD_DIR / f"{name}.json").read_text()
        assert on_disk == build.dump_artifact(artifact), f"{name}.json is stale"


def test_load_artifact_returns_abi_and_hex_bytecode() -> None:
    artifact = build.load_artifact("AZR")
    assert artifact["compiler"] == "vyper 0.4.3"
    assert artifact["bytecode"].startswith("0x") and len(artifact["bytecode"]) > 100
    assert artifact["deployedBytecode"].startswith("0x")
    names = {item.get("name") for item in artifact["abi"]}
    assert {"deposit", "withdraw", "delegateBySig", "getPastVotes", "permit"} <= names
    artifact["abi"].clear()  # callers get their own copy
    assert build.load_artifact("AZR")["abi"]


def test_every_contract_is_built() -> None:
    expected = {"AZR", "AToken", "ATokenFactory", "Credentials", "ProofOfKnowledge", "Escrow",
                "Governor", "Timelock", "ValidatorRegistry"}
    assert expected <= {p.stem for p in build.BUILD_DIR.glob("*.json")}
    json.loads((build.BUILD_DIR / "Governor.json").read_text())


def test_every_contract_fits_the_code_size_limits() -> None:
    for path in build.BUILD_DIR.glob("*.json"):
        artifact = json.loads(path.read_text())
        assert len(bytes.fromhex(artifact["deployedBytecode"][2:])) <= 24_576, path.stem  # EIP-170
        assert len(bytes.fromhex(artifact["bytecode"][2:])) <= 49_152, path.stem  # EIP-3860
