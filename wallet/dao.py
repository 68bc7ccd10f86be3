"""``azora dao``: delegate, propose (a file or a template), list, show, vote, vote-by-sig and
relay, queue, execute, cancel — the Governor over JSON-RPC, as Tally or ``cast`` would drive it.

Every state-changing command first checks what the Governor would reject (state, threshold,
deadline, who may act) and says so in one line on stderr (exit 1; a usage error exits 2), so a
transaction is only sent when it should succeed. ``--json`` prints the shapes scripts rely on:
``propose`` -> ``{"proposalId", "hash"}``; ``show`` -> the proposal's status (``list`` a list of
them); every other transaction -> ``{"hash", "status"}``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import requests
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3Exception, Web3RPCError
from web3.logs import DISCARD

from wallet.cli_common import add_fee_flags, add_rpc_flags
from wallet.dao_proposals import (
    ActionDecoder, CreatedProposal, EncodedProposal, encode_proposal, find_proposal, get_created_proposals,
    get_governor, load_proposal_file,
)
from wallet.dao_templates import TEMPLATES, build_template
from wallet.errors import UsageError, WalletError
from wallet.keystore import KeystoreError
from wallet.rpc import Node
from wallet.signer import add_signer_flags, load_signer, signer_address
from wallet.tx import build_transaction, check_native_funds, confirm, describe, send_and_wait, suggest_fees
from wallet.units import format_amount, parse_address

# OpenZeppelin's ProposalState, in its numbering
STATES = ("Pending", "Active", "Canceled", "Defeated", "Succeeded", "Queued", "Expired", "Executed")
SUPPORT = {"against": 0, "for": 1, "abstain": 2}
BALLOT_TYPES = [{"name": "proposalId", "type": "uint256"}, {"name": "support", "type": "uint8"},
                {"name": "voter", "type": "address"}, {"name": "nonce", "type": "uint256"}]
# EIP-5267 fields bits of eip712Domain(): which of name, version, chainId, verifyingContract, salt
DOMAIN_FIELDS = (("name", "string"), ("version", "string"), ("chainId", "uint256"),
                 ("verifyingContract", "address"), ("salt", "bytes32"))


# -- the command line ------------------------------------------------------------------------------

def add_dao_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dao = sub.add_parser("dao", help="the DAO: delegate, propose, vote, queue, execute").add_subparsers(
        dest="dao_command", required=True)

    def signing(name: str, help: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = dao.add_parser(name, help=help)
        add_fee_flags(parser)
        add_signer_flags(parser)
        add_rpc_flags(parser)
        return parser

    signing("delegate", "delegate your AZR token votes (to yourself by default)").add_argument("delegatee", nargs="?")
    propose = signing("propose", "propose the actions of a YAML/JSON file, or of a template")
    propose.add_argument("file", nargs="?", type=Path, help="proposal file: description and actions")
    propose.add_argument("--template", help="a template name (see `azora dao templates`)")
    propose.add_argument("--param", action="append", default=[], metavar="K=V", help="a template parameter")
    propose.add_argument("--description", help="replaces the template's description")
    propose.add_argument("--dry-run", action="store_true", help="print the encoded proposal; send nothing")

    templates = dao.add_parser("templates", help="the proposal templates and their parameters")
    templates.add_argument("--json", action="store_true")
    lst = dao.add_parser("list", help="every proposal with its state and votes")
    lst.add_argument("--state", help="only proposals in this state (Pending, Active, ... Executed)")
    add_rpc_flags(lst)
    show = dao.add_parser("show", help="a proposal: actions, state, votes, quorum, deadlines")
    show.add_argument("id")
    add_rpc_flags(show)

    vote = signing("vote", "vote on an Active proposal")
    vote.add_argument("id")
    vote.add_argument("support", choices=tuple(SUPPORT))
    vote.add_argument("--reason", help="kept on chain with the vote")
    by_sig = dao.add_parser("vote-by-sig", help="sign an EIP-712 ballot into a file for someone else to relay")
    by_sig.add_argument("id")
    by_sig.add_argument("support", choices=tuple(SUPPORT))
    by_sig.add_argument("--out", type=Path, required=True, help="write the signed ballot here")
    add_signer_flags(by_sig)
    add_rpc_flags(by_sig)
    signing("relay", "submit a signed ballot file (castVoteBySig); the relayer pays the gas").add_argument(
        "ballot", type=Path)
    for name, help in (("queue", "queue a Succeeded proposal in the Timelock"),
                       ("execute", "execute a Queued proposal whose Timelock delay has passed"),
                       ("cancel", "cancel your proposal while it is Pending")):
        signing(name, help).add_argument("id")


def cmd_dao(args: argparse.Namespace) -> int:
    """Run one ``azora dao`` command; every failure is one line on stderr."""
    try:
        return DAO_COMMANDS[args.dao_command](args)
    except WalletError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except requests.RequestException as exc:
        print(f"error: cannot reach the node at {getattr(args, 'rpc', '?')} ({exc.__class__.__name__})",
              file=sys.stderr)
        return 1
    except (KeystoreError, ValueError, OSError, Web3Exception) as exc:
        text = str(exc).strip().splitlines()
        print(f"error: {text[0] if text else exc.__class__.__name__}", file=sys.stderr)
        return 1


def emit(args: argparse.Namespace, value: Any, text: str) -> None:
    print(json.dumps(value) if args.json else text)


def parse_proposal_id(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise UsageError(f"proposal id {text!r} is not a number") from None


# -- reading a proposal's status -------------------------------------------------------------------

def get_state(governor: Contract, proposal_id: int) -> str | None:
    """The proposal's state name, or None if the Governor does not know the id."""
    try:
        return STATES[governor.functions.state(proposal_id).call()]
    except (ContractLogicError, Web3RPCError):
        return None


def has_function(contract: Contract, name: str) -> bool:
    return any(item.get("name") == name for item in contract.abi if item.get("type") == "function")


def get_votes(governor: Contract, proposal_id: int) -> tuple[int, int, int]:
    """(against, for, abstain): OpenZeppelin's ``proposalVotes`` where the Governor has it,
    else the ``proposals`` record."""
    if has_function(governor, "proposalVotes"):
        against, for_, abstain = governor.functions.proposalVotes(proposal_id).call()
        return against, for_, abstain
    record = governor.functions.proposals(proposal_id).call()
    return record[4], record[3], record[5]


def get_eta(governor: Contract, proposal_id: int) -> int:
    if has_function(governor, "proposalEta"):
        return int(governor.functions.proposalEta(proposal_id).call())
    return int(governor.functions.proposals(proposal_id).call()[6])


def get_quorum(governor: Contract, snapshot: int) -> int | None:
    """Votes needed; None while the snapshot block is still ahead (its supply is not known yet)."""
    try:
        return int(governor.functions.quorum(snapshot).call())
    except (ContractLogicError, Web3RPCError):
        return None


class Clock:
    """Block numbers to times: past blocks by their timestamps, future ones estimated from the
    average block interval of the last 100 blocks."""

    def __init__(self, node: Node) -> None:
        self.node = node
        head = node.w3.eth.get_block("latest")
        self.head, self.head_time = head["number"], head["timestamp"]
        earlier = node.w3.eth.get_block(max(0, self.head - 100))
        blocks = self.head - earlier["number"]
        self.interval = (self.head_time - earlier["timestamp"]) / blocks if blocks else None

    def time_of(self, block: int) -> int | None:
        if block <= self.head:
            return self.node.w3.eth.get_block(block)["timestamp"]
        return None if self.interval is None else int(self.head_time + (block - self.head) * self.interval)


def format_time(timestamp: int | None) -> str:
    return "unknown" if timestamp is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def get_status(node: Node, governor: Contract, proposal: CreatedProposal, decoder: ActionDecoder) -> dict[str, Any]:
    """The ``show --json`` shape; votes and quorum in whole AZR, blocks as numbers, eta a timestamp."""
    pid = proposal.proposal_id
    against, for_, abstain = get_votes(governor, pid)
    snapshot = governor.functions.proposalSnapshot(pid).call()
    quorum = get_quorum(governor, snapshot)
    eta = get_eta(governor, pid)
    return {
        "proposalId": str(pid), "state": get_state(governor, pid),
        "for": format_amount(for_), "against": format_amount(against), "abstain": format_amount(abstain),
        "quorum": None if quorum is None else format_amount(quorum),
        "snapshot": snapshot, "deadline": governor.functions.proposalDeadline(pid).call(),
        "eta": eta or None,
        "actions": [{**a, "value": format_amount(a["value"])} for a in
                    (decoder.decode(t, v, c) for t, v, c in zip(proposal.targets, proposal.values, proposal.calldatas))],
        "proposer": proposal.proposer, "description": proposal.description,
    }


def format_action(index: int, action: dict[str, Any]) -> str:
    where = action["contract"] or action["target"]
    if action["function"] is None and action["calldata"] == "0x":
        return f"  {index}. pay {action['value']} AZR to {where}"
    if action["function"] is None:
        return f"  {index}. {where}: unknown function, calldata {action['calldata']}"
    args = ", ".join(f"{k}={v}" for k, v in action["args"].items())
    value = f" + {action['value']} AZR" if action["value"] != "0.0" else ""
    return f"  {index}. {where}.{action['function'].split('(')[0]}({args}){value}"


def format_status(status: dict[str, Any], clock: Clock) -> str:
    counted = float(status["for"]) + float(status["abstain"])
    if status["quorum"] is None:
        quorum = f"known at the snapshot (block {status['snapshot']})"
    else:
        reached = "reached" if counted >= float(status["quorum"]) else "not reached"
        quorum = f"{status['quorum']} AZR needed (For + Abstain), {reached}"
    lines = [f"proposal {status['proposalId']}", f"  {status['description'].splitlines()[0]}",
             f"state     {status['state']}", f"proposer  {status['proposer']}",
             f"votes     For {status['for']}  Against {status['against']}  Abstain {status['abstain']} AZR",
             f"quorum    {quorum}",
             f"snapshot  block {status['snapshot']} ({format_time(clock.time_of(status['snapshot']))})",
             f"deadline  block {status['deadline']} ({format_time(clock.time_of(status['deadline']))})"]
    if status["eta"]:
        lines.append(f"eta       {format_time(status['eta'])} (executable from then)")
    lines.append("actions")
    lines += [format_action(i, a) for i, a in enumerate(status["actions"], 1)]
    return "\n".join(lines)


def public_status(status: dict[str, Any]) -> dict[str, Any]:
    """The documented ``--json`` keys only (the description and proposer are for people)."""
    return {k: status[k] for k in ("proposalId", "state", "for", "against", "abstain", "quorum", "snapshot",
                                   "deadline", "eta", "actions")}


def cmd_show(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    governor = get_governor(node)
    proposal = find_proposal(node, governor, parse_proposal_id(args.id))
    status = get_status(node, governor, proposal, ActionDecoder(node))
    # the clock costs block lookups: only people read the times
    emit(args, public_status(status), "" if args.json else format_status(status, Clock(node)))
    return 0


def parse_state(text: str | None) -> str | None:
    if text is None:
        return None
    for state in STATES:
        if state.lower() == text.lower():
            return state
    raise UsageError(f"--state {text!r}: one of {', '.join(STATES)}")


def cmd_list(args: argparse.Namespace) -> int:
    wanted = parse_state(args.state)
    node = Node(args.rpc)
    governor = get_governor(node)
    decoder = ActionDecoder(node)
    statuses = [get_status(node, governor, p, decoder) for p in get_created_proposals(node, governor)]
    statuses = [s for s in statuses if wanted is None or s["state"] == wanted]
    lines = [f"{s['proposalId']}  {s['state']:<9}  For {s['for']} Against {s['against']} Abstain {s['abstain']}  "
             f"{s['description'].splitlines()[0][:60]}" for s in statuses]
    emit(args, [public_status(s) for s in statuses], "\n".join(lines) or "no proposals")
    return 0


def cmd_templates(args: argparse.Namespace) -> int:
    listing: list[dict[str, Any]] = [{"name": t.name, "summary": t.summary,
                "params": [{"name": p.name, "help": p.help, "required": p.current is None} for p in t.params]}
               for t in TEMPLATES]
    lines = []
    for template in listing:
        lines.append(f"{template['name']}: {template['summary']}")
        lines += [f"    {p['name']}{'' if p['required'] else ' (optional)'}: {p['help']}" for p in template["params"]]
    emit(args, listing, "\n".join(lines))
    return 0


# -- sending ---------------------------------------------------------------------------------------

def send(args: argparse.Namespace, node: Node, account: LocalAccount, to: str, data: bytes, what: str,
         value: int = 0) -> str:
    """Fees, funds, summary, confirmation, send, receipt: the transaction hash once mined."""
    tx = build_transaction(node, account.address, to, value, data, suggest_fees(node, args.max_fee, args.priority_fee))
    check_native_funds(node, tx)
    confirm(describe(tx, what), args.yes)
    outcome = send_and_wait(node, account, tx)
    print(f"mined in block {outcome.block_number}, fee {format_amount(outcome.fee)} AZR", file=sys.stderr)
    return outcome.hash


def emit_sent(args: argparse.Namespace, tx_hash: str, text: str) -> int:
    emit(args, {"hash": tx_hash, "status": 1}, f"{text}: {tx_hash}")
    return 0


def calldata(contract: Contract, function: str, *fargs: Any) -> bytes:
    return bytes.fromhex(contract.encode_abi(function, list(fargs))[2:])


def cmd_delegate(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    azr = node.system_contract("AZR")
    delegatee = parse_address(args.delegatee) if args.delegatee else None
    account = load_signer(args)
    delegatee = delegatee or account.address
    if azr.functions.balanceOf(account.address).call() == 0:
        # not a rejection: the delegation stands and counts once tokens arrive
        print(f"note: {account.address} holds no AZR tokens yet; `azora wallet wrap` turns native AZR into votes",
              file=sys.stderr)
    tx_hash = send(args, node, account, azr.address, calldata(azr, "delegate", delegatee),
                   f"delegate AZR votes to {delegatee}")
    return emit_sent(args, tx_hash, f"votes delegated to {delegatee}")


def proposal_from_args(args: argparse.Namespace, node: Node) -> EncodedProposal:
    if (args.file is None) == (args.template is None):
        raise UsageError("give a proposal FILE or --template NAME (one of them)")
    if args.file is not None:
        if args.param:
            raise UsageError("--param goes with --template, not with a proposal file")
        description, actions = load_proposal_file(args.file)
    else:
        description, actions = build_template(args.template, args.param, node)
    return encode_proposal(args.description or description, actions, node)


def check_can_propose(node: Node, governor: Contract, proposal: EncodedProposal, proposer: str) -> None:
    """Verify what ``propose`` asserts: the proposer's votes reach the threshold; the id is new."""
    threshold = governor.functions.proposalThreshold().call()
    votes = node.system_contract("AZR").functions.getVotes(proposer).call()
    if votes < threshold:
        raise WalletError(f"{proposer} has {format_amount(votes)} votes; proposing needs {format_amount(threshold)} "
                          "(wrap AZR, `azora dao delegate`, and wait one block)")
    head = node.w3.eth.block_number
    if head > 0 and governor.functions.getVotes(proposer, head - 1).call() < threshold:
        # the Governor counts the votes of the block before the proposal; the node estimates
        # gas in the head block's context, so votes gained in the head block count one block later
        raise WalletError(f"{proposer}'s votes reached the threshold only in block {head}: "
                          "they count for proposals from the next block on; wait for one more block")
    proposal_id = hash_proposal(governor, proposal)
    state = get_state(governor, proposal_id)
    if state is not None:
        raise WalletError(f"proposal {proposal_id} exists already ({state}); change the description")


def hash_proposal(governor: Contract, proposal: EncodedProposal) -> int:
    # the Governor's own hashProposal, so a Governor that derives ids differently is followed
    return int(governor.functions.hashProposal(proposal.targets, proposal.values, proposal.calldatas,
                                               proposal.description_hash).call())


def dry_run(args: argparse.Namespace, node: Node, proposal: EncodedProposal) -> int:
    decoder = ActionDecoder(node)
    actions = [{**a, "value": format_amount(a["value"])} for a in
               (decoder.decode(t, v, c) for t, v, c in zip(proposal.targets, proposal.values, proposal.calldatas))]
    proposal_id = hash_proposal(get_governor(node), proposal)
    value = {"proposalId": str(proposal_id), "description": proposal.description, "actions": actions,
             "targets": proposal.targets, "values": [str(v) for v in proposal.values],
             "calldatas": ["0x" + c.hex() for c in proposal.calldatas]}
    emit(args, value, "\n".join([f"proposal {proposal_id} (not sent)", f"  {proposal.description}",
                                 "actions", *(format_action(i, a) for i, a in enumerate(actions, 1))]))
    return 0


def created_proposal_id(node: Node, governor: Contract, tx_hash: str) -> int:
    """The id the Governor logged (not recomputed here, so a Governor that derives ids
    differently is still reported right)."""
    receipt = node.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
    [created] = governor.events.ProposalCreated().process_receipt(receipt, errors=DISCARD)
    return int(created.args.proposalId)


def cmd_propose(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    proposal = proposal_from_args(args, node)
    if args.dry_run:
        return dry_run(args, node, proposal)
    governor = get_governor(node)
    check_can_propose(node, governor, proposal, signer_address(args))
    account = load_signer(args)
    data = calldata(governor, "propose", proposal.targets, proposal.values, proposal.calldatas, proposal.description)
    tx_hash = send(args, node, account, governor.address, data, f"propose: {proposal.description.splitlines()[0]}")
    pid = str(created_proposal_id(node, governor, tx_hash))
    emit(args, {"proposalId": pid, "hash": tx_hash}, f"proposal {pid} created: {tx_hash}")
    return 0


def require_state(governor: Contract, proposal_id: int, allowed: tuple[str, ...], action: str) -> str:
    state = get_state(governor, proposal_id)
    if state is None:
        raise WalletError(f"no proposal {proposal_id} on the Governor at {governor.address}")
    if state not in allowed:
        raise WalletError(f"proposal {proposal_id} is {state}: only {' or '.join(allowed)} proposals can {action}")
    return state


def check_can_vote(node: Node, governor: Contract, proposal_id: int, voter: str, allowed: tuple[str, ...]) -> int:
    """Verify what ``castVote`` asserts (Active, not voted yet); also that the vote would weigh anything."""
    if allowed == ("Active",) and get_state(governor, proposal_id) == "Pending":
        snapshot = governor.functions.proposalSnapshot(proposal_id).call()
        raise WalletError(f"proposal {proposal_id} is Pending: voting opens after block {snapshot} "
                          f"(~{format_time(Clock(node).time_of(snapshot + 1))})")
    state = require_state(governor, proposal_id, allowed, "take votes")
    if governor.functions.hasVoted(proposal_id, voter).call():
        raise WalletError(f"{voter} has already voted on proposal {proposal_id}")
    snapshot = governor.functions.proposalSnapshot(proposal_id).call()
    if state == "Active":
        weight = governor.functions.getVotes(voter, snapshot).call()
        if weight == 0:
            raise WalletError(f"{voter} had no votes at the snapshot (block {snapshot}): "
                              "votes count only if delegated before it")
        return int(weight)
    return 0


def cmd_vote(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    governor = get_governor(node)
    pid = parse_proposal_id(args.id)
    weight = check_can_vote(node, governor, pid, signer_address(args), ("Active",))
    account = load_signer(args)
    support = SUPPORT[args.support]
    data = calldata(governor, "castVoteWithReason", pid, support, args.reason) if args.reason else \
        calldata(governor, "castVote", pid, support)
    tx_hash = send(args, node, account, governor.address, data,
                   f"vote {args.support} on proposal {pid} with {format_amount(weight)} votes")
    return emit_sent(args, tx_hash, f"voted {args.support}")


# -- signed ballots --------------------------------------------------------------------------------

def ballot_typed_data(governor: Contract, proposal_id: int, support: int, voter: str, nonce: int) -> dict[str, Any]:
    """The EIP-712 ``Ballot`` the Governor checks, in the domain it reports (EIP-5267)."""
    fields, *values = governor.functions.eip712Domain().call()[:6]
    bits = fields[0] if isinstance(fields, bytes) else int(fields)
    domain_types, domain = [], {}
    for bit, ((name, kind), value) in enumerate(zip(DOMAIN_FIELDS, values)):
        if bits & (1 << bit):
            domain_types.append({"name": name, "type": kind})
            domain[name] = value
    return {"types": {"EIP712Domain": domain_types, "Ballot": BALLOT_TYPES}, "primaryType": "Ballot",
            "domain": domain, "message": {"proposalId": proposal_id, "support": support, "voter": voter, "nonce": nonce}}


def cmd_vote_by_sig(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    governor = get_governor(node)
    pid = parse_proposal_id(args.id)
    # a ballot may be signed while the proposal is Pending; it can only be relayed once Active
    check_can_vote(node, governor, pid, signer_address(args), ("Pending", "Active"))
    account = load_signer(args)
    nonce = governor.functions.nonces(account.address).call()
    support = SUPPORT[args.support]
    signed = account.sign_message(encode_typed_data(full_message=ballot_typed_data(governor, pid, support,
                                                                                   account.address, nonce)))
    ballot = {"governor": governor.address, "chainId": node.chain_id, "proposalId": str(pid),
              "support": args.support, "voter": account.address, "nonce": nonce,
              "signature": "0x" + bytes(signed.signature).hex()}
    args.out.write_text(json.dumps(ballot, indent=2) + "\n")
    emit(args, {"file": str(args.out), **ballot}, f"ballot for {args.support} on proposal {pid} written to {args.out}")
    return 0


def read_ballot(path: Path) -> dict[str, Any]:
    try:
        ballot = json.loads(path.read_text())
    except FileNotFoundError:
        raise WalletError(f"ballot file {path} not found") from None
    except ValueError:
        raise WalletError(f"ballot file {path} is not JSON") from None
    needed = {"governor", "chainId", "proposalId", "support", "voter", "nonce", "signature"}
    if not isinstance(ballot, dict) or not needed <= set(ballot) or ballot["support"] not in SUPPORT:
        raise WalletError(f"ballot file {path} is not a ballot written by `azora dao vote-by-sig`")
    return ballot


def check_ballot(node: Node, governor: Contract, ballot: dict[str, Any]) -> tuple[int, str, bytes]:
    """Verify what ``castVoteBySig`` asserts: this chain and Governor, a signature by the voter,
    the vote checks, the voter's current nonce."""
    if int(ballot["chainId"]) != node.chain_id or to_checksum_address(ballot["governor"]) != governor.address:
        raise WalletError(f"the ballot is for the Governor {ballot['governor']} on chain {ballot['chainId']}, "
                          f"not {governor.address} on chain {node.chain_id}")
    pid, voter = int(ballot["proposalId"]), parse_address(ballot["voter"])
    signature = bytes.fromhex(str(ballot["signature"]).removeprefix("0x"))
    typed = ballot_typed_data(governor, pid, SUPPORT[ballot["support"]], voter, int(ballot["nonce"]))
    try:
        signer = Account.recover_message(encode_typed_data(full_message=typed), signature=signature)
    except ValueError:
        signer = None
    if len(signature) != 65 or signer != voter:
        raise WalletError(f"the ballot's signature is not {voter}'s")
    check_can_vote(node, governor, pid, voter, ("Active",))
    nonce = governor.functions.nonces(voter).call()
    if int(ballot["nonce"]) != nonce:
        raise WalletError(f"the ballot was signed with nonce {ballot['nonce']}, but {voter}'s nonce is now {nonce} "
                          "(a later signed vote of theirs was relayed first)")
    return pid, voter, signature


def cmd_relay(args: argparse.Namespace) -> int:
    ballot = read_ballot(args.ballot)
    node = Node(args.rpc)
    governor = get_governor(node)
    pid, voter, signature = check_ballot(node, governor, ballot)
    account = load_signer(args)
    data = calldata(governor, "castVoteBySig", pid, SUPPORT[ballot["support"]], voter, signature)
    tx_hash = send(args, node, account, governor.address, data,
                   f"relay {voter}'s vote {ballot['support']} on proposal {pid}")
    return emit_sent(args, tx_hash, f"relayed {voter}'s vote")


# -- the proposal's life after the vote ------------------------------------------------------------

def lifecycle_call(node: Node, governor: Contract, function: str, proposal: CreatedProposal) -> bytes:
    return calldata(governor, function, proposal.targets, proposal.values, proposal.calldatas,
                    proposal.description_hash)


def cmd_queue(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    governor = get_governor(node)
    pid = parse_proposal_id(args.id)
    state = get_state(governor, pid)
    if state == "Active":
        deadline = governor.functions.proposalDeadline(pid).call()
        raise WalletError(f"proposal {pid} is Active: voting ends after block {deadline} "
                          f"(~{format_time(Clock(node).time_of(deadline))})")
    require_state(governor, pid, ("Succeeded",), "be queued")
    proposal = find_proposal(node, governor, pid)
    account = load_signer(args)
    tx_hash = send(args, node, account, governor.address, lifecycle_call(node, governor, "queue", proposal),
                   f"queue proposal {pid} in the Timelock")
    return emit_sent(args, tx_hash, f"queued; executable from {format_time(get_eta(governor, pid))}")


def cmd_execute(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    governor = get_governor(node)
    pid = parse_proposal_id(args.id)
    require_state(governor, pid, ("Queued",), "be executed")
    eta = get_eta(governor, pid)
    latest = node.w3.eth.get_block("latest")["timestamp"]
    if latest < eta:
        raise WalletError(f"proposal {pid} is queued until {format_time(eta)}: the Timelock delay has "
                          f"{eta - latest} s to run (latest block at {format_time(latest)})")
    proposal = find_proposal(node, governor, pid)
    treasury = node.w3.eth.get_balance(node.contract_address("Timelock"))  # type: ignore[arg-type]
    if sum(proposal.values) > treasury:
        raise WalletError(f"the actions pay {format_amount(sum(proposal.values))} AZR; the treasury (Timelock) "
                          f"holds {format_amount(treasury)}")
    account = load_signer(args)
    tx_hash = send(args, node, account, governor.address, lifecycle_call(node, governor, "execute", proposal),
                   f"execute proposal {pid}")
    return emit_sent(args, tx_hash, f"proposal {pid} executed")


def cmd_cancel(args: argparse.Namespace) -> int:
    node = Node(args.rpc)
    governor = get_governor(node)
    pid = parse_proposal_id(args.id)
    require_state(governor, pid, ("Pending",), "be canceled (voting has started)")
    proposal = find_proposal(node, governor, pid)
    if signer_address(args) != proposal.proposer:
        raise WalletError(f"only the proposer {proposal.proposer} can cancel proposal {pid}")
    account = load_signer(args)
    tx_hash = send(args, node, account, governor.address, lifecycle_call(node, governor, "cancel", proposal),
                   f"cancel proposal {pid}")
    return emit_sent(args, tx_hash, f"proposal {pid} canceled")


DAO_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "delegate": cmd_delegate, "propose": cmd_propose, "templates": cmd_templates, "list": cmd_list,
    "show": cmd_show, "vote": cmd_vote, "vote-by-sig": cmd_vote_by_sig, "relay": cmd_relay,
    "queue": cmd_queue, "execute": cmd_execute, "cancel": cmd_cancel,
}
