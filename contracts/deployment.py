"""The system deployment as data: which contracts, in which order, with which arguments.

`system_deployment_plan(params)` returns a list of steps that one deployer account executes
in order, one transaction per step (so the deployer's nonce is the step index when it starts
from nonce 0). The genesis builder replays it with py-evm; the tests replay it with
titanoboa (tests/contracts/test_deployment.py). Arguments may be `Ref`s to the address of an
earlier `Deploy` or to the return value of an earlier `Call` with a `result` name.

`encode_step(step, values)` turns a step into the (to, data, value) of its transaction, so a
replayer needs nothing but an EVM:

    values = {}
    for step in system_deployment_plan(params):
        to, data, value = encode_step(step, values)
        # to None: contract creation, returning its address; else a call returning output
        ...
        record_result(step, values, address=created_address, output=return_data)

At the end the Timelock is the admin of every system contract, the Governor is its only
proposer, canceller and executor, and the deployer holds no role anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address

from contracts.build import load_artifact

ETHER = 10**18
DAY = 86_400

PROPOSER_ROLE = keccak(text="PROPOSER_ROLE")
CANCELLER_ROLE = keccak(text="CANCELLER_ROLE")
EXECUTOR_ROLE = keccak(text="EXECUTOR_ROLE")
DEFAULT_ADMIN_ROLE = b"\x00" * 32

# keccak of the activity IRI, as the oracle derives course ids from xAPI objects
VALIDATOR_COURSE_IRI = "https://azora.africa/courses/validator"
VALIDATOR_COURSE_ID = keccak(text=VALIDATOR_COURSE_IRI)
VALIDATOR_COURSE_TITLE = "Azora Validator"

# The catalog `azora dev` and `azora testnet init` start with, in the genesis' `azora.courses` form.
DEMO_COURSES: tuple[dict[str, Any], ...] = (
    {"iri": "https://azora.africa/courses/blockchain-101", "title": "Blockchain 101", "rewardWeight": 10_000},
    {"iri": "https://azora.africa/courses/smart-contracts", "title": "Smart Contracts with Vyper",
     "rewardWeight": 15_000},
    {"iri": "https://azora.africa/courses/digital-finance", "title": "Digital Finance Basics",
     "rewardWeight": 5_000},
)

# names under which `values` holds the system contracts, as azora_nodeInfo reports them
SYSTEM_CONTRACTS = (
    "AZR",
    "ATokenFactory",
    "Credentials",
    "ProofOfKnowledge",
    "Escrow",
    "Governor",
    "Timelock",
    "ValidatorRegistry",
)


@dataclass(frozen=True)
class Ref:
    """The value an earlier step produced: a deployed address or a named call result."""

    name: str


@dataclass(frozen=True)
class Deploy:
    """Create contract `artifact` with constructor `args`; its address is stored as `name`.

    With `blueprint`, the creation code is deployed as an ERC-5202 blueprint instead.
    """

    name: str
    artifact: str
    args: tuple[Any, ...] = ()
    value: int = 0
    blueprint: bool = False


@dataclass(frozen=True)
class Call:
    """Call `function` of the contract deployed as `target`; a `result` name keeps the output."""

    target: str
    function: str
    args: tuple[Any, ...] = ()
    value: int = 0
    result: str | None = None


@dataclass(frozen=True)
class Transfer:
    """Send native AZR to the contract deployed as `target` (empty calldata)."""

    target: str
    value: int


Step = Deploy | Call | Transfer


@dataclass(frozen=True)
class ValidatorSpec:
    """A genesis validator: its signing address and the AZR it bonds."""

    address: str
    stake: int


@dataclass(frozen=True)
class ATokenSpec:
    """A genesis a-token and the native AZR reserve it holds."""

    name: str
    symbol: str
    reserve: int
    mint_cap: int = 1_000_000 * ETHER
    mint_period: int = DAY
    issuer: str | None = None  # None: no issuer until the DAO appoints one


@dataclass(frozen=True)
class CourseSpec:
    """A genesis catalog course; its id is keccak256 of `iri`. No issuer: the DAO issues."""

    iri: str
    title: str
    reward_weight: int = 10_000
    active: bool = True
    issuer: str | None = None

    @property
    def course_id(self) -> bytes:
        return keccak(text=self.iri)


def parse_courses(entries: Sequence[Mapping[str, Any]]) -> list[CourseSpec]:
    """The genesis' `azora.courses` list: `{"iri", "title", "rewardWeight"?, "active"?, "issuer"?}`."""
    specs = []
    for entry in entries:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("iri"), str) or not entry["iri"]:
            raise ValueError(f"genesis: azora.courses entry {entry!r} needs an `iri` string")
        specs.append(CourseSpec(
            iri=entry["iri"], title=str(entry.get("title", "")),
            reward_weight=_quantity(entry.get("rewardWeight", 10_000)), active=bool(entry.get("active", True)),
            issuer=entry.get("issuer"),
        ))
    ids = [c.course_id for c in specs]
    if len(set(ids)) != len(ids) or VALIDATOR_COURSE_ID in ids:
        raise ValueError("genesis: azora.courses lists a course twice (or the validator course)")
    return specs


def _quantity(value: Any) -> int:
    # genesis files write numbers as JSON integers or hex/decimal strings, as geth accepts
    return int(value, 0) if isinstance(value, str) else int(value)


def default_atokens() -> list[ATokenSpec]:
    """The five genesis a-tokens sharing the 54 million AZR seed reserve for African nations."""
    share = 54_000_000 * ETHER // 5
    return [
        ATokenSpec("Azora South African Rand", "aZAR", share),
        ATokenSpec("Azora Nigerian Naira", "aNGN", share),
        ATokenSpec("Azora Kenyan Shilling", "aKES", share),
        ATokenSpec("Azora Ghanaian Cedi", "aGHS", share),
        ATokenSpec("Azora Ethiopian Birr", "aETB", share),
    ]


@dataclass(frozen=True)
class DeploymentParams:
    """Everything the system deployment depends on (the `azora` section of a genesis)."""

    deployer: str
    oracles: Sequence[str]
    oracle_quorum: int
    validators: Sequence[ValidatorSpec]
    atokens: Sequence[ATokenSpec] = field(default_factory=default_atokens)
    courses: Sequence[CourseSpec] = ()
    mining_reserve: int = 100_000_000 * ETHER
    treasury_reserve: int = 50_000_000 * ETHER
    credentials_base_uri: str = ""
    # timelock and governor (voting periods in blocks, the AZR clock); see check_governance_timing
    timelock_delay: int = DAY
    voting_delay: int = 1
    voting_period: int = 50_400
    proposal_threshold: int = 10_000 * ETHER
    quorum_bps: int = 400
    late_quorum_extension: int = 14_400
    grace_period: int = 14 * DAY
    queuing_period: int = 50_400
    # proof-of-knowledge mining
    epoch_duration: int = DAY
    halving_epochs: int = 4 * 365
    base_reward: int = 100 * ETHER
    epoch_emission: int = 100_000 * ETHER
    learner_epoch_cap: int = 500 * ETHER
    challenge_window: int = 3 * DAY
    challenge_bond: int = 100 * ETHER
    challenge_timeout: int = 7 * DAY
    # validator registry
    validator_course_id: bytes = VALIDATOR_COURSE_ID
    minimum_bond: int = 10_000 * ETHER
    max_validators: int = 100
    unbonding_delay: int = 21 * DAY
    slash_fraction_bps: int = 500
    reporter_share_bps: int = 1_000
    jail_duration: int = 30 * DAY
    # validator rewards: paid per epoch by the node's system call (as Prague system contracts)
    system_caller: str = "0xfffffffffffffffffffffffffffffffffffffffe"
    validator_reward_reserve: int = 50_000_000 * ETHER
    reward_per_epoch: int = 10_000 * ETHER
    # seconds per block that check_governance_timing assumes at most (blocks come every second
    # by default, plus a consensus round)
    block_time: int = 2


def governance_latency(p: DeploymentParams) -> int:
    """Seconds from a proposal to the first moment the Timelock can run it, at `block_time`.

    Voting opens after `voting_delay` blocks, lasts `voting_period` blocks (plus a late-quorum
    extension), the proposal is queued in the next block and runs `timelock_delay` seconds later.
    """
    blocks = p.voting_delay + p.voting_period + p.late_quorum_extension + 1
    return blocks * p.block_time + p.timelock_delay


def check_governance_timing(p: DeploymentParams) -> None:
    """Refuse periods with which the DAO could not act on a Proof-of-Knowledge claim in time.

    The DAO challenges a claim (for free) and rules on a challenge only through a proposal, so a
    whole proposal cycle must fit in the challenge window, and in the challenge timeout after
    which an unruled challenge lapses (docs/contracts.md, "Governance timing").
    """
    latency = governance_latency(p)
    for name in ("challenge_window", "challenge_timeout"):
        if latency > getattr(p, name):
            raise ValueError(
                f"deployment: a DAO proposal takes {latency} s (voting at {p.block_time} s per block "
                f"+ timelock_delay {p.timelock_delay} s), longer than {name} {getattr(p, name)} s: "
                "the DAO could not act in time")


def system_deployment_plan(params: DeploymentParams) -> list[Step]:
    """The ordered steps that deploy and wire the whole system from `params.deployer`."""
    check_governance_timing(params)
    return [
        *_deploy_core(params),
        *_configure_mining(params),
        *_register_validators(params),
        *_create_atokens(params),
        *_hand_over_to_dao(params),
    ]


def _deploy_core(p: DeploymentParams) -> list[Step]:
    return [
        Deploy("AZR", "AZR"),
        # bootstrap admin = deployer, renounced in the last step; the Governor gets its roles later
        Deploy("Timelock", "Timelock", (p.timelock_delay, [], [], p.deployer)),
        Deploy("Credentials", "Credentials", (p.deployer, p.credentials_base_uri)),
        Deploy(
            "ProofOfKnowledge",
            "ProofOfKnowledge",
            (
                Ref("Credentials"), p.epoch_duration, p.halving_epochs, p.base_reward,
                p.epoch_emission, p.learner_epoch_cap, p.challenge_window, p.challenge_bond,
                p.challenge_timeout,
            ),
            value=p.mining_reserve,
        ),
        Deploy("ATokenBlueprint", "AToken", blueprint=True),
        Deploy("ATokenFactory", "ATokenFactory", (Ref("ATokenBlueprint"), Ref("Timelock"))),
        Deploy("Escrow", "Escrow"),
        Deploy(
            "Governor",
            "Governor",
            (
                Ref("AZR"), Ref("Timelock"), p.voting_delay, p.voting_period,
                p.proposal_threshold, p.quorum_bps, p.late_quorum_extension, p.grace_period,
                p.queuing_period,
            ),
        ),
        Deploy(
            "ValidatorRegistry",
            "ValidatorRegistry",
            (
                Ref("AZR"), Ref("Credentials"), Ref("Timelock"), p.validator_course_id,
                p.minimum_bond, p.max_validators, p.unbonding_delay, p.slash_fraction_bps,
                p.reporter_share_bps, p.jail_duration, p.system_caller, p.reward_per_epoch,
            ),
            value=p.validator_reward_reserve,
        ),
    ]


def _configure_mining(p: DeploymentParams) -> list[Step]:
    members = sorted(p.oracles, key=lambda a: int(a, 16))
    return [
        # the DAO itself issues (and can revoke) validator credentials, and the registry counts
        # only credentials of issuers it trusts
        Call("Credentials", "setIssuer", (Ref("Timelock"), True)),
        Call("ValidatorRegistry", "setIssuerTrust", (Ref("Timelock"), True)),
        Call("Credentials", "setMinter", (Ref("ProofOfKnowledge"), True)),
        Call("ProofOfKnowledge", "setOracleCommittee", (members, p.oracle_quorum)),
        Call(
            "ProofOfKnowledge", "setCourse",
            (p.validator_course_id, Ref("Timelock"), 10_000, True, *_validator_course_label(p)),
        ),
        *(
            Call(
                "ProofOfKnowledge", "setCourse",
                (c.course_id, c.issuer or Ref("Timelock"), c.reward_weight, c.active, c.iri, c.title),
            )
            for c in p.courses
        ),
    ]


def _validator_course_label(p: DeploymentParams) -> tuple[str, str]:
    # a chain configured with another validator course id has no IRI we could name for it
    if p.validator_course_id == VALIDATOR_COURSE_ID:
        return VALIDATOR_COURSE_IRI, VALIDATOR_COURSE_TITLE
    return "", ""


def _register_validators(p: DeploymentParams) -> list[Step]:
    steps: list[Step] = [Call("Credentials", "setMinter", (p.deployer, True))]
    for v in p.validators:
        steps.append(
            Call(
                "Credentials", "issueFor",
                (Ref("Timelock"), v.address, p.validator_course_id, 1, 0, 0, b"\x00" * 32, []),
                result=f"credential:{v.address}",
            )
        )
    steps.append(Call("Credentials", "setMinter", (p.deployer, False)))
    total = sum(v.stake for v in p.validators)
    if total:
        steps.append(Call("AZR", "deposit", value=total))
        steps.append(Call("AZR", "approve", (Ref("ValidatorRegistry"), total)))
    # registering takes the minimum bond at once (an unbonded candidate would hold a slot)
    steps.extend(
        Call("ValidatorRegistry", "registerFor", (v.address, Ref(f"credential:{v.address}"), v.stake))
        for v in p.validators
    )
    # the set that signs from height 1, against which evidence of the first epoch is checked
    steps.append(Call("ValidatorRegistry", "recordGenesisSet"))
    return steps


def _create_atokens(p: DeploymentParams) -> list[Step]:
    zero = "0x" + "00" * 20
    return [
        Call(
            "ATokenFactory", "createAToken",
            (t.name, t.symbol, t.issuer or zero, t.mint_cap, t.mint_period),
            value=t.reserve, result=t.symbol,
        )
        for t in p.atokens
    ]


def _hand_over_to_dao(p: DeploymentParams) -> list[Step]:
    steps: list[Step] = [
        Call("Timelock", "grantRole", (PROPOSER_ROLE, Ref("Governor"))),
        Call("Timelock", "grantRole", (CANCELLER_ROLE, Ref("Governor"))),
        Call("Timelock", "grantRole", (EXECUTOR_ROLE, Ref("Governor"))),
    ]
    for name in ("Credentials", "ProofOfKnowledge", "ATokenFactory", "ValidatorRegistry"):
        steps.append(Call(name, "transfer_ownership", (Ref("Timelock"),)))
    if p.treasury_reserve:
        steps.append(Transfer("Timelock", p.treasury_reserve))
    steps.append(Call("Timelock", "renounceRole", (DEFAULT_ADMIN_ROLE, p.deployer)))
    return steps


def plan_total_value(plan: Sequence[Step]) -> int:
    """Native AZR the deployer must hold (in the genesis alloc) to execute the plan."""
    return sum(step.value for step in plan)


def resolve(arg: Any, values: dict[str, Any]) -> Any:
    """Replace `Ref`s (also inside lists) by the values recorded so far."""
    if isinstance(arg, Ref):
        return values[arg.name]
    if isinstance(arg, (list, tuple)):
        return type(arg)(resolve(a, values) for a in arg)
    return arg


def _abi_types(inputs: list[dict[str, Any]]) -> list[str]:
    types = []
    for item in inputs:
        if item["type"].startswith("tuple"):
            inner = ",".join(_abi_types(item["components"]))
            types.append(f"({inner}){item['type'][5:]}")
        else:
            types.append(item["type"])
    return types


def _function_abi(artifact: str, function: str, n_args: int) -> dict[str, Any]:
    for item in load_artifact(artifact)["abi"]:
        if item.get("type") == "function" and item["name"] == function and len(item["inputs"]) == n_args:
            return item
    raise KeyError(f"{artifact} has no function {function} with {n_args} arguments")


def _constructor_types(artifact: str) -> list[str]:
    for item in load_artifact(artifact)["abi"]:
        if item.get("type") == "constructor":
            return _abi_types(item["inputs"])
    return []


def blueprint_initcode(creation_code: bytes) -> bytes:
    """Initcode that stores `creation_code` as an ERC-5202 blueprint (Vyper's preamble)."""
    blueprint = b"\xfe\x71\x00" + creation_code
    return b"\x61" + len(blueprint).to_bytes(2, "big") + b"\x3d\x81\x60\x0a\x3d\x39\xf3" + blueprint


def artifact_of(step: Step, plan: Sequence[Step]) -> str:
    """The artifact of the contract a Call or Transfer targets."""
    for earlier in plan:
        if isinstance(earlier, Deploy) and earlier.name == step.target:
            return earlier.artifact
    raise KeyError(step.target)


def encode_step(step: Step, values: dict[str, Any], plan: Sequence[Step] = ()) -> tuple[str | None, bytes, int]:
    """The transaction (to, data, value) of `step`; `to` is None for a contract creation.

    `plan` is only needed for Calls to resolve which artifact their target was deployed from.
    """
    if isinstance(step, Deploy):
        code = bytes.fromhex(load_artifact(step.artifact)["bytecode"][2:])
        if step.blueprint:
            return None, blueprint_initcode(code), step.value
        args = resolve(step.args, values)
        return None, code + encode(_constructor_types(step.artifact), list(args)), step.value
    if isinstance(step, Transfer):
        return values[step.target], b"", step.value
    fn = _function_abi(artifact_of(step, plan), step.function, len(step.args))
    types = _abi_types(fn["inputs"])
    selector = function_signature_to_4byte_selector(f"{step.function}({','.join(types)})")
    return values[step.target], selector + encode(types, list(resolve(step.args, values))), step.value


def record_result(
    step: Step, values: dict[str, Any], plan: Sequence[Step], address: str | None = None, output: bytes = b""
) -> None:
    """Store what `step` produced: a Deploy's address, or a named Call's decoded output."""
    if isinstance(step, Deploy):
        assert address is not None
        values[step.name] = to_checksum_address(address)
    elif isinstance(step, Call) and step.result is not None:
        fn = _function_abi(artifact_of(step, plan), step.function, len(step.args))
        (value,) = decode(_abi_types(fn["outputs"]), output)
        values[step.result] = to_checksum_address(value) if isinstance(value, str) else value


def create_address(sender: str, nonce: int) -> str:
    """The CREATE address of the contract `sender` deploys with `nonce`."""
    import rlp

    return to_checksum_address(keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:])


def predict_addresses(plan: Sequence[Step], deployer: str, nonce: int = 0) -> dict[str, str]:
    """Where every contract of the plan lands, before executing it.

    The deployer sends one transaction per step starting at `nonce`; the factory creates the
    a-tokens with its own nonce, which starts at 1 (EIP-161) and grows by one per token.
    """
    out: dict[str, str] = {}
    factory_nonce = 1
    for i, step in enumerate(plan):
        if isinstance(step, Deploy):
            out[step.name] = create_address(deployer, nonce + i)
        elif isinstance(step, Call) and step.target == "ATokenFactory" and step.function == "createAToken":
            out[step.args[1]] = create_address(out["ATokenFactory"], factory_nonce)
            factory_nonce += 1
    return out


def system_addresses(values: dict[str, Any], params: DeploymentParams) -> dict[str, str]:
    """The `contracts` table of azora_nodeInfo: system contracts and a-tokens by symbol."""
    table = {name: values[name] for name in SYSTEM_CONTRACTS}
    table.update({t.symbol: values[t.symbol] for t in params.atokens})
    return table
