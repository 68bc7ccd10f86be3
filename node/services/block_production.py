"""What a proposer puts in its block and when the next height starts."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import trio
from eth.abc import BlockHeaderAPI, StateAPI
from eth.constants import GAS_TX

from consensus.block_rules import compute_mix_hash
from consensus.config import TimeoutConfig, TimeoutKind
from consensus.types import ValidatorSet
from node.backend import Backend
from kernel.chain import ChainError, Observer, OpenBlock, PendingBlock
from node.rewards import block_extra_data, reward_system_calls, runs_system_calls
from node.runtime import yielding
from node.services.chain_writer import Candidate, ChainWriter
from node.services.consensus_io import Offload
from node.validators import ValidatorSetStore

logger = logging.getLogger("azora.consensus")
MAX_TXS_PER_BLOCK = 5_000
# With other validators, a block must be built and sent within the propose timeout, or they
# prevote nil and the round is lost (an 882-transaction block once needed round 5, 35 s; the
# others' timers are now held while they execute it, see consensus_io.Timers). The proposer
# ends its block when executing it has taken this fraction of the propose timeout: what the
# others, alike and under the same load, re-execute in about as long. A count from the rate
# timed so far lagged the load: a flood's first block was held to INITIAL_TX_RATE's 270
# transfers, and blocks timed before a flood's admission took the cores overran. 0.45 rather
# than 0.3 since the next block is prepared while the current one is voted on: loaded heights
# then waited for the 1-s interval with blocks of ~450 transfers; larger ones near the block
# gas limit (882 transfers in 30M) took a 4-validator testnet's 4,000-transfer floods from
# 354 to 417 tx/s after the first block. Not 0.6, which did as well, but one spread flood in
# five then had a height need round 1.
EXECUTION_SHARE_OF_PROPOSE_TIMEOUT = 0.45
MIN_TXS_PER_BLOCK = 50


def _deadline(budget: float | None) -> Callable[[], bool] | None:
    """For ``Chain.execute_transactions``: True once ``budget`` seconds have passed since the
    call (in the worker thread, when execution starts)."""
    if budget is None:
        return None
    deadline = time.perf_counter() + budget
    return lambda: time.perf_counter() > deadline


@dataclass(frozen=True)
class BlockOverrides:
    """What a dev chain changes in the block it builds at a height (anvil's helpers: coinbase,
    next base fee, state edits, a block without the pool's transactions); networks none."""

    coinbase: bytes | None = None
    base_fee_per_gas: int | None = None
    edit_state: Callable[[StateAPI], None] | None = None
    include_transactions: bool = True


NO_OVERRIDES = BlockOverrides()


class BlockPolicy(Protocol):
    """When the next height starts and which timestamp a proposer puts in its block."""

    async def wait_for_next_height(self, backend: Backend) -> None: ...
    def timestamp(self, parent_timestamp: int) -> int: ...
    def planned_timestamp(self, parent_timestamp: int) -> int | None:
        """The timestamp the next height's block will have, known before the height starts
        (the block is then built as transactions arrive, ``BlockBuilder.fill``); None if not."""
    def overrides(self, height: int) -> BlockOverrides: ...
    def observer(self) -> Observer | None:
        """What watches each transaction this node's blocks include as it runs (a dev chain's
        log of them); None for none."""


class IntervalPolicy:
    """Networks: a block every ``interval`` seconds (CometBFT's timeout_commit), empty or not."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = 0.0

    async def wait_for_next_height(self, backend: Backend) -> None:
        # Timestamps are whole seconds and strictly increasing, so a chain cannot outrun the
        # clock: also wait until the head's timestamp is no longer in the future. Otherwise a
        # sub-second interval has proposers stamp parent + 1 ever further ahead until their
        # blocks fail the drift check and every other height needs a second round.
        head_timestamp = backend.chain.head.timestamp
        await trio.sleep(max(0.0, self._last + self.interval - time.time(), head_timestamp - time.time()))
        self._last = time.time()

    def timestamp(self, parent_timestamp: int) -> int:
        return max(parent_timestamp + 1, int(time.time()))

    def planned_timestamp(self, parent_timestamp: int) -> int | None:
        return None     # who proposes next is known, but the next block is prepared while voting

    def overrides(self, height: int) -> BlockOverrides:
        return NO_OVERRIDES

    def observer(self) -> Observer | None:
        return None


@dataclass(frozen=True)
class _OpenFields:
    """What a block filled ahead of its height was built for, besides its transactions."""

    parent_hash: bytes
    timestamp: int
    coinbase: bytes
    mix_hash: bytes
    extra_data: bytes


@dataclass
class _OpenBlock:
    fields: _OpenFields
    block: OpenBlock


@dataclass
class PreparedBlock:
    """The block after a proposal, built on it while it is voted on (``BlockBuilder.prepare``)."""

    parent_hash: bytes
    coinbase: bytes
    done: trio.Event
    pending: PendingBlock | None = None


class BlockBuilder:
    """Builds this validator's block from the pool, as large as the others can re-execute in time.

    The proposer of the next height may prepare its block while the current one is voted on
    (``prepare``): a loaded 4-validator testnet spent 0.36-0.46 s of every height building
    while the other validators, waiting for the block, left the cores idle. The prepared
    block lacks only what the commit decides: its mixHash (the parent commit's hash) and
    extraData (who signed it), which ``build`` stamps in; no code reads extraData, and a
    block whose code read PREVRANDAO is built again, as is one whose height runs system calls.
    """

    def __init__(self, backend: Backend, validator_sets: ValidatorSetStore, writer: ChainWriter,
                 policy: BlockPolicy, timeouts: TimeoutConfig, *, offload: Offload = trio.to_thread.run_sync) -> None:
        self.backend = backend
        self.chain = backend.chain
        self.validator_sets = validator_sets
        self.writer = writer
        self.policy = policy
        self.timeouts = timeouts
        self.offload = offload
        self._prepared: PreparedBlock | None = None
        self._open: _OpenBlock | None = None        # the next height's block, being filled
        self._stop_filling = threading.Event()
        self._filling = False
        self._arrived = trio.Event()                # transactions came since ``fill`` last looked
        self._token: trio.lowlevel.TrioToken | None = None
        backend.on_tx_added.append(self._on_transaction)

    def attach(self, token: trio.lowlevel.TrioToken) -> None:
        """The event loop ``fill`` runs in (transactions arrive on RPC threads)."""
        self._token = token

    async def build(self, round: int, validator_set: ValidatorSet, coinbase: bytes) -> Candidate:
        head = self.chain.head
        parent_certificate = self.writer.head_certificate()
        overrides = self.policy.overrides(head.block_number + 1)
        extra_data = block_extra_data(self.validator_sets, head.block_number, parent_certificate)
        system_calls = reward_system_calls(self.chain, self.validator_sets, head.block_number + 1, extra_data)
        mix_hash = compute_mix_hash(parent_certificate)
        pending = await self._take_prepared(head, coinbase, mix_hash, extra_data)
        if pending is None:
            timestamp = self.policy.timestamp(head.timestamp)
            fields = _OpenFields(head.hash, timestamp, overrides.coinbase or coinbase, mix_hash, extra_data)
            started = time.perf_counter()
            pending = await self._seal_open(fields, overrides, system_calls)
            if pending is not None:
                self._timed("seal", pending, time.perf_counter() - started)
        if pending is None:
            budget = self.execution_budget(validator_set, round)
            transactions = self.backend.pool.select(self.backend.next_base_fee(), self._selection(head, budget)) \
                if overrides.include_transactions else []
            started = time.perf_counter()
            # on `head`, the parent everything above was chosen for: the chain's head may move
            # meanwhile (the height decided elsewhere, arriving by sync), and the candidate then
            # dies with its height rather than being executed on a parent it was not made for
            pending = await self.offload(lambda: self.chain.execute_transactions(
                transactions, timestamp=timestamp, parent=head,
                coinbase=fields.coinbase, mix_hash=mix_hash,
                extra_data=extra_data, system_calls=system_calls, base_fee_per_gas=overrides.base_fee_per_gas,
                edit_state=overrides.edit_state, until=yielding(_deadline(budget)), observe=self.policy.observer()))
            self._timed("build", pending, time.perf_counter() - started)
        if pending.result.rejected:
            self.backend.pool.on_new_head((), self.backend.head_accounts(), [tx for tx, _ in pending.result.rejected])
        return Candidate(pending.block, parent_certificate, pending, True)

    # -- a dev chain's next block, filled as transactions arrive -------------------------------

    async def fill(self, coinbase: bytes, lock: trio.Lock) -> None:
        """Until cancelled (the next height starts): execute the pool's transactions into the
        next height's block as they arrive, when that block's timestamp is known before its
        height starts (a dev chain's interval mining). ``build`` then adds what came last
        and seals it, and the tick finds its block all but executed: one block a second
        left the executor idle, waiting for the tick, whenever a block was done early (a
        single-request load of 8 clients kept the node's one core 0.90 busy).

        Each addition runs under ``lock`` (the host's height lock: dev controls that rewind
        or edit the chain wait for it), and ends at the next transaction once
        :meth:`stop_filling` is called. The block is dropped, unused, if what it was built
        for changes before its height (``_seal_open``)."""
        self._stop_filling.clear()
        self._filling = True
        if self.backend.pool.pending_count:
            self._arrived.set()     # what came meanwhile, or what the last block left (it was full)
        try:
            await self._fill(coinbase, lock)
        except Exception as exc:  # noqa: BLE001 - an optimisation: the tick builds afresh, the node goes on
            logger.warning("could not fill block #%d ahead of its tick: %r", self.chain.head.block_number + 1, exc)
            if self._open is not None:
                self._open.block.discard()
                self._open = None
        finally:
            self._filling = False

    async def _fill(self, coinbase: bytes, lock: trio.Lock) -> None:
        pool = self.backend.pool
        while True:
            await self._arrived.wait()
            self._arrived = trio.Event()
            if self._open is not None and self._open.fields.parent_hash != self.chain.head.hash:
                self._open.block.discard()       # the chain moved (a dev control rewound it)
                self._open = None
            opened = self._open or self._open_next(coinbase)
            if opened is None:
                return
            block = opened.block
            room = MAX_TXS_PER_BLOCK - len(block.included)
            if room <= 0 or block.full:
                return     # the rest waits for the block after
            transactions = pool.select(block.base_fee_per_gas, room, block.next_nonces)
            if not transactions:
                continue
            async with lock:
                rejected = await self.offload(lambda: block.add(
                    transactions, until=yielding(self._stop_filling.is_set), observe=self.policy.observer()))
            if rejected:
                pool.on_new_head((), self.backend.head_accounts(), [tx for tx, _ in rejected])

    def stop_filling(self) -> None:
        """The next height starts: ``fill``'s addition in progress ends at its next transaction."""
        self._stop_filling.set()

    def _on_transaction(self, _tx: Any) -> None:
        # From an RPC thread, while a fill runs (a network's builder never fills), once per
        # burst (is_set() is safe to read from any thread).
        if self._filling and self._token is not None and not self._arrived.is_set():
            self._token.run_sync_soon(self._arrived.set)

    def _open_next(self, coinbase: bytes) -> _OpenBlock | None:
        """The next height's block, opened, if its timestamp and contents are known now."""
        head = self.chain.head
        height = head.block_number + 1
        timestamp = self.policy.planned_timestamp(head.timestamp)
        overrides = self.policy.overrides(height)
        if timestamp is None or overrides.base_fee_per_gas is not None or overrides.edit_state is not None \
                or not overrides.include_transactions or runs_system_calls(self.chain, self.validator_sets, height):
            return None
        parent_certificate = self.writer.head_certificate()
        fields = _OpenFields(head.hash, timestamp, overrides.coinbase or coinbase,
                             compute_mix_hash(parent_certificate),
                             block_extra_data(self.validator_sets, head.block_number, parent_certificate))
        block = self.chain.open_block(timestamp=timestamp, parent=head, coinbase=fields.coinbase,
                                      mix_hash=fields.mix_hash, extra_data=fields.extra_data)
        self._open = _OpenBlock(fields, block)
        return self._open

    async def _seal_open(self, fields: "_OpenFields", overrides: BlockOverrides,
                         system_calls: Sequence[tuple[bytes, bytes]]) -> PendingBlock | None:
        """The block ``fill`` opened, with the pool's transactions it lacks added, sealed; None
        if there is none, or it is not the block the height asks for now: another parent,
        timestamp, coinbase or commit, dev overrides or system calls since it was opened, or a
        transaction it holds no longer in the pool (dropped or replaced)."""
        opened, self._open = self._open, None
        if opened is None:
            return None
        block = opened.block
        pool = self.backend.pool
        if opened.fields != fields or system_calls or overrides.base_fee_per_gas is not None \
                or overrides.edit_state is not None or not overrides.include_transactions \
                or any(pool.get(tx.hash) is None for tx in block.included):
            logger.debug("block opened for #%d unused", self.chain.head.block_number + 1)
            block.discard()
            return None
        room = MAX_TXS_PER_BLOCK - len(block.included)
        transactions = pool.select(block.base_fee_per_gas, room, block.next_nonces) \
            if room > 0 and not block.full else []

        logger.debug("sealing #%d: %d transactions filled, %d more", self.chain.head.block_number + 1,
                     len(block.included), len(transactions))

        def add_and_seal() -> PendingBlock:
            block.add(transactions, until=yielding(None), observe=self.policy.observer())
            return block.seal()
        return await self.offload(add_and_seal)

    async def prepare(self, parent: Candidate, validator_set: ValidatorSet, coinbase: bytes) -> None:
        """Build the block after ``parent``, a valid proposal of the height in progress, before
        it commits: on the proposer of the next height (``validator_set``, that height's).
        ``build`` uses it if ``parent`` becomes the head and the block stays valid.

        Only a full block is prepared: one with fewer transactions than the pool will hold
        when the height starts would leave out those that arrive meanwhile (up to a block
        interval of them), a longer wait for every sender on a network that is not loaded."""
        assert parent.pending is not None
        header = parent.block.header
        height = header.block_number + 1
        self._prepared = None
        if self.policy.overrides(height) != NO_OVERRIDES or \
                runs_system_calls(self.chain, self.validator_sets, height):
            return
        # the parent's transactions are each sender's lowest nonces in the pool: leave them out
        next_nonces = {tx.sender: tx.nonce + 1 for tx in parent.block.transactions}
        budget = self.execution_budget(validator_set, 0)
        transactions = self.backend.pool.select(self.backend.view.next_base_fee(header),
                                                self._selection(header, budget), next_nonces)
        full = self.full_block(validator_set, 0, header.gas_limit)
        if len(transactions) < full:
            logger.debug("not preparing #%d: %d pool transactions, %d make a full block",
                         height, len(transactions), full)
            return
        prepared = self._prepared = PreparedBlock(header.hash, coinbase, trio.Event())
        started = time.perf_counter()
        try:
            prepared.pending = await self.offload(lambda: self.chain.execute_transactions(
                transactions, timestamp=self.policy.timestamp(header.timestamp), coinbase=coinbase,
                parent_pending=parent.pending, until=yielding(_deadline(budget))))
            self._timed("prepare", prepared.pending, time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - an optimisation: `build` builds afresh, the node goes on
            logger.warning("could not prepare #%d: %r", height, exc)
        finally:
            prepared.done.set()

    async def _take_prepared(self, head: BlockHeaderAPI, coinbase: bytes, mix_hash: bytes,
                             extra_data: bytes) -> PendingBlock | None:
        """The block prepared on ``head``, stamped with the commit's fields; None if there is
        none or it is not the block the rules now ask for (``prepare`` leaves out the heights
        that run system calls)."""
        prepared, self._prepared = self._prepared, None
        if prepared is None or prepared.parent_hash != head.hash or prepared.coinbase != coinbase:
            return None
        await prepared.done.wait()
        if prepared.pending is None:
            return None
        try:
            pending = self.chain.restamp(prepared.pending, mix_hash=mix_hash, extra_data=extra_data)
        except ChainError as exc:
            logger.debug("prepared #%d unused: %s", head.block_number + 1, exc)
            return None
        logger.debug("proposing #%d as prepared", head.block_number + 1)
        return pending

    def _timed(self, path: str, pending: PendingBlock, elapsed: float) -> None:
        # the transactions executed, not those selected: ones the block gas limit deferred (a
        # full pool's worth beyond it) are not, and counting them overstated the rate
        count = len(pending.block.transactions)
        self.backend.timings.block_execution.labels(path).observe(elapsed)
        self.writer.execution_rate.observe(count, elapsed, pending.block.header.gas_used)
        logger.debug("%s #%d: %d transactions in %.3fs", path, pending.block.number, count, elapsed)

    def execution_budget(self, validator_set: ValidatorSet | None, round: int) -> float | None:
        """Seconds this node may spend executing its block of ``round``: what the others can
        re-execute well within that round's propose timeout (the machines of a network are
        alike, and share its load); None for a lone validator, whose block holds all that fit."""
        if validator_set is None or len(validator_set.validators) <= 1:
            return None
        return self.timeouts.duration(TimeoutKind.PROPOSE, round) * EXECUTION_SHARE_OF_PROPOSE_TIMEOUT

    def full_block(self, validator_set: ValidatorSet | None, round: int, gas_limit: int) -> int:
        """How many transactions fill a block of ``round`` (all that fit for a lone validator):
        what this node executes within the budget at the rate it executes blocks, or what
        ``gas_limit`` holds at the gas their transactions used, if fewer (882 ERC-20 transfers
        in 30M gas: the last block of a flood, 473 of them, counted short of the 1,111 timed
        ones, was built when its height started, not while the one before was voted on).
        A pool with fewer has no full block to prepare."""
        budget = self.execution_budget(validator_set, round)
        if budget is None:
            return MAX_TXS_PER_BLOCK
        rate = self.writer.execution_rate
        count = rate.per_second * budget
        if rate.gas_per_tx:
            count = min(count, gas_limit / rate.gas_per_tx)
        return max(MIN_TXS_PER_BLOCK, min(MAX_TXS_PER_BLOCK, int(count)))

    def _selection(self, parent: BlockHeaderAPI, budget: float | None) -> int:
        """How many pool transactions to offer a block: with a budget, all the block's gas could
        hold (the budget ends it where the time runs out, whatever the rate was), so that a
        block is not held to a rate timed under other load: a flood's first one was held to
        the assumed INITIAL_TX_RATE."""
        if budget is None:
            return MAX_TXS_PER_BLOCK
        return min(MAX_TXS_PER_BLOCK, parent.gas_limit // GAS_TX)   # GAS_TX: the least a transaction uses
