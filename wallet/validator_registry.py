"""Every use of ValidatorRegistry's functions by ``azora validator``, in one place.

The ABI comes from ``contracts/build/ValidatorRegistry.json`` at run time, so a change of the
contract shows up here and nowhere else. Reads return plain values; writes return calldata.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3.contract import Contract

from wallet.rpc import Node
from wallet.tx import encode_call

CREDENTIAL_VALID = 1   # Credentials.STATUS_VALID
CREDENTIAL_STATUS = {0: "none", 1: "valid", 2: "revoked", 3: "expired"}


@dataclass(frozen=True)
class Candidate:
    registered: bool
    credential_id: int
    bond: int
    unbonding: int
    unbonding_release_at: int
    jailed_until: int


@dataclass(frozen=True)
class Parameters:
    minimum_bond: int
    max_validators: int
    unbonding_delay: int
    candidate_count: int
    max_candidates: int


@dataclass(frozen=True)
class CredentialCheck:
    """Why a credential does or does not count for the registry (``problem`` None: it counts)."""

    credential_id: int
    status: str
    problem: str | None


# the registry's bounded candidate list (MAX_CANDIDATES in the contract, not exposed as a getter)
MAX_CANDIDATES = 128


class Registry:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.contract: Contract = node.system_contract("ValidatorRegistry")

    @property
    def address(self) -> str:
        return str(self.contract.address)

    def candidate(self, address: str) -> Candidate:
        fields = self.contract.functions.candidates(address).call()
        return Candidate(*fields[:6])

    def parameters(self) -> Parameters:
        f = self.contract.functions
        return Parameters(f.minimumBond().call(), f.maxValidators().call(), f.unbondingDelay().call(),
                          f.candidateCount().call(), MAX_CANDIDATES)

    def is_eligible(self, address: str) -> bool:
        return bool(self.contract.functions.isEligible(address).call())

    def active_validators(self) -> list[str]:
        """Who would be in the set if an epoch ended now."""
        validators, _powers = self.contract.functions.activeValidators().call()
        return [str(v) for v in validators]

    def pending_rewards(self, address: str) -> int:
        return int(self.contract.functions.rewards(address).call())

    def token(self) -> Contract:
        return self.node.contract_at(self.contract.functions.token().call(), "AZR")

    def current_epoch_start(self, head: int) -> tuple[int, int]:
        """(current epoch, its first block): the block of the last ``RewardsDistributed`` (the
        first block of every epoch after the first runs it) — read from logs, not node internals."""
        epoch = int(self.contract.functions.nextRewardEpoch().call())
        if epoch == 0:
            return 0, 1
        event = self.contract.events.RewardsDistributed()
        start = head
        while start > 0:
            first = max(0, start - 10_000)
            logs = event.get_logs(from_block=first, to_block=start)
            if logs:
                return epoch, int(logs[-1]["blockNumber"])
            start = first - 1
        return epoch, 1

    def check_credential(self, holder: str, credential_id: int) -> CredentialCheck:
        """The registry's own test (``_credential_ok``) spelled out, so a refusal says which part failed."""
        creds = self.node.system_contract("Credentials")
        status, issuer, _attesters = creds.functions.verify(credential_id).call()
        name = CREDENTIAL_STATUS.get(status, str(status))
        f = self.contract.functions
        if status == 0:
            problem: str | None = f"there is no credential #{credential_id}"
        elif status != CREDENTIAL_VALID:
            problem = f"credential #{credential_id} is {name}"
        elif creds.functions.holderOf(credential_id).call() != holder:
            problem = f"credential #{credential_id} is not held by {holder}"
        elif creds.functions.courseOf(credential_id).call() != f.validatorCourseId().call():
            problem = f"credential #{credential_id} is not for the validator course"
        elif not f.trustedIssuer(issuer).call():
            problem = f"credential #{credential_id} was issued by {issuer}, which the registry does not trust"
        elif f.disqualified(credential_id).call():
            problem = f"credential #{credential_id} was disqualified by the DAO"
        else:
            problem = None
        return CredentialCheck(credential_id, name, problem)

    def find_validator_credential(self, holder: str) -> int | None:
        """The holder's first credential that counts for the registry, if any."""
        creds = self.node.system_contract("Credentials")
        for index in range(creds.functions.balanceOf(holder).call()):
            token_id = int(creds.functions.tokenOfOwnerByIndex(holder, index).call())
            if self.check_credential(holder, token_id).problem is None:
                return token_id
        return None

    def calldata(self, function: str, *args: Any) -> bytes:
        return encode_call(self.contract, function, *args)

    def register(self, credential_id: int, amount: int) -> bytes:
        return self.calldata("register", credential_id, amount)

    def bond(self, amount: int) -> bytes:
        return self.calldata("bond", amount)

    def unbond(self, amount: int) -> bytes:
        return self.calldata("unbond", amount)

    def withdraw(self) -> bytes:
        return self.calldata("withdrawUnbonded")

    def claim_rewards(self, validator: str) -> bytes:
        return self.calldata("claimRewards", validator)
