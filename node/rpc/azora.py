"""The ``azora_`` namespace: node facts and consensus data (commits, validator sets)."""
from __future__ import annotations

from typing import Any

from consensus.types import CommitCertificate
from node.backend import Backend
from node.context import NodeContext
from node.rpc.hexcodec import data, quantity


class AzoraAPI:
    def __init__(self, backend: Backend, context: NodeContext) -> None:
        self._b = backend
        self._node = context
        self._sets = context.validator_sets    # owned by the node wiring; RPC only reads

    def nodeInfo(self) -> dict[str, Any]:
        chain = self._b.view
        head = chain.head
        info: dict[str, Any] = {
            "client": self._node.client_version,
            "chainId": quantity(chain.chain_id),
            "genesisHash": data(chain.genesis_hash),
            "head": {"number": quantity(head.block_number), "hash": data(head.hash)},
            "dev": self._node.dev,
            "contracts": chain.system_contracts,
            "consensus": self._consensus(),
        }
        identity = self._node.identity
        if identity is not None:
            info["validator"] = identity.validator
            info["p2p"] = {"peerId": identity.peer_id, "listen": list(identity.listen)}
        return info

    def _consensus(self) -> dict[str, Any] | None:
        if self._node.consensus is None:
            return None
        status = self._node.consensus.status()
        info: dict[str, Any] = {"height": quantity(status.height), "round": quantity(status.round),
                                "validator": data(status.validator) if status.validator is not None else None}
        if self._node.standing is not None:
            # A key outside the set runs as a full node: say so, and why.
            standing = self._node.standing.read()
            info.update({"inActiveSet": standing.in_set, "power": quantity(standing.power),
                         "standing": standing.state, "standingText": standing.describe()})
        return info

    def getCommit(self, tag: Any) -> dict[str, Any] | None:
        """The commit certificate that finalised a block (null for genesis or unknown blocks)."""
        header = self._b.resolve_header(tag, allow_missing=True)
        if header is None:
            return None
        raw = self._b.view.commit_of(header.hash)
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
