"""The ``azora_`` namespace: node facts and consensus data (commits, validator sets)."""
from __future__ import annotations

from typing import Any

from consensus.types import CommitCertificate
from node.backend import Backend
from node.rpc.hexcodec import data, quantity
from node.validators import ValidatorSetReader


class AzoraAPI:
    def __init__(self, backend: Backend, validator_sets: ValidatorSetReader | None = None) -> None:
        self._b = backend
        self._sets = validator_sets    # owned by the node wiring; RPC only reads

    def nodeInfo(self) -> dict[str, Any]:
        chain = self._b.chain
        head = chain.head
        return {
            "client": self._b.info.client_version,
            "chainId": quantity(chain.chain_id),
            "genesisHash": data(chain.genesis_hash),
            "head": {"number": quantity(head.block_number), "hash": data(head.hash)},
            "dev": self._b.info.dev,
            "contracts": chain.system_contracts,
            "consensus": self._consensus(),
            **self._b.info.extra.get("node_info", {}),
        }

    def _consensus(self) -> dict[str, Any] | None:
        host = self._b.info.extra.get("consensus")
        if host is None:
            return None
        return {"height": quantity(max(host.driver.height, 0)), "round": quantity(host.round),
                "validator": data(host.address) if host.signer else None}

    def getCommit(self, tag: Any) -> dict[str, Any] | None:
        """The commit certificate that finalised a block (null for genesis or unknown blocks)."""
        header = self._b.resolve_header(tag, allow_missing=True)
        if header is None:
            return None
        raw = self._b.chain.commit_of(header.hash)
        if raw is None:
            return None
        certificate = CommitCertificate.decode(raw)
        return {"height": quantity(certificate.height), "round": quantity(certificate.round),
                "blockHash": data(certificate.block_hash),
                "signatures": [{"validator": data(v), "signature": data(s)}
                               for v, s in certificate.signatures]}

    def validators(self, tag: Any = "latest") -> list[dict[str, str]] | None:
        """The validator set that signs the given block: ``[{address, power}]``."""
        header = self._b.resolve_header(tag, allow_missing=True)
        if header is None or self._sets is None or header.block_number == 0:
            return None if header is None else []
        validator_set = self._sets.read(header.block_number)
        return [{"address": data(v.address), "power": quantity(v.power)} for v in validator_set.validators]
