"""Azora's Proof-of-Knowledge BFT consensus: the Tendermint algorithm without I/O.

What the node uses:

* ``driver.Driver(address, SigningDomain(chain_id, registry))``: ``start_height`` and ``apply``
  inputs from ``events``; carry out the outputs (see ``abc.ConsensusEngineAPI``).
* ``signing``: EIP-712 digests, ``recover_signer``, ``LocalSigner``.
* ``sign_guard``: ``GuardedSigner`` over a ``FileSignRecordStore`` (never double-sign), with
  ``restored_lock`` / ``restored_messages`` after a restart.
* ``commit.is_valid_commit`` for sync and import; ``types`` for the RLP wire formats.
* ``validator_set`` (CometBFT proposer rotation) and ``block_rules`` (every rule of a block:
  epochs and set changes at their boundaries, proposer, parent commit, mixHash, signer
  bitmap, timestamp), used alike by proposal, sync and import.
* ``wire`` for the proposal / committed-block / range-sync message formats.
* ``config.TimeoutConfig`` for timer durations.
"""
