"""oracle: course completions in, EIP-712 attestations of an m-of-n committee out."""
import kernel  # noqa: F401  (eth-hash's C keccak backend, for signing and digests)
