"""Helpers shared by the contract tests: deployers, signing keys, plan replay."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boa
from eth_keys import keys
from eth_utils import keccak

from contracts import deployment as d

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts"
MOCKS = Path(__file__).resolve().parent / "mocks"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ETHER = 10**18


def load_partial(name: str) -> Any:
    """A titanoboa deployer for contracts/<name>.vy (compiled once, cached by boa)."""
    return boa.load_partial(str(CONTRACTS / f"{name}.vy"))


def load_mock(name: str) -> Any:
    """A titanoboa deployer for tests/contracts/mocks/<name>.vy."""
    return boa.load_partial(str(MOCKS / f"{name}.vy"))


@dataclass(frozen=True)
class Signer:
    """A secp256k1 key that signs digests as 65-byte r||s||v with v in {27, 28}."""

    key: keys.PrivateKey

    @classmethod
    def from_seed(cls, seed: str) -> "Signer":
        return cls(keys.PrivateKey(keccak(text=seed)))

    @property
    def address(self) -> str:
        return self.key.public_key.to_checksum_address()

    def sign(self, digest: bytes) -> bytes:
        sig = self.key.sign_msg_hash(digest)
        return sig.r.to_bytes(32, "big") + sig.s.to_bytes(32, "big") + bytes([sig.v + 27])

    def sign_vrs(self, digest: bytes) -> tuple[int, bytes, bytes]:
        sig = self.sign(digest)
        return sig[64], sig[:32], sig[32:64]


def malleate(signature: bytes) -> bytes:
    """The other valid encoding of a signature: s -> n - s and the parity flipped (high-s)."""
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    return r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])


def sorted_signers(signers: list[Signer]) -> list[Signer]:
    return sorted(signers, key=lambda s: int(s.address, 16))




def execute_plan(plan: list[d.Step], deployer: str) -> dict[str, Any]:
    """Run every step from `deployer`; return the recorded values (addresses, results)."""
    values: dict[str, Any] = {}
    for step in plan:
        to, data, value = d.encode_step(step, values, plan)
        if to is None:
            address, _ = boa.env.deploy_code(sender=deployer, bytecode=data, value=value)
            d.record_result(step, values, plan, address=str(address))
        else:
            computation = boa.env.raw_call(to, sender=deployer, data=data, value=value)
            d.record_result(step, values, plan, output=computation.output)
    return values


def attach(values: dict[str, Any]) -> dict[str, Any]:
    """titanoboa handles on the deployed system contracts and a-tokens."""
    handles = {name: load_partial(name).at(values[name]) for name in d.SYSTEM_CONTRACTS}
    token = load_partial("AToken")
    for key, value in values.items():
        if isinstance(value, str) and key.startswith("a") and key[1:].isupper():
            handles[key] = token.at(value)
    return handles


DOMAIN_TYPEHASH = keccak(
    text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)


def domain_separator(name: str, version: str, chain_id: int, contract: str) -> bytes:
    """EIP-712 domain separator computed off chain, independently of the contracts."""
    from eth_abi import encode

    return keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [DOMAIN_TYPEHASH, keccak(text=name), keccak(text=version), chain_id, contract],
        )
    )


def typed_digest(name: str, version: str, contract: str, struct_hash: bytes, chain_id: int | None = None) -> bytes:
    """keccak256(0x1901 || domainSeparator || structHash)."""
    if chain_id is None:
        chain_id = chain_id_now()
    return keccak(b"\x19\x01" + domain_separator(name, version, chain_id, contract) + struct_hash)


def struct_hash(type_string: str, types: list[str], values: list[Any]) -> bytes:
    from eth_abi import encode

    return keccak(encode(["bytes32", *types], [keccak(text=type_string), *values]))


def chain_id_now() -> int:
    return boa.env.evm.patch.chain_id


def mine(blocks: int = 1) -> None:
    """Advance the block number (and time, 12 s per block)."""
    boa.env.time_travel(blocks=blocks)
