"""What every RPC namespace reads and writes through: the chain, the pool and the node's hooks.

RPC code never touches LevelDB or the writable chain: it reads through ``view`` (the kernel's
read-only :class:`~kernel.view.ChainView`) and submits transactions through this backend.
"""
from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Literal, overload

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI, SignedTransactionAPI, TransactionBuilderAPI
from eth.exceptions import HeaderNotFound
from eth_typing import Address
from trie.hexary import HexaryTrie

from kernel.blobs import BlobSidecar, BlobSidecarError, blob_count, split_network_form, verify_sidecar
from kernel.abc import PendingBlockView
from kernel.chain import Chain
from kernel.forks import max_blobs_per_block
from kernel.view import ChainView
from node.chainio import system_calls_for_chain as system_calls_of
from node.admission import TxDecoder, builder_path, decoded_ahead, take_decoded_ahead
from node.txdecode import decode_signed
from node.execution import Executor
from node.config import RpcLimits
from node.timings import NodeTimings
from node.mempool import (
    InvalidTransaction, MalformedTransaction, PoolLimits, TxPool, TxRejected, UnwantedTransaction,
)
from node.rpc.errors import RpcError, invalid_params, server_error
from node.rpc.hexcodec import parse_hash, parse_quantity

MAX_BLOCK_NUMBER = 2**63 - 1    # geth's rpc.BlockNumber is an int64
MAX_KEPT_SIDECARS = 1024        # ~128 MiB of blobs at most
MAX_PENDING_TRANSACTIONS = 1000   # the pending block is rebuilt per request: bound its cost
ZERO_ADDRESS = b"\0" * 20


class _HeadAccounts:
    """Account reads at one head for the pool (nonce, balance).

    Built once per head and shared by every RPC thread admitting transactions: building a
    state per transaction cost about a tenth of the node's time under load. The lock
    serialises reads because py-evm's account cache is not thread-safe.
    """

    def __init__(self, chain: Chain, head: BlockHeaderAPI) -> None:
        self.head_hash = head.hash
        self._state = chain.state_at(head)
        self._lock = threading.Lock()

    def get_nonce(self, address: Address) -> int:
        with self._lock:
            return self._state.get_nonce(address)

    def get_balance(self, address: Address) -> int:
        with self._lock:
            return self._state.get_balance(address)


class Backend:
    def __init__(self, chain: Chain, *, pool: TxPool | None = None,
                 rpc_limits: RpcLimits = RpcLimits(), refuse_below_base_fee: bool = False) -> None:
        """``refuse_below_base_fee``: a dev chain's admission (anvil's): fee caps below the next
        block's base fee are refused instead of kept until the base fee falls."""
        self.chain = chain
        # What clients may ask: the view's executions obey its timeout and gas cap, the
        # namespaces read the log, filter and subscription bounds here.
        self.rpc_limits = rpc_limits
        # Traces replay each block after its consensus system calls (epoch rewards); the
        # validator sets they need are read on the first trace, not at start.
        rules = functools.cache(lambda: system_calls_of(chain))
        self.view = ChainView(chain, rpc_limits.call_limits, system_calls_for=lambda block: rules()(block))
        accepts_blobs = "blobSchedule" in chain.genesis.raw.get("config", {})
        self.pool = pool or TxPool(chain.chain_id, PoolLimits(block_gas_limit=chain.head.gas_limit,
                                                              accepts_blobs=accepts_blobs,
                                                              refuse_below_base_fee=refuse_below_base_fee))
        # Blob transactions' sidecars (blobs, commitments, proofs) by transaction hash, kept
        # beside the pool as geth's blob pool keeps them; blocks carry none.
        self.blob_sidecars: OrderedDict[bytes, BlobSidecar] = OrderedDict()
        self.executor = Executor(chain)
        self.timings = NodeTimings()   # latencies for /metrics, observed where they happen
        # Called after each transaction enters the pool, whatever its source.
        self.on_tx_added: list[Callable[[SignedTransactionAPI], None]] = []
        # Called after a transaction from this node's clients (not from gossip) enters the pool.
        self.on_local_tx: list[Callable[[SignedTransactionAPI], None]] = []
        # Called (from the producer's worker thread) after each new canonical block.
        self.on_new_block: list[Callable[[BlockAPI], None]] = [forget_trie_node_cache]
        # Called before the chain is rewound (a dev chain's evm_revert), while the head has not moved.
        self.on_rewind: list[Callable[[], None]] = []
        self._head_accounts: _HeadAccounts | None = None
        self._next_base_fee: tuple[bytes, int] | None = None   # (head hash, its child's base fee)
        # A dev chain's anvil_setNextBlockBaseFeePerGas: the next block's base fee, until it is in.
        self.next_base_fee_override: int | None = None
        self.decoder = TxDecoder()
        self._warm = threading.local()   # per RPC thread: a batch's transactions, decoded ahead
        self.decoded_ahead = 0           # transactions the RPC gateway decoded that were taken (a metric)

    def close(self) -> None:
        """Stop the decoder's worker and close the database."""
        self.decoder.close()
        self.chain.db.close()

    # -- the pending block ---------------------------------------------------------------

    def pending_block(self, coinbase: bytes | None) -> PendingBlockView:
        """The block being built: the pool's executable transactions on the head (geth's
        pending block), its state kept in memory for the "pending" tag."""
        head = self.view.head
        transactions = self.pool.select(self.view.next_base_fee(head), MAX_PENDING_TRANSACTIONS)
        timestamp = max(head.timestamp + 1, int(time.time()))
        return self.view.pending_block(transactions, timestamp, coinbase or ZERO_ADDRESS)

    def execution_point(self, tag: Any, coinbase: bytes | None) -> BlockHeaderAPI | PendingBlockView:
        """Where a call with block parameter ``tag`` runs: the pending block for "pending"."""
        return self.pending_block(coinbase) if tag == "pending" else self.resolve_header(tag)

    # -- blocks ---------------------------------------------------------------------------

    @overload
    def resolve_header(self, tag: Any, *, allow_missing: Literal[False] = False) -> BlockHeaderAPI: ...

    @overload
    def resolve_header(self, tag: Any, *, allow_missing: bool) -> BlockHeaderAPI | None: ...

    def resolve_header(self, tag: Any, *, allow_missing: bool = False) -> BlockHeaderAPI | None:
        """A block parameter (number, tag or EIP-1898 object) → header; -32602 on bad input."""
        if isinstance(tag, dict):
            if "blockHash" in tag:
                header = self.header_by_hash(parse_hash(tag["blockHash"], "blockHash"))
                if header is None:
                    raise server_error("header for hash not found")
                if tag.get("requireCanonical") and not self.view.is_canonical(header):
                    raise server_error("hash is not currently canonical")
                return header
            if "blockNumber" in tag:
                return self.resolve_header(tag["blockNumber"], allow_missing=allow_missing)
            raise invalid_params("invalid block parameter object")
        if tag is None or tag in ("latest", "pending", "safe", "finalized"):
            return self.view.head
        if tag == "earliest":
            return self.view.header_by_number(0)
        if isinstance(tag, str) and len(tag) == 66 and tag.startswith("0x"):
            # geth's BlockNumberOrHash (the spec's hash32 form): a 32-byte hex string is a hash.
            return self.resolve_header({"blockHash": tag}, allow_missing=allow_missing)
        if isinstance(tag, str) and tag.startswith("0x"):
            number = parse_quantity(tag, "block number")
            if number > MAX_BLOCK_NUMBER:
                raise invalid_params("invalid argument: block number larger than int64")
        else:
            raise invalid_params(f"invalid argument: unknown block tag {tag!r}")
        try:
            return self.view.header_by_number(number)
        except HeaderNotFound:
            if allow_missing:
                return None
            raise server_error("header not found") from None

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI | None:
        try:
            return self.view.header_by_hash(block_hash)
        except HeaderNotFound:
            return None

    # -- transactions ---------------------------------------------------------------------

    def warm_transactions(self, raws: list[bytes]) -> None:
        """Decode a batch's raw transactions ahead, in the decoder's worker process; the calls
        that follow on this thread find them there (:meth:`decode_transaction`)."""
        builder = self.transaction_builder()
        ahead = decoded_ahead.get()
        if ahead is not None and ahead[0] == builder_path(builder):
            raws = [raw for raw in raws if raw not in ahead[1]]   # the gateway decoded those
        decoded = self.decoder.decode_many(builder, raws)
        self._warm.builder = builder
        self._warm.txs = {raw: tx for raw, tx in zip(raws, decoded) if tx is not None}

    def decode_transaction(self, raw: bytes) -> SignedTransactionAPI:
        """``raw`` decoded for a JSON-RPC client: geth's errors as :class:`RpcError`."""
        try:
            return self.decode_raw_transaction(raw)
        except TxRejected as exc:
            raise rpc_error_of(exc) from None

    def decode_raw_transaction(self, raw: bytes) -> SignedTransactionAPI:
        """``raw`` decoded (from the warm batch when it is there); raises :class:`TxRejected`."""
        builder = self.transaction_builder()
        warm = getattr(self._warm, "txs", None)
        if warm and self._warm.builder is builder:
            tx = warm.pop(raw, None)
            if tx is not None:
                return tx
        tx = take_decoded_ahead(builder, raw)
        if tx is not None:
            self.decoded_ahead += 1
            return tx
        try:
            split = split_network_form(raw)
            if split is not None:
                return self._with_sidecar(decode_signed(builder, split[0]), split[1])
            return decode_signed(builder, raw)
        except BlobSidecarError as exc:
            raise InvalidTransaction(str(exc)) from None
        except (rlp.DecodingError, rlp.DeserializationError, ValueError, TypeError) as exc:
            raise MalformedTransaction(f"rlp: invalid transaction: {exc}") from None
        except Exception as exc:
            raise UnwantedTransaction(f"transaction type not supported: {exc}") from None

    def _with_sidecar(self, tx: SignedTransactionAPI, sidecar: BlobSidecar) -> SignedTransactionAPI:
        """A blob transaction from its network form: the sidecar verified and kept (only on
        chains with a blob network; elsewhere the pool refuses the transaction anyway)."""
        if self.pool.limits.accepts_blobs:
            verify_sidecar(getattr(tx, "blob_versioned_hashes", ()), sidecar)
            self.blob_sidecars[tx.hash] = sidecar
            while len(self.blob_sidecars) > MAX_KEPT_SIDECARS:
                self.blob_sidecars.popitem(last=False)
        return tx

    def transaction_builder(self) -> type[TransactionBuilderAPI]:
        head = self.chain.head
        return self.chain.vm_class_for(head.block_number + 1, head.timestamp + 1).get_transaction_builder()

    def submit(self, tx: SignedTransactionAPI, encoded_size: int) -> bytes:
        """A transaction from this node's clients: admitted (geth's errors as
        :class:`RpcError`), then announced to the ``on_local_tx`` hooks (the network)."""
        try:
            tx_hash = self.admit(tx, encoded_size)
        except TxRejected as exc:
            raise rpc_error_of(exc) from None
        for hook in self.on_local_tx:
            hook(tx)
        return tx_hash

    def admit(self, tx: SignedTransactionAPI, encoded_size: int) -> bytes:
        """Into the pool from any source (clients or gossip); raises :class:`TxRejected`."""
        head = self.chain.head
        permitted = max_blobs_per_block(self.chain.vm_class_for(head.block_number, head.timestamp))
        if self.pool.limits.accepts_blobs and permitted is not None and blob_count(tx) > permitted:
            # geth's txpool: at most the head fork's blobs per block (the genesis blobSchedule's max).
            raise UnwantedTransaction(f"too many blobs in transaction: have {blob_count(tx)}, permitted {permitted}")
        tx_hash = self.pool.add(tx, self.head_accounts(), encoded_size=encoded_size,
                                base_fee=self.next_base_fee())
        for hook in self.on_tx_added:
            hook(tx)
        return tx_hash

    def head_accounts(self) -> _HeadAccounts:
        """Nonce and balance reads at the current head, shared until the head moves."""
        head = self.chain.head
        accounts = self._head_accounts
        if accounts is None or accounts.head_hash != head.hash:
            accounts = self._head_accounts = _HeadAccounts(self.chain, head)
        return accounts

    def pending_nonce(self, address: Address) -> int:
        return self.pool.pending_nonce(address, self.chain.state_at(self.chain.head).get_nonce(address))

    def next_base_fee(self) -> int:
        """The base fee of the block after the head (computed once per head: admission asks
        for every transaction)."""
        if self.next_base_fee_override is not None:
            return self.next_base_fee_override
        head = self.view.head
        cached = self._next_base_fee
        if cached is None or cached[0] != head.hash:
            cached = self._next_base_fee = (head.hash, self.view.next_base_fee(head))
        return cached[1]


def forget_trie_node_cache(_block: BlockAPI) -> None:
    """Empty py-trie's class-wide node-encoding cache once a block is in.

    ``HexaryTrie._cached_create_node_to_db_mapping`` is an ``lru_cache(4096)`` on a method:
    each entry keys on the trie instance, so it pins that trie and the whole per-block database
    stack under it (batch, journal, caches) — about 8 KB per produced block — although no
    later block's trie can ever hit an entry of an earlier one.
    """
    HexaryTrie._cached_create_node_to_db_mapping.cache_clear()


def rpc_error_of(rejection: TxRejected) -> RpcError:
    """geth's JSON-RPC answer to a refused transaction: -32602 for undecodable bytes, else -32000."""
    if isinstance(rejection, MalformedTransaction):
        return invalid_params(str(rejection))
    return server_error(str(rejection))
