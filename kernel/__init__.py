"""kernel: the deterministic chain core (genesis, blocks, state transition, storage, indexes)."""


def _use_c_keccak() -> None:
    """Make eth-hash's shared keccak256 (py-evm's, trie's, eth-utils', web3's) the C one.

    eth-hash picks pycryptodome when both backends are installed, and its keccak costs ~6 us a
    call against ~1 us for safe-pysha3's; hashing trie nodes, storage keys and addresses was a
    third of an eth_call's time. Both compute the same function (the backend checks itself on
    first use); without safe-pysha3 installed nothing changes.
    """
    try:
        from eth_hash.backends import pysha3
    except ImportError:
        return
    from eth_hash.auto import keccak

    # the same signatures as eth-hash's own first-run hooks, but for a parameter's name
    keccak.hasher = pysha3.keccak256  # type: ignore[assignment]
    keccak.preimage = pysha3.preimage  # type: ignore[assignment]


_use_c_keccak()
