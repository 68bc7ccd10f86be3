"""``azora validator``: status, register, bond, unbond, withdraw, claim-rewards, unjail — a
validator's life in the ValidatorRegistry over JSON-RPC, without writing a script.

Every command that sends first checks what the registry would reject (credential, minimum bond,
a full candidate list, jail, unbonding delay) and says so in one line on stderr (exit 1; a usage
error exits 2), before any key is unlocked. ``status --json`` prints ``{"address", "state",
"bond", "power", "credential", "jailedUntil", "blocksSigned", "pendingRewards"}``; amounts are
whole AZR as decimal strings, as everywhere in the wallet. The active set and the signatures
come from the node's RPC (``azora_validators``; each block's extraData is the bitmap of who
signed its parent, over the parent's set in address order), never from node internals.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from wallet.cli_common import add_fee_flags, add_rpc_flags, emit, format_outcome, send_transaction
from wallet.errors import UsageError, WalletError, run_reporting_errors
from wallet.rpc import Node
from wallet.signer import add_signer_flags, load_signer, signer_address
from wallet.tx import Outcome, encode_call
from wallet.units import format_amount, parse_address, parse_amount
from wallet.validator_registry import Candidate, Registry

STATES = ("candidate", "bonded", "active", "jailed", "unbonding", "none")


# -- the command line ------------------------------------------------------------------------------

def add_validator_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    group = sub.add_parser("validator", help="a validator's bond, status and rewards in the registry")
    validator = group.add_subparsers(dest="validator_command", required=True)
    status = validator.add_parser("status", help="state, bond, power, credential, blocks signed, rewards")
    status.add_argument("address", nargs="?", help="default: the signer's address (--account/--keystore)")
    add_signer_flags(status)
    add_rpc_flags(status)

    def signing(name: str, help: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = validator.add_parser(name, help=help)
        add_fee_flags(parser)
        add_signer_flags(parser)
        add_rpc_flags(parser)
        return parser

    register = signing("register", "become a candidate: your validator credential and a first bond")
    register.add_argument("--amount", help="the first bond in AZR tokens (default: the minimum bond)")
    register.add_argument("--credential", help="the credential id (default: your validator credential)")
    signing("bond", "add AZR tokens to your bond").add_argument("--amount", required=True)
    signing("unbond", "start unbonding part of your bond").add_argument("--amount", required=True)
    signing("withdraw", "take back unbonded AZR tokens once the unbonding delay has passed")
    signing("claim-rewards", "pay your credited epoch rewards (native AZR)")
    signing("unjail", "check that your jail is over and you count again (jails expire by themselves)")


def cmd_validator(args: argparse.Namespace) -> int:
    return run_reporting_errors(VALIDATOR_COMMANDS[args.validator_command], args)


# -- reading where a validator stands --------------------------------------------------------------

@dataclass(frozen=True)
class Chain:
    """The head as a validator's status needs it."""

    number: int
    timestamp: int
    epoch: int
    epoch_start: int


def get_chain(node: Node, registry: Registry) -> Chain:
    head = node.w3.eth.get_block("latest")
    epoch, start = registry.current_epoch_start(int(head["number"]))
    return Chain(int(head["number"]), int(head["timestamp"]), epoch, start)


def get_validator_set(node: Node, height: int) -> dict[str, int]:
    """``azora_validators`` at ``height``: checksummed address -> power in whole AZR."""
    entries = node.request("azora_validators", [hex(height)]) or []
    return {Web3.to_checksum_address(e["address"]): int(e["power"], 16) for e in entries}


def is_signer(bitmap: bytes, index: int) -> bool:
    return index // 8 < len(bitmap) and bool(bitmap[index // 8] & (0x80 >> (index % 8)))


def count_blocks_signed(node: Node, address: str, first: int, head: int) -> int:
    """Blocks first..head-1 whose signer bitmap (in the next block's extraData) names ``address``.

    The head's own signers are only known once the next block carries them."""
    signed = 0
    for height in range(max(first, 1), head):
        members = sorted(get_validator_set(node, height), key=lambda a: int(a, 16))
        if address not in members:
            continue
        bitmap = bytes(node.w3.eth.get_block(height + 1)["extraData"])
        signed += is_signer(bitmap, members.index(address))
    return signed


def compute_state(candidate: Candidate, in_set: bool, eligible: bool, now: int) -> str:
    """One word for where a validator stands; the first that applies wins."""
    if now < candidate.jailed_until:
        return "jailed"
    if in_set:
        return "active"
    if candidate.registered and eligible:
        return "bonded"
    if candidate.registered:
        return "unbonding" if candidate.bond == 0 and candidate.unbonding > 0 else "candidate"
    return "unbonding" if candidate.unbonding > 0 else "none"


def get_status(node: Node, registry: Registry, address: str) -> dict[str, Any]:
    chain = get_chain(node, registry)
    candidate = registry.candidate(address)
    validator_set = get_validator_set(node, chain.number) if chain.number > 0 else {}
    eligible = registry.is_eligible(address)
    state = compute_state(candidate, address in validator_set, eligible, chain.timestamp)
    credential = None
    if candidate.credential_id:
        check = registry.check_credential(address, candidate.credential_id)
        credential = {"id": check.credential_id, "status": check.status, "counts": check.problem is None,
                      "problem": check.problem}
    return {
        "address": address, "state": state, "bond": format_amount(candidate.bond),
        "power": str(validator_set.get(address, 0)), "credential": credential,
        "jailedUntil": candidate.jailed_until if candidate.jailed_until > chain.timestamp else None,
        "blocksSigned": count_blocks_signed(node, address, chain.epoch_start, chain.number),
        "pendingRewards": format_amount(registry.pending_rewards(address)),
        # beyond the documented shape: what the text view says, for scripts that want it
        "unbonding": format_amount(candidate.unbonding), "unbondingReleaseAt": candidate.unbonding_release_at or None,
        "epoch": chain.epoch, "activeFromEpoch": chain.epoch + 1 if state == "bonded" and
        address in registry.active_validators() else None,
    }


def format_time(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def format_status(status: dict[str, Any]) -> str:
    state = status["state"]
    if state == "active":
        where = f"active (power {status['power']}) in epoch {status['epoch']}"
    elif state == "bonded":
        when = status["activeFromEpoch"]
        where = f"bonded: active from epoch {when}" if when is not None else \
            "bonded: eligible, but outranked in a full set"
    elif state == "jailed":
        where = f"jailed until {format_time(status['jailedUntil'])}"
    elif state == "unbonding":
        where = "unbonding"
    elif state == "candidate":
        where = "candidate: registered but not eligible"
    else:
        where = "not registered"
    credential = status["credential"]
    cred_text = "none" if credential is None else \
        f"#{credential['id']} {credential['status']}" + ("" if credential["counts"] else f" ({credential['problem']})")
    lines = [f"{status['address']}: {where}",
             f"  bond             {status['bond']} AZR",
             f"  credential       {cred_text}",
             f"  blocks signed    {status['blocksSigned']} this epoch (epoch {status['epoch']})",
             f"  pending rewards  {status['pendingRewards']} AZR"]
    if status["unbonding"] != "0.0":
        lines.append(f"  unbonding        {status['unbonding']} AZR, withdrawable from "
                     f"{format_time(status['unbondingReleaseAt'])}")
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    if args.address is not None:
        address = parse_address(args.address)
    elif args.keystore is not None or args.account is not None:
        address = signer_address(args)
    else:
        raise UsageError("give an ADDRESS, or --account/--keystore for your own")
    status = get_status(node, Registry(node), address)
    emit(args, status, format_status(status))
    return 0


# -- pre-checks: what the registry would reject ----------------------------------------------------

def head_timestamp(node: Node) -> int:
    return int(node.w3.eth.get_block("latest")["timestamp"])


def check_can_register(registry: Registry, address: str, credential_id: int | None, amount: int) -> int:
    """The credential id to register with, or the one-line reason the registry would refuse."""
    params = registry.parameters()
    if registry.candidate(address).registered:
        raise WalletError(f"{address} is already a registered candidate (use `azora validator bond`)")
    if params.candidate_count >= params.max_candidates:
        raise WalletError(f"the candidate list is full ({params.candidate_count} of {params.max_candidates})")
    if amount < params.minimum_bond or amount == 0:
        raise WalletError(f"bond {format_amount(amount)} AZR is below the minimum bond "
                          f"{format_amount(params.minimum_bond)} AZR")
    if credential_id is None:
        credential_id = registry.find_validator_credential(address)
        if credential_id is None:
            raise WalletError(f"{address} holds no validator credential the registry accepts "
                              f"(complete the validator course, then `azora wallet claim`)")
        return credential_id
    problem = registry.check_credential(address, credential_id).problem
    if problem is not None:
        raise WalletError(problem)
    return credential_id


def check_token_funds(registry: Registry, address: str, amount: int) -> None:
    have = int(registry.token().functions.balanceOf(address).call())
    if have < amount:
        raise WalletError(f"{address} holds {format_amount(have)} AZR tokens, needs {format_amount(amount)} "
                          f"(wrap native AZR first: `azora wallet wrap --amount {format_amount(amount - have)}`)")


def check_can_bond(registry: Registry, address: str, amount: int) -> None:
    if amount == 0:
        raise WalletError("the amount must be more than 0")
    if not registry.candidate(address).registered:
        raise WalletError(f"{address} is not a registered candidate (use `azora validator register`)")


def check_can_unbond(registry: Registry, address: str, amount: int) -> None:
    bonded = registry.candidate(address).bond
    if amount == 0 or amount > bonded:
        raise WalletError(f"cannot unbond {format_amount(amount)} AZR: {address} has {format_amount(bonded)} AZR bonded")


def check_can_withdraw(registry: Registry, address: str, now: int) -> int:
    candidate = registry.candidate(address)
    if candidate.unbonding == 0:
        raise WalletError(f"{address} has nothing unbonding")
    if now < candidate.unbonding_release_at:
        raise WalletError(f"{format_amount(candidate.unbonding)} AZR is still unbonding until "
                          f"{format_time(candidate.unbonding_release_at)} "
                          f"({candidate.unbonding_release_at - now} s from the last block)")
    return candidate.unbonding


def check_can_claim(registry: Registry, address: str) -> int:
    owed = registry.pending_rewards(address)
    if owed == 0:
        raise WalletError(f"{address} has no rewards to claim")
    return owed


def check_unjailed(registry: Registry, address: str, now: int) -> None:
    """Jails end by themselves; what remains is whether the validator counts again."""
    candidate = registry.candidate(address)
    if not candidate.registered:
        raise WalletError(f"{address} is not a registered candidate")
    if now < candidate.jailed_until:
        raise WalletError(f"jailed until {format_time(candidate.jailed_until)} "
                          f"({candidate.jailed_until - now} s from the last block)")
    params = registry.parameters()
    if candidate.bond < params.minimum_bond:
        raise WalletError(f"the jail is over, but the bond {format_amount(candidate.bond)} AZR is below the "
                          f"minimum {format_amount(params.minimum_bond)} AZR (bond more)")
    problem = registry.check_credential(address, candidate.credential_id).problem
    if problem is not None:
        raise WalletError(f"the jail is over, but {problem}")


# -- sending ---------------------------------------------------------------------------------------

def send(args: argparse.Namespace, node: Node, account: LocalAccount, to: str, data: bytes, what: str) -> Outcome:
    outcome = send_transaction(args, node, account, to, 0, data, what)
    if not args.json:
        print(format_outcome(outcome), file=sys.stderr)
    return outcome


def approve_bond(args: argparse.Namespace, node: Node, registry: Registry, account: LocalAccount, amount: int) -> None:
    """The registry pulls the bond with transferFrom: raise the allowance first if it is short."""
    token = registry.token()
    if int(token.functions.allowance(account.address, registry.address).call()) >= amount:
        return
    send(args, node, account, token.address, encode_call(token, "approve", registry.address, amount),
         f"allow the ValidatorRegistry to take {format_amount(amount)} AZR tokens as your bond")


def finish(args: argparse.Namespace, outcome: Outcome, text: str) -> int:
    emit(args, outcome.to_json(), text)
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    registry = Registry(node)
    address = signer_address(args)
    amount = parse_amount(args.amount) if args.amount else registry.parameters().minimum_bond
    credential_id = check_can_register(registry, address, parse_credential(args.credential), amount)
    check_token_funds(registry, address, amount)
    account = load_signer(args)
    approve_bond(args, node, registry, account, amount)
    outcome = send(args, node, account, registry.address, registry.register(credential_id, amount),
                   f"register as a validator candidate with credential #{credential_id} and {format_amount(amount)} AZR")
    return finish(args, outcome, f"registered {address} with a bond of {format_amount(amount)} AZR; "
                                 f"eligible validators join the set at the next epoch")


def cmd_bond(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    registry = Registry(node)
    address = signer_address(args)
    amount = parse_amount(args.amount)
    check_can_bond(registry, address, amount)
    check_token_funds(registry, address, amount)
    account = load_signer(args)
    approve_bond(args, node, registry, account, amount)
    outcome = send(args, node, account, registry.address, registry.bond(amount), f"bond {format_amount(amount)} AZR")
    return finish(args, outcome, f"bonded {format_amount(amount)} AZR more")


def cmd_unbond(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    registry = Registry(node)
    address = signer_address(args)
    amount = parse_amount(args.amount)
    check_can_unbond(registry, address, amount)
    delay = registry.parameters().unbonding_delay
    outcome = send(args, node, load_signer(args), registry.address, registry.unbond(amount),
                   f"unbond {format_amount(amount)} AZR (withdrawable after {delay} s; slashable until then)")
    return finish(args, outcome, f"unbonding {format_amount(amount)} AZR: `azora validator withdraw` after {delay} s")


def cmd_withdraw(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    registry = Registry(node)
    address = signer_address(args)
    amount = check_can_withdraw(registry, address, head_timestamp(node))
    outcome = send(args, node, load_signer(args), registry.address, registry.withdraw(),
                   f"withdraw {format_amount(amount)} unbonded AZR tokens")
    return finish(args, outcome, f"withdrew {format_amount(amount)} AZR tokens")


def cmd_claim_rewards(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    registry = Registry(node)
    address = signer_address(args)
    owed = check_can_claim(registry, address)
    outcome = send(args, node, load_signer(args), registry.address, registry.claim_rewards(address),
                   f"claim {format_amount(owed)} AZR of validator rewards")
    return finish(args, outcome, f"claimed {format_amount(owed)} AZR of rewards")


def cmd_unjail(args: argparse.Namespace) -> int:
    """No transaction: the registry's jails expire, and only the DAO lifts one early."""
    node = Node(args.rpc)
    registry = Registry(node)
    address = signer_address(args)
    check_unjailed(registry, address, head_timestamp(node))
    chain = get_chain(node, registry)
    text = f"{address} is not jailed and counts again: in the set from epoch {chain.epoch + 1} if its bond ranks"
    emit(args, {"address": address, "eligible": True, "fromEpoch": chain.epoch + 1}, text)
    return 0


def parse_credential(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 0)
    except ValueError:
        raise UsageError(f"credential id {text!r} is not a number") from None


VALIDATOR_COMMANDS = {"status": cmd_status, "register": cmd_register, "bond": cmd_bond, "unbond": cmd_unbond,
                      "withdraw": cmd_withdraw, "claim-rewards": cmd_claim_rewards, "unjail": cmd_unjail}
