"""Proposal templates: one per governed parameter, each derived from the real contract function.

A template turns ``--param K=V`` pairs into the actions of a proposal (target, function
signature, arguments, value) and a default description. A parameter left out keeps the value the
chain holds now (read from the contract), so ``--template oracle-committee --param quorum=3``
changes the quorum and nothing else; a parameter with no current value must be given.

The signatures are those of ``contracts/*.vy`` (``setCourse`` as the catalog with IRI and title
declares it); ``NEWER_FUNCTIONS`` lets ``azora dao show`` decode them even where a deployed
artifact predates them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from eth_utils import keccak, to_checksum_address

from wallet.errors import UsageError, WalletError
from wallet.rpc import Node
from wallet.tokens import resolve_token
from wallet.units import format_amount, parse_address, parse_amount

SET_COURSE = "setCourse(bytes32,address,uint256,bool,string,string)"
# functions templates call that a deployed artifact may predate, with their argument names
NEWER_FUNCTIONS: dict[str, tuple[str, ...]] = {
    SET_COURSE: ("course_id", "issuer", "reward_weight", "active", "iri", "title"),
}
BPS = 10_000


@dataclass(frozen=True)
class Action:
    """One call the Timelock makes: ``target`` is a system contract's name or a 0x address;
    an empty ``signature`` is a plain transfer of ``value`` (wei)."""

    target: str
    signature: str
    args: tuple[Any, ...] = ()
    value: int = 0


@dataclass(frozen=True)
class Param:
    name: str
    help: str
    parse: Callable[[str, Node], Any]
    current: Callable[[Node, dict[str, Any]], Any] | None = None   # the chain's value when left out


@dataclass(frozen=True)
class Template:
    name: str
    summary: str
    params: tuple[Param, ...]
    build: Callable[[dict[str, Any], Node], tuple[str, list[Action]]]


# -- parameter parsers (text as typed on the command line -> contract argument) -------------------

def parse_int(text: str, node: Node) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise WalletError(f"{text!r} is not a whole number") from None


def parse_azr(text: str, node: Node) -> int:
    return parse_amount(text)


def parse_bps(text: str, node: Node) -> int:
    value = parse_int(text, node)
    if not 0 <= value <= BPS:
        raise WalletError(f"{text!r} is not in basis points (0..10000)")
    return value


def parse_text(text: str, node: Node) -> str:
    return text


def parse_bool(text: str, node: Node) -> bool:
    if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
        raise WalletError(f"{text!r} is not true or false")
    return text.lower() in ("true", "yes", "1")


def parse_account(text: str, node: Node) -> str:
    """A 0x address or a system contract's name (``Timelock`` for the DAO itself)."""
    if text.startswith(("0x", "0X")):
        return parse_address(text)
    return node.contract_address(text)


def parse_accounts(text: str, node: Node) -> list[str]:
    return [parse_account(part.strip(), node) for part in text.split(",") if part.strip()]


def parse_course(text: str, node: Node) -> bytes:
    """A course by its 0x id (32 bytes) or its activity IRI (the id is keccak256 of the IRI)."""
    if text.startswith("0x") and len(text) == 66:
        return bytes.fromhex(text[2:])
    return keccak(text=text)


def parse_token(text: str, node: Node) -> str:
    """An a-token (or AZR) by symbol or address -> its address."""
    return resolve_token(node, text).address


def parse_claim(text: str, node: Node) -> bytes:
    if not (text.startswith("0x") and len(text) == 66):
        raise WalletError(f"{text!r} is not a 0x claim key of 32 bytes")
    return bytes.fromhex(text[2:])


# -- reading what the chain holds now ------------------------------------------------------------

def view(contract: str, function: str, *args: Any) -> Callable[[Node, dict[str, Any]], Any]:
    def read(node: Node, values: dict[str, Any]) -> Any:
        return getattr(node.system_contract(contract).functions, function)(*args).call()
    return read


def token_view(function: str) -> Callable[[Node, dict[str, Any]], Any]:
    def read(node: Node, values: dict[str, Any]) -> Any:
        return getattr(node.contract_at(values["token"], "AToken").functions, function)().call()
    return read


def constant(value: Any) -> Callable[[Node, dict[str, Any]], Any]:
    return lambda node, values: value


def the_timelock(node: Node, values: dict[str, Any]) -> str:
    return node.contract_address("Timelock")


def course_field(index: int) -> Callable[[Node, dict[str, Any]], Any]:
    def read(node: Node, values: dict[str, Any]) -> Any:
        return node.system_contract("ProofOfKnowledge").functions.courses(values["course"]).call()[index]
    return read


# -- builders ------------------------------------------------------------------------------------

def build_oracle_committee(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    # the contract wants the members in strictly ascending address order
    members = sorted({to_checksum_address(m) for m in v["members"]}, key=lambda a: int(a, 16))
    if not 1 <= v["quorum"] <= len(members):
        raise WalletError(f"oracle quorum {v['quorum']} must be between 1 and the {len(members)} members")
    return (f"Set the oracle committee to {len(members)} members, quorum {v['quorum']}",
            [Action("ProofOfKnowledge", "setOracleCommittee(address[],uint256)", (members, v["quorum"]))])


def build_emission(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    return (f"Set emission: base reward {format_amount(v['base_reward'])} AZR, epoch emission "
            f"{format_amount(v['epoch_emission'])} AZR, learner cap {format_amount(v['learner_epoch_cap'])} AZR",
            [Action("ProofOfKnowledge", "setEmission(uint256,uint256,uint256)",
                    (v["base_reward"], v["epoch_emission"], v["learner_epoch_cap"]))])


def build_challenge(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    return (f"Set challenge parameters: window {v['window']} s, bond {format_amount(v['bond'])} AZR, "
            f"timeout {v['timeout']} s, minimum score {v['min_score']} bps",
            [Action("ProofOfKnowledge", "setChallengeParams(uint256,uint256,uint256,uint16)",
                    (v["window"], v["bond"], v["timeout"], v["min_score"]))])


def build_add_course(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    course_id = keccak(text=v["iri"])
    return (f"Add course {v['title']!r} ({v['iri']})",
            [Action("ProofOfKnowledge", SET_COURSE,
                    (course_id, v["issuer"], v["weight"], True, v["iri"], v["title"]))])


def build_retire_course(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    if int(v["issuer"], 16) == 0:
        raise WalletError(f"course 0x{v['course'].hex()} is not in the catalog")
    # an empty IRI keeps the IRI and title the catalog records
    return (f"Retire course 0x{v['course'].hex()}",
            [Action("ProofOfKnowledge", SET_COURSE, (v["course"], v["issuer"], v["weight"], False, "", ""))])


def build_create_atoken(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    factory = node.system_contract("ATokenFactory")
    if int(factory.functions.tokenBySymbol(v["symbol"]).call(), 16) != 0:
        raise WalletError(f"an a-token with symbol {v['symbol']} exists already")
    if not 0 < len(v["symbol"].encode()) <= 5 or len(v["name"].encode()) > 25:
        raise WalletError("an a-token's symbol has 1 to 5 characters and its name at most 25")
    return (f"Create a-token {v['symbol']} ({v['name']}), issuer {v['issuer']}, mint cap "
            f"{format_amount(v['mint_cap'])} per {v['mint_period']} s, reserve {format_amount(v['reserve'])} AZR",
            [Action("ATokenFactory", "createAToken(string,string,address,uint256,uint256)",
                    (v["name"], v["symbol"], v["issuer"], v["mint_cap"], v["mint_period"]), v["reserve"])])


def symbol_of(node: Node, token: str) -> str:
    return str(node.contract_at(token, "AToken").functions.symbol().call())


def build_atoken_issuer(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    return (f"Set the issuer of a-token {symbol_of(node, v['token'])} to {v['issuer']}",
            [Action(v["token"], "setIssuer(address)", (v["issuer"],))])


def build_atoken_mint_cap(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    if v["mint_period"] == 0:
        raise WalletError("an a-token's mint period must be above zero")
    return (f"Set the mint cap of a-token {symbol_of(node, v['token'])} to {format_amount(v['mint_cap'])} "
            f"per {v['mint_period']} s",
            [Action(v["token"], "setMintLimit(uint256,uint256)", (v["mint_cap"], v["mint_period"]))])


def build_release_reserve(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    reserve = node.contract_at(v["token"], "AToken").functions.reserveBalance().call()
    if v["amount"] > reserve:
        raise WalletError(f"the reserve of {v['token']} holds {format_amount(reserve)} AZR, "
                          f"less than {format_amount(v['amount'])}")
    return (f"Release {format_amount(v['amount'])} AZR of the national reserve of {symbol_of(node, v['token'])} "
            f"to {v['to']}",
            [Action(v["token"], "releaseReserve(address,uint256)", (v["to"], v["amount"]))])


def build_validator_params(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    if not 1 <= v["max_validators"] <= 100:
        raise WalletError("the validator set holds 1 to 100 validators")
    return (f"Set validator parameters: minimum bond {format_amount(v['minimum_bond'])} AZR, at most "
            f"{v['max_validators']} validators, slash {v['slash_fraction']} bps, jail {v['jail_duration']} s, "
            f"unbonding {v['unbonding_delay']} s, reporter share {v['reporter_share']} bps",
            [Action("ValidatorRegistry", "setParameters(uint256,uint256,uint256,uint256,uint256,uint256)",
                    (v["minimum_bond"], v["max_validators"], v["unbonding_delay"], v["slash_fraction"],
                     v["reporter_share"], v["jail_duration"]))])


def build_validator_course(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    return (f"Require the credential of course 0x{v['course'].hex()} of validators",
            [Action("ValidatorRegistry", "setValidatorCourse(bytes32)", (v["course"],))])


def build_reward_per_epoch(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    return (f"Pay validators {format_amount(v['amount'])} AZR per epoch",
            [Action("ValidatorRegistry", "setRewardPerEpoch(uint256)", (v["amount"],))])


def build_escrow_ruling(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    escrow = node.system_contract("Escrow")
    arbiter = escrow.functions.jobs(v["job"]).call()[3]
    if arbiter != node.contract_address("Timelock"):
        raise WalletError(f"escrow job {v['job']} has arbiter {arbiter}, not the DAO's Timelock")
    return (f"As arbiter of escrow job {v['job']}, give the provider {v['provider_share']} bps of milestone "
            f"{v['milestone']}",
            [Action("Escrow", "rule(uint256,uint256,uint256)", (v["job"], v["milestone"], v["provider_share"]))])


def build_revoke_credential(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    record = node.system_contract("Credentials").functions.credential(v["id"]).call()
    if int(record[2], 16) == 0:
        raise WalletError(f"no credential {v['id']}")
    if record[2] != node.contract_address("Timelock"):
        raise WalletError(f"credential {v['id']} was issued by {record[2]}: only its issuer can revoke it, "
                          "not the DAO's Timelock")
    if record[5] != 0:
        raise WalletError(f"credential {v['id']} is already revoked")
    return (f"Revoke credential {v['id']}: {v['reason']}",
            [Action("Credentials", "revoke(uint256,string)", (v["id"], v["reason"]))])


def build_credential_issuer(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    verb = "Allow" if v["allowed"] else "Stop"
    return (f"{verb} {v['issuer']} to issue credentials",
            [Action("Credentials", "setIssuer(address,bool)", (v["issuer"], v["allowed"]))])


def build_resolve_challenge(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    verdict = "fraudulent" if v["fraudulent"] else "genuine"
    return (f"Rule claim 0x{v['claim'].hex()} {verdict}",
            [Action("ProofOfKnowledge", "resolveChallenge(bytes32,bool)", (v["claim"], v["fraudulent"]))])


def build_treasury_transfer(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    timelock = node.contract_address("Timelock")
    if v["token"] is None:
        have = node.w3.eth.get_balance(timelock)  # type: ignore[arg-type]
        action = Action(v["to"], "", (), v["amount"])
        unit = "AZR (native)"
    else:
        token = node.contract_at(v["token"], "AToken")
        have = token.functions.balanceOf(timelock).call()
        action = Action(v["token"], "transfer(address,uint256)", (v["to"], v["amount"]))
        unit = token.functions.symbol().call()
    if v["amount"] > have:
        raise WalletError(f"the treasury holds {format_amount(have)} {unit}, less than {format_amount(v['amount'])}")
    return f"Pay {format_amount(v['amount'])} {unit} from the treasury to {v['to']}", [action]


GOVERNOR_SETTINGS = (("voting_delay", "setVotingDelay", "votingDelay"),
                     ("voting_period", "setVotingPeriod", "votingPeriod"),
                     ("proposal_threshold", "setProposalThreshold", "proposalThreshold"),
                     ("quorum", "setQuorumNumerator", "quorumNumerator"),
                     ("late_quorum_extension", "setLateQuorumExtension", "lateQuorumExtension"),
                     ("grace_period", "setGracePeriod", "gracePeriod"))


def build_governor(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    """One action per setting that differs from the chain's value."""
    governor = node.system_contract("Governor")
    actions, changes = [], []
    for param, setter, getter in GOVERNOR_SETTINGS:
        if v.get(param) is not None and v[param] != getattr(governor.functions, getter)().call():
            actions.append(Action("Governor", f"{setter}(uint256)", (v[param],)))
            changes.append(f"{param.replace('_', ' ')} {v[param]}")
    if not actions:
        raise UsageError("governor: give at least one --param that changes a setting "
                         f"({', '.join(p for p, _, _ in GOVERNOR_SETTINGS)})")
    return "Set the Governor's " + ", ".join(changes), actions


def build_timelock_delay(v: dict[str, Any], node: Node) -> tuple[str, list[Action]]:
    return (f"Set the Timelock delay to {v['delay']} s", [Action("Timelock", "update_delay(uint256)", (v["delay"],))])


def optional(name: str, help: str, parse: Callable[[str, Node], Any]) -> Param:
    """A parameter that is simply left out of the proposal when not given."""
    return Param(name, help, parse, constant(None))


TEMPLATES: tuple[Template, ...] = (
    Template("oracle-committee", "the Proof-of-Knowledge oracle committee and its quorum", (
        Param("members", "comma-separated oracle addresses (default: the current committee)", parse_accounts,
              view("ProofOfKnowledge", "getOracles")),
        Param("quorum", "signatures a completion needs", parse_int, view("ProofOfKnowledge", "quorum")),
    ), build_oracle_committee),
    Template("emission", "learner rewards: base reward, per-epoch emission, per-learner cap (AZR)", (
        Param("base_reward", "AZR for a weight-10000 course", parse_azr, view("ProofOfKnowledge", "baseReward")),
        Param("epoch_emission", "AZR per epoch at most", parse_azr, view("ProofOfKnowledge", "epochEmission")),
        Param("learner_epoch_cap", "AZR one learner earns per epoch at most", parse_azr,
              view("ProofOfKnowledge", "learnerEpochCap")),
    ), build_emission),
    Template("challenge", "claim challenges: window, bond, DAO timeout, minimum score", (
        Param("window", "seconds a claim can be challenged", parse_int, view("ProofOfKnowledge", "challengeWindow")),
        Param("bond", "challenger bond in AZR", parse_azr, view("ProofOfKnowledge", "challengeBond")),
        Param("timeout", "seconds the DAO has to resolve a challenge", parse_int,
              view("ProofOfKnowledge", "challengeTimeout")),
        Param("min_score", "lowest accepted score in basis points", parse_bps, view("ProofOfKnowledge", "minScore")),
    ), build_challenge),
    Template("add-course", "list a course in the catalog (id = keccak256 of its IRI)", (
        Param("iri", "the xAPI activity IRI", parse_text),
        Param("title", "a human-readable title", parse_text),
        Param("issuer", "credential issuer (default: the Timelock, i.e. the DAO)", parse_account, the_timelock),
        Param("weight", "reward weight in basis points (default 10000)", parse_int, constant(BPS)),
    ), build_add_course),
    Template("retire-course", "stop accepting completions of a course (IRI and title kept)", (
        Param("course", "the course's IRI or 0x id", parse_course),
        Param("issuer", "(default: unchanged)", parse_account, course_field(0)),
        Param("weight", "(default: unchanged)", parse_int, course_field(1)),
    ), build_retire_course),
    Template("create-atoken", "a new national a-token from the factory", (
        Param("name", "token name (at most 25 characters)", parse_text),
        Param("symbol", "symbol such as aKES (at most 5 characters)", parse_text),
        Param("issuer", "who may mint", parse_account),
        Param("mint_cap", "tokens mintable per period", parse_azr),
        Param("mint_period", "period length in seconds (default 86400)", parse_int, constant(86_400)),
        Param("reserve", "AZR from the treasury seeding its reserve (default 0)", parse_azr, constant(0)),
    ), build_create_atoken),
    Template("atoken-issuer", "set an a-token's issuer", (
        Param("token", "a-token symbol or address", parse_token),
        Param("issuer", "the new issuer (0x0 stops minting)", parse_account),
    ), build_atoken_issuer),
    Template("atoken-mint-cap", "set an a-token's mint cap and period", (
        Param("token", "a-token symbol or address", parse_token),
        Param("mint_cap", "tokens per period", parse_azr, token_view("mintCap")),
        Param("mint_period", "seconds (default: unchanged)", parse_int, token_view("mintPeriod")),
    ), build_atoken_mint_cap),
    Template("release-reserve", "release AZR of a national reserve (an a-token's backing)", (
        Param("token", "a-token symbol or address", parse_token),
        Param("to", "receiver", parse_account),
        Param("amount", "AZR", parse_azr),
    ), build_release_reserve),
    Template("validator-params", "validator registry: minimum bond, maximum set, slashing, jail, unbonding", (
        Param("minimum_bond", "AZR", parse_azr, view("ValidatorRegistry", "minimumBond")),
        Param("max_validators", "largest active set (1..100)", parse_int, view("ValidatorRegistry", "maxValidators")),
        Param("slash_fraction", "basis points of the bond slashed per equivocation", parse_bps,
              view("ValidatorRegistry", "slashFractionBps")),
        Param("jail_duration", "seconds an equivocator is jailed", parse_int, view("ValidatorRegistry", "jailDuration")),
        Param("unbonding_delay", "seconds unbonded AZR stays locked", parse_int,
              view("ValidatorRegistry", "unbondingDelay")),
        Param("reporter_share", "basis points of a slash paid to its reporter", parse_bps,
              view("ValidatorRegistry", "reporterShareBps")),
    ), build_validator_params),
    Template("validator-course", "the course whose credential validators need", (
        Param("course", "the course's IRI or 0x id", parse_course),
    ), build_validator_course),
    Template("validator-reward", "AZR paid to the active validators per epoch", (
        Param("amount", "AZR per epoch", parse_azr),
    ), build_reward_per_epoch),
    Template("escrow-ruling", "the DAO as an escrow job's arbiter rules a disputed milestone", (
        Param("job", "escrow job id", parse_int),
        Param("milestone", "milestone index", parse_int),
        Param("provider_share", "basis points paid to the provider (rest refunded)", parse_bps),
    ), build_escrow_ruling),
    Template("revoke-credential", "revoke a credential the DAO issued", (
        Param("id", "credential token id", parse_int),
        Param("reason", "kept on chain", parse_text),
    ), build_revoke_credential),
    Template("credential-issuer", "allow or stop a credential issuer", (
        Param("issuer", "the issuer's address", parse_account),
        Param("allowed", "true or false (default true)", parse_bool, constant(True)),
    ), build_credential_issuer),
    Template("resolve-challenge", "rule on a challenged Proof-of-Knowledge claim", (
        Param("claim", "0x claim key", parse_claim),
        Param("fraudulent", "true rejects the claim", parse_bool),
    ), build_resolve_challenge),
    Template("treasury-transfer", "pay from the treasury (the Timelock): native AZR or a token", (
        Param("to", "receiver", parse_account),
        Param("amount", "in whole units", parse_azr),
        Param("token", "AZR or an a-token symbol (default: native AZR)", parse_token, constant(None)),
    ), build_treasury_transfer),
    Template("governor", "the Governor's own settings (one action per setting changed)", tuple(
        optional(name, help, parse) for name, help, parse in (
            ("voting_delay", "blocks", parse_int), ("voting_period", "blocks", parse_int),
            ("proposal_threshold", "AZR of votes to propose", parse_azr),
            ("quorum", "basis points of the past supply", parse_bps),
            ("late_quorum_extension", "blocks", parse_int), ("grace_period", "seconds", parse_int))
    ), build_governor),
    Template("timelock-delay", "the Timelock's minimum delay", (
        Param("delay", "seconds", parse_int),
    ), build_timelock_delay),
)

def get_template(name: str) -> Template:
    for template in TEMPLATES:
        if template.name == name:
            return template
    raise UsageError(f"unknown template {name!r}; `azora dao templates` lists them")


def parse_param_pairs(pairs: list[str]) -> dict[str, str]:
    """``["quorum=3", "members=0x..,0x.."]`` -> a dict; a pair without ``=`` is a usage error."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError(f"--param {pair!r}: write it as NAME=VALUE")
        out[name.strip().replace("-", "_")] = value
    return out


def resolve_params(template: Template, given: dict[str, str], node: Node) -> dict[str, Any]:
    """Each parameter parsed from ``given`` or read from the chain; unknown or missing ones refused."""
    known = {p.name for p in template.params}
    unknown = sorted(set(given) - known)
    if unknown:
        raise UsageError(f"template {template.name} has no parameter {unknown[0]!r}; "
                         f"it takes {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    for param in template.params:
        if param.name in given:
            values[param.name] = param.parse(given[param.name], node)
        elif param.current is not None:
            values[param.name] = param.current(node, values)
        else:
            raise UsageError(f"template {template.name} needs --param {param.name}=... ({param.help})")
    return values


def build_template(name: str, pairs: list[str], node: Node) -> tuple[str, list[Action]]:
    template = get_template(name)
    return template.build(resolve_params(template, parse_param_pairs(pairs), node), node)
