"""What a JSON-RPC namespace and the metrics endpoint may read of the running node.

Each service exposes a small status (a frozen value, read when asked) through a Protocol, so a
namespace depends on what it reads and not on the service: the consensus host's height and
round, the sync service's progress, the p2p host's peers, and the node's own facts (client
version, dev mode, managed accounts, coinbase, network identity). Nothing here writes.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Mapping, Protocol

if TYPE_CHECKING:
    from node.accounts import ManagedAccounts
    from node.validators import StandingTracker, ValidatorSetReader
    from p2p import P2PService

CLIENT_VERSION = "Azora/v0.1.0/python"


@dataclass(frozen=True)
class ConsensusStatus:
    """Where the engine is: the height it is deciding, its round and step, who it signs as."""

    height: int
    round: int
    step: str                      # "propose" | "prevote" | "precommit" | "commit"
    validator: bytes | None        # None for a node without a validator key
    evidence: int                  # equivocations seen since start


class ConsensusStatusSource(Protocol):
    def status(self) -> ConsensusStatus: ...


@dataclass(frozen=True)
class SyncStatus:
    """A range sync in progress (geth's eth_syncing object): blocks are heights."""

    starting_block: int            # our head when this sync began
    current_block: int             # our head now
    highest_block: int             # the best head a peer announced


class SyncStatusSource(Protocol):
    def sync_status(self) -> SyncStatus | None:
        """The sync in progress, or None when the node is level with its peers."""


class PeerStatusSource(Protocol):
    def peer_count(self) -> int: ...

    def counters(self) -> Mapping[str, int]:
        """Event counters of the p2p host (gossip received, rejected, requests served...)."""


@dataclass(frozen=True)
class NetworkIdentity:
    """How the node appears on the network (azora_nodeInfo)."""

    validator: str | None          # checksummed address of the validator key, if any
    peer_id: str
    listen: tuple[str, ...]        # multiaddrs


@dataclass(frozen=True)
class NodeContext:
    """The services a namespace may read, passed to each namespace explicitly."""

    client_version: str = CLIENT_VERSION
    dev: bool = False
    consensus: ConsensusStatusSource | None = None
    sync: SyncStatusSource | None = None
    peers: PeerStatusSource | None = None
    identity: NetworkIdentity | None = None
    accounts: "ManagedAccounts | None" = None
    coinbase: bytes | None = None
    validator_sets: "ValidatorSetReader | None" = None
    standing: "StandingTracker | None" = None     # a validator node's key: where it stands


class P2PPeers:
    """The p2p host's peers and counters as a :class:`PeerStatusSource`."""

    def __init__(self, p2p: "P2PService") -> None:
        self._p2p = p2p

    def peer_count(self) -> int:
        return len(self._p2p.connected_peers())

    def counters(self) -> dict[str, int]:
        return {name: value for name, value in asdict(self._p2p.metrics).items() if isinstance(value, int)}
