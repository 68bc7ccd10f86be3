"""Log queries (eth_getLogs, log filters, logs subscriptions) over the kernel's log index."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from eth.abc import BlockHeaderAPI, LogAPI
from eth_bloom import BloomFilter

from kernel.abc import ChainViewAPI
from kernel.block_logs import block_timestamp, decode_block_logs
from node.rpc.errors import RpcError, invalid_params, server_error
from node.rpc.format import format_log, log_object
from node.rpc.hexcodec import parse_address, parse_hash

if TYPE_CHECKING:
    from node.backend import Backend

MAX_LOG_RESULTS = 10_000       # Infura's figure
MAX_LOG_RANGE = 10_000
MAX_QUERY_ALTERNATIVES = 1_000  # geth's --rpc.logquerylimit: addresses, or topics per position


@dataclass(frozen=True)
class LogLimits:
    """What one log query may cost (0 turns a limit off): the blocks it spans and the logs it
    returns. Over either it fails as reth and erigon-based providers fail, with a message that
    clients (viem, ethers, web3 helpers) recognise and split the range on."""

    max_range: int = MAX_LOG_RANGE
    max_results: int = MAX_LOG_RESULTS


def log_limits_of(backend: "Backend") -> LogLimits:
    """The node's configured log limits (``--rpc.logs.maxrange``, ``--rpc.logs.maxresults``)."""
    return LogLimits(backend.rpc_limits.logs_max_range, backend.rpc_limits.logs_max_results)


def range_too_large(limit: int) -> RpcError:
    return invalid_params(f"query exceeds max block range {limit}")


def too_many_results(limit: int, first: int, last_complete: int) -> RpcError:
    """reth's wording, with the range that would have fitted (to the last whole block)."""
    return invalid_params(f"query exceeds max results {limit}, retry with the range {first}-{last_complete}")


@dataclass(frozen=True)
class LogQuery:
    first: int | None          # None: "latest at evaluation time"
    last: int | None
    block_hash: bytes | None
    addresses: tuple[bytes, ...]
    topics: tuple[tuple[bytes, ...] | None, ...]   # per position: alternatives, or None = any

    @classmethod
    def parse(cls, criteria: Any, backend: "Backend", *, resolve: bool = True) -> "LogQuery":
        if not isinstance(criteria, dict):
            raise invalid_params("invalid argument 0: filter object expected")
        address = criteria.get("address")
        if address is None:
            addresses: tuple[bytes, ...] = ()
        elif isinstance(address, list):
            if len(address) > MAX_QUERY_ALTERNATIVES:
                raise invalid_params("exceed max addresses or topics per search position")
            addresses = tuple(parse_address(a) for a in address)
        else:
            addresses = (parse_address(address),)
        topics_in = criteria.get("topics") or []
        if not isinstance(topics_in, list) or len(topics_in) > 4:
            raise invalid_params("invalid argument 0: topics must be an array of at most 4")
        if any(isinstance(t, list) and len(t) > MAX_QUERY_ALTERNATIVES for t in topics_in):
            raise invalid_params("exceed max addresses or topics per search position")
        topics = tuple(
            None if t is None else
            (tuple(parse_hash(x, "topic") for x in t) or None) if isinstance(t, list) else
            (parse_hash(t, "topic"),) for t in topics_in)
        if criteria.get("blockHash") is not None:
            if criteria.get("fromBlock") is not None or criteria.get("toBlock") is not None:
                raise invalid_params("invalid argument 0: cannot specify both BlockHash and FromBlock/ToBlock")
            return cls(None, None, parse_hash(criteria["blockHash"], "blockHash"), addresses, topics)
        first = cls._bound(criteria.get("fromBlock"), backend, resolve)
        last = cls._bound(criteria.get("toBlock"), backend, resolve)
        if first is not None and last is not None and first > last:
            raise invalid_params("invalid block range params")
        return cls(first, last, None, addresses, topics)

    @staticmethod
    def _bound(tag: Any, backend: "Backend", resolve: bool) -> int | None:
        if tag is None or tag in ("latest", "pending", "safe", "finalized"):
            return backend.view.head.block_number if resolve else None
        if tag == "earliest":
            return 0
        header = backend.resolve_header(tag, allow_missing=True)
        return backend.view.head.block_number + 1 if header is None else header.block_number

    def matches(self, log: LogAPI) -> bool:
        return self.matches_fields(log.address, tuple(topic.to_bytes(32, "big") for topic in log.topics))

    def matches_fields(self, address: bytes, topics: Sequence[bytes]) -> bool:
        if self.addresses and address not in self.addresses:
            return False
        if len(self.topics) > len(topics):
            return False
        for wanted, topic in zip(self.topics, topics):
            if wanted is not None and topic not in wanted:
                return False
        return True

    def bloom_may_match(self, header: BlockHeaderAPI) -> bool:
        bloom = BloomFilter(header.bloom)
        if self.addresses and not any(a in bloom for a in self.addresses):
            return False
        return all(wanted is None or any(t in bloom for t in wanted) for wanted in self.topics)


def query_logs(chain: ChainViewAPI, query: LogQuery, limits: LogLimits = LogLimits()) -> list[dict[str, Any]]:
    if query.block_hash is not None:
        try:
            header = chain.header_by_hash(query.block_hash)
        except Exception:
            raise server_error("unknown block") from None
        record = chain.block_logs_record(header.hash)
        logs = list(logs_of_block(chain, header, query) if record is None else
                    logs_of_record(record, header.block_number, header.hash, query))
        if limits.max_results and len(logs) > limits.max_results:
            raise too_many_results(limits.max_results, header.block_number, header.block_number)
        return logs
    head = chain.head.block_number
    first = query.first if query.first is not None else head
    last = min(query.last if query.last is not None else head, head)
    if first > last:
        return []
    if limits.max_range and last - first + 1 > limits.max_range:
        raise range_too_large(limits.max_range)
    # Required topics (single-alternative positions) and addresses narrow via the index.
    required = [wanted[0] for wanted in query.topics if wanted is not None and len(wanted) == 1]
    indexed = chain.log_block_candidates(first, last, query.addresses, required)
    candidates: Iterable[int] = range(first, last + 1) if indexed is None else indexed
    out: list[dict[str, Any]] = []
    for number in candidates:
        found = list(logs_of_number(chain, number, query))
        if limits.max_results and len(out) + len(found) > limits.max_results:
            raise too_many_results(limits.max_results, first, max(first, number - 1))
        out.extend(found)
    return out


def logs_of_number(chain: ChainViewAPI, number: int, query: LogQuery) -> Iterable[dict[str, Any]]:
    """The matching logs of canonical block ``number``: from its log record (one read), or for a
    block that has none from its header, receipts and transactions."""
    block_hash = chain.canonical_hash(number)
    record = chain.block_logs_record(block_hash)
    if record is None:
        header = chain.header_by_hash(block_hash)
        return logs_of_block(chain, header, query) if query.bloom_may_match(header) else ()
    return logs_of_record(record, number, block_hash, query)


def logs_of_record(record: bytes, number: int, block_hash: bytes, query: LogQuery) -> Iterable[dict[str, Any]]:
    timestamp = block_timestamp(record)
    for log in decode_block_logs(record):
        if query.matches_fields(log.address, log.topics):
            yield log_object(log.address, log.topics, log.data, number, block_hash, timestamp,
                             log.tx_hash, log.tx_index, log.log_index)


def logs_of_block(chain: ChainViewAPI, header: BlockHeaderAPI, query: LogQuery) -> Iterable[dict[str, Any]]:
    receipts = chain.receipts_of(header)
    if not any(r.logs for r in receipts):
        return
    transactions = chain.block_of(header).transactions
    log_index = 0
    for tx_index, (tx, receipt) in enumerate(zip(transactions, receipts)):
        for log in receipt.logs:
            if query.matches(log):
                yield format_log(log, header, tx.hash, tx_index, log_index)
            log_index += 1
