"""anvil's and Hardhat's dev-chain helpers (``anvil_*``/``hardhat_*``) on ``azora dev`` only.

A network node has no such namespaces: the dispatcher answers them -32601 as geth does.
State edits (balance, code, storage, nonce) are committed in a block of their own before the
call returns, so ``latest`` shows them at once and a restart of the datadir keeps them; anvil
edits its pending state without a block. Transactions from an impersonated address carry no
signature that recovers it: :func:`impersonated_transaction` gives py-evm the sender directly.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from eth.abc import SignedTransactionAPI, StateAPI, TransactionBuilderAPI
from eth_typing import Address

from node.backend import Backend
from node.dev import DevChain
from node.rpc.errors import invalid_params
from node.rpc.hexcodec import data, parse_address, parse_data, quantity

UINT256_LIMIT = 2**256
UINT64_LIMIT = 2**64
MAX_MINED_AT_ONCE = 10_000     # every block goes through consensus: ~20 a second


def impersonated_transaction(builder: type[TransactionBuilderAPI], fields: dict[str, Any],
                             sender: bytes) -> SignedTransactionAPI:
    """An EIP-1559 transaction from ``sender`` that nobody signed (anvil's impersonation).

    Its signature fields are placeholders: r carries the sender (so two senders' otherwise equal
    transactions differ in hash, as anvil's impersonated hashes do) and py-evm's cached sender is
    set, so no recovery runs. Only the dev chain's own producer executes it; the block's senders
    are stored beside it, so every RPC read shows the impersonated sender.
    """
    gas_price = fields.get("gasPrice")
    london: Any = builder    # the EIP-1559 constructors are London's, not in TransactionBuilderAPI
    unsigned = london.new_unsigned_dynamic_fee_transaction(
        chain_id=fields["chainId"], nonce=fields["nonce"],
        max_priority_fee_per_gas=gas_price if gas_price is not None else fields["maxPriorityFeePerGas"],
        max_fee_per_gas=gas_price if gas_price is not None else fields["maxFeePerGas"],
        gas=fields["gas"], to=bytes.fromhex(fields["to"][2:]) if fields.get("to") else b"",
        value=fields["value"], data=bytes.fromhex(fields["data"][2:]),
        access_list=[(bytes.fromhex(a["address"][2:]), [int(k, 16) for k in a.get("storageKeys", [])])
                     for a in fields.get("accessList") or []])
    placeholder = london.new_dynamic_fee_transaction(
        unsigned.chain_id, unsigned.nonce, unsigned.max_priority_fee_per_gas, unsigned.max_fee_per_gas,
        unsigned.gas, unsigned.to, unsigned.value, unsigned.data, unsigned.access_list,
        0, int.from_bytes(sender, "big") + 1, 1)
    # The builder's own class for the type (decoding what it encoded), with the sender given.
    tx = builder.decode(placeholder.encode())
    tx.__dict__["sender"] = Address(sender)
    return tx


# -- parameters ---------------------------------------------------------------------------------

def parse_uint(value: Any, what: str, limit: int = UINT256_LIMIT) -> int:
    """A hex quantity (or a JSON integer) below ``limit``; -32602 otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise invalid_params(f"invalid argument: {what} must be a hex quantity, got {value!r}")
    if isinstance(value, str):
        # anvil reads leading zero digits ("0x0100") as the number they spell.
        if not re.fullmatch(r"0x[0-9a-fA-F]{1,64}", value):
            raise invalid_params(f"invalid argument: {what} must be a hex quantity, got {value!r}")
        value = int(value, 16)
    number = value
    if not 0 <= number < limit:
        raise invalid_params(f"invalid argument: {what} {number} out of range (must be below 2^{limit.bit_length() - 1})")
    return number


def parse_word(value: Any, what: str) -> int:
    """A storage slot or value: a quantity or up to 32 bytes of hex data."""
    if isinstance(value, str) and value.startswith("0x") and len(value) <= 66:
        try:
            return int(value, 16) if len(value) > 2 else 0
        except ValueError:
            pass
    if isinstance(value, int) and not isinstance(value, bool):
        return parse_uint(value, what)
    raise invalid_params(f"invalid argument: {what} must be a 32-byte hex value")


def parse_flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise invalid_params(f"invalid argument: {what} must be true or false")
    return value


# -- state edits --------------------------------------------------------------------------------

def balance_edit(address: bytes, balance: int) -> Callable[[StateAPI], None]:
    return lambda state: state.set_balance(Address(address), balance)


def code_edit(address: bytes, code: bytes) -> Callable[[StateAPI], None]:
    return lambda state: state.set_code(Address(address), code)


def storage_edit(address: bytes, slot: int, value: int) -> Callable[[StateAPI], None]:
    return lambda state: state.set_storage(Address(address), slot, value)


def nonce_edit(address: bytes, nonce: int) -> Callable[[StateAPI], None]:
    return lambda state: state.set_nonce(Address(address), nonce)


class AnvilAPI:
    """``anvil_*``: results as anvil answers them (null for most setters)."""

    def __init__(self, backend: Backend, dev: DevChain, fork_url: str | None = None) -> None:
        self._b = backend
        self._dev = dev
        self._fork_url = fork_url

    def _edit(self, address: bytes, edit: Callable[[StateAPI], None]) -> None:
        self._dev.edit_state(edit, touched=(address,))

    def impersonateAccount(self, address: Any) -> None:
        self._dev.impersonated.add(parse_address(address, "address"))

    def stopImpersonatingAccount(self, address: Any) -> None:
        self._dev.impersonated.remove(parse_address(address, "address"))

    def autoImpersonateAccount(self, enabled: Any) -> None:
        """Every address sends without its key (anvil's switch)."""
        self._dev.impersonated.every_address = parse_flag(enabled, "enabled")

    def setBalance(self, address: Any, balance: Any) -> None:
        target = parse_address(address, "address")
        self._edit(target, balance_edit(target, parse_uint(balance, "balance")))

    def setCode(self, address: Any, code: Any) -> None:
        target = parse_address(address, "address")
        self._edit(target, code_edit(target, parse_data(code, "code")))

    def setStorageAt(self, address: Any, slot: Any, value: Any) -> bool:
        target = parse_address(address, "address")
        self._edit(target, storage_edit(target, parse_word(slot, "slot"), parse_word(value, "value")))
        return True

    def setNonce(self, address: Any, nonce: Any) -> None:
        target = parse_address(address, "address")
        self._edit(target, nonce_edit(target, parse_uint(nonce, "nonce", UINT64_LIMIT)))

    def mine(self, blocks: Any = None, interval: Any = None) -> None:
        count = 1 if blocks is None else parse_uint(blocks, "number of blocks")
        if count > MAX_MINED_AT_ONCE:
            raise invalid_params(f"invalid argument: at most {MAX_MINED_AT_ONCE} blocks at once")
        seconds = None if interval is None else parse_uint(interval, "interval", UINT64_LIMIT)
        self._dev.mine(max(1, count), interval=seconds)

    def setAutomine(self, enabled: Any) -> None:
        self._dev.set_automine(parse_flag(enabled, "automine"))

    def getAutomine(self) -> bool:
        return self._dev.policy.automine and not self._dev.policy.block_time

    def setIntervalMining(self, seconds: Any) -> None:
        interval = parse_uint(seconds, "interval", UINT64_LIMIT)
        self._dev.set_interval_mining(float(interval) or None)

    def reset(self, options: Any = None) -> None:
        self._check_reset(options)
        self._dev.reset()

    def _check_reset(self, options: Any) -> None:
        """A reset goes back to this chain's own start: genesis, or the block it forked at."""
        if options is None:
            return
        if not isinstance(options, dict):
            raise invalid_params("invalid argument 0: reset options must be an object")
        forking = options.get("forking")
        if forking is None:
            return
        if not isinstance(forking, dict):
            raise invalid_params("invalid argument 0: forking must be an object")
        if self._fork_url is None:
            raise invalid_params("this dev chain was not started with --fork-url: restart it with "
                                 "--fork-url to fork")
        url, number = forking.get("jsonRpcUrl"), forking.get("blockNumber")
        if (url is not None and url != self._fork_url) or \
                (number is not None and parse_uint(number, "blockNumber") != self._dev.base_number):
            raise invalid_params(f"this dev chain forks {self._fork_url} at block #{self._dev.base_number}: "
                                 "restart it with another --fork-url/--fork-block-number to fork elsewhere")

    def dropTransaction(self, tx_hash: Any) -> str | None:
        raw = parse_data(tx_hash, "transaction hash")
        if len(raw) != 32:
            raise invalid_params("invalid argument 0: transaction hash must be 32 bytes")
        return data(raw) if self._dev.drop_transaction(raw) else None

    def setNextBlockBaseFeePerGas(self, base_fee: Any) -> None:
        self._dev.set_next_base_fee(parse_uint(base_fee, "base fee"))

    def setCoinbase(self, address: Any) -> None:
        self._dev.policy.coinbase = parse_address(address, "address")

    def setMinGasPrice(self, price: Any) -> None:
        parse_uint(price, "gas price")
        # anvil's own answer on a chain with EIP-1559: a minimum applies to legacy chains only.
        raise invalid_params("anvil_setMinGasPrice is not supported when EIP-1559 is active")

    def nodeInfo(self) -> dict[str, Any]:
        head = self._b.chain.head
        fork_number = self._dev.base_number if self._fork_url else None
        return {
            "currentBlockNumber": quantity(head.block_number),
            "currentBlockTimestamp": head.timestamp,
            "currentBlockHash": data(head.hash),
            "hardFork": "prague",
            "transactionOrder": "fees",
            "environment": {"baseFee": self._b.next_base_fee(), "chainId": self._b.chain.chain_id,
                            "gasLimit": head.gas_limit, "gasPrice": self._b.next_base_fee() + 10**9},
            "forkConfig": {"forkUrl": self._fork_url, "forkBlockNumber": fork_number, "forkRetryBackoff": None},
        }


class HardhatAPI:
    """``hardhat_*``: the same helpers, answering true as Hardhat does."""

    def __init__(self, anvil: AnvilAPI) -> None:
        self._a = anvil

    def impersonateAccount(self, address: Any) -> bool:
        self._a.impersonateAccount(address)
        return True

    def stopImpersonatingAccount(self, address: Any) -> bool:
        self._a.stopImpersonatingAccount(address)
        return True

    def setBalance(self, address: Any, balance: Any) -> bool:
        self._a.setBalance(address, balance)
        return True

    def setCode(self, address: Any, code: Any) -> bool:
        self._a.setCode(address, code)
        return True

    def setStorageAt(self, address: Any, slot: Any, value: Any) -> bool:
        return self._a.setStorageAt(address, slot, value)

    def setNonce(self, address: Any, nonce: Any) -> bool:
        self._a.setNonce(address, nonce)
        return True

    def mine(self, blocks: Any = None, interval: Any = None) -> bool:
        self._a.mine(blocks, interval)
        return True

    def getAutomine(self) -> bool:
        return self._a.getAutomine()

    def reset(self, options: Any = None) -> bool:
        self._a.reset(options)
        return True

    def dropTransaction(self, tx_hash: Any) -> bool:
        return self._a.dropTransaction(tx_hash) is not None

    def setNextBlockBaseFeePerGas(self, base_fee: Any) -> bool:
        self._a.setNextBlockBaseFeePerGas(base_fee)
        return True

    def setCoinbase(self, address: Any) -> bool:
        self._a.setCoinbase(address)
        return True

    def setMinGasPrice(self, price: Any) -> bool:
        self._a.setMinGasPrice(price)
        return True
