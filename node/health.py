"""GET /health on the RPC port: 200 when the node is synced and, for a validator, signing.

Synced: no range sync in progress and, for a networked full node, at least one peer to learn
the head from. Signing: the validator key is in the active set of the next height.

Load balancers and orchestrators read the status code; the JSON body says why. Every fact comes
from the node's :class:`~node.context.NodeContext` status sources, read when asked.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import trio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from node.context import ConsensusStatus, NodeContext, SyncStatus


@dataclass(frozen=True)
class Health:
    """The answer to GET /health: healthy when ``reasons`` is empty."""

    head: int
    syncing: bool
    peers: int | None              # None on a dev chain (no p2p)
    validator: str | None
    reasons: tuple[str, ...] = field(default=())

    @property
    def status_code(self) -> int:
        return 200 if not self.reasons else 503

    def as_json(self) -> dict[str, Any]:
        return {"status": "ok" if not self.reasons else "unhealthy", "head": self.head,
                "syncing": self.syncing, "peers": self.peers, "validator": self.validator, "reasons": list(self.reasons)}


def get_sync_reason(sync: SyncStatus | None) -> str | None:
    """Why a node in range sync is not ready, or None when it is level with its peers."""
    if sync is None:
        return None
    return f"syncing: head {sync.current_block} of {sync.highest_block}"


def get_peers_reason(peers: int | None, is_validator: bool) -> str | None:
    """Why a networked full node cannot claim to be synced: it learns the head from peers.

    A validator is exempt: a lone validator with all the power is a whole (test) network.
    """
    if peers is None or is_validator or peers > 0:
        return None
    return "no peers: cannot tell whether the head is current"


def get_signing_reason(consensus: ConsensusStatus | None, active: set[bytes] | None) -> str | None:
    """Why a validator node is not signing, or None (also for a node without a validator key)."""
    if consensus is None or consensus.validator is None:
        return None
    if active is not None and consensus.validator not in active:
        return f"validator 0x{consensus.validator.hex()} is not in the active set of height {consensus.height}"
    return None


def compute_health(context: NodeContext, head: int) -> Health:
    """Read the context's sources and judge them (blocking: the validator set may be derived)."""
    sync = context.sync.sync_status() if context.sync is not None else None
    consensus = context.consensus.status() if context.consensus is not None else None
    active: set[bytes] | None = None
    if consensus is not None and consensus.validator is not None and context.validator_sets is not None:
        active = {v.address for v in context.validator_sets.read(head + 1).validators}
    peers = context.peers.peer_count() if context.peers is not None and not context.dev else None
    is_validator = consensus is not None and consensus.validator is not None
    reasons = tuple(r for r in (get_sync_reason(sync), get_peers_reason(peers, is_validator),
                                get_signing_reason(consensus, active)) if r)
    validator = "0x" + consensus.validator.hex() if consensus and consensus.validator else None
    return Health(head=head, syncing=sync is not None, peers=peers, validator=validator, reasons=reasons)


def health_route(context: NodeContext, head_number: Callable[[], int]) -> Route:
    """The /health route, judged in a worker thread (deriving a validator set executes calls)."""
    async def health_endpoint(request: Request) -> Response:
        health = await trio.to_thread.run_sync(lambda: compute_health(context, head_number()))
        return JSONResponse(health.as_json(), status_code=health.status_code)

    return Route("/health", health_endpoint, methods=["GET"])
