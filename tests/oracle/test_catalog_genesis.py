"""The genesis' `azora.courses` list becomes the on-chain catalog, with IRIs and titles."""
from __future__ import annotations

import json

import pytest
from eth.db.atomic import AtomicDB
from eth_abi import decode, encode
from eth_utils import function_signature_to_4byte_selector, keccak

from contracts.deployment import DEMO_COURSES, VALIDATOR_COURSE_IRI
from kernel.chain import Chain
from kernel.db import LevelDB
from kernel.genesis import Genesis
from node.execution import CallArgs, Executor

VALIDATOR = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ORACLE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def genesis_with(courses) -> Genesis:
    return Genesis.from_json({
        "config": {"chainId": 1337}, "timestamp": "0x10", "alloc": {VALIDATOR: {"balance": hex(10**22)}},
        "azora": {"validators": [{"address": VALIDATOR, "stake": hex(10_000 * 10**18)}],
                  "oracles": {"members": [ORACLE], "quorum": 1}, "courses": courses}})


def call(chain: Chain, address: str, signature: str, args: list, arg_types: list[str], out_types: list[str]):
    data = function_signature_to_4byte_selector(signature) + encode(arg_types, args)
    raw = Executor(chain).call(chain.head, CallArgs.parse({"to": address, "data": "0x" + data.hex()}))
    return decode(out_types, raw)


def test_genesis_courses_are_listed_with_iri_title_weight_and_state(tmp_path):
    courses = [{"iri": "https://azora.africa/courses/a", "title": "Course A", "rewardWeight": hex(5_000)},
               {"iri": "https://azora.africa/courses/b", "title": "Course B", "active": False}]
    chain = Chain(LevelDB(tmp_path / "db"), genesis_with(courses))
    pok = chain.system_contracts["ProofOfKnowledge"]
    (ids,) = call(chain, pok, "getCourseIds()", [], [], ["bytes32[]"])
    assert list(ids) == [keccak(text=VALIDATOR_COURSE_IRI)] + [keccak(text=c["iri"]) for c in courses]
    rows = []
    for course_id in ids:
        issuer, weight, active = call(chain, pok, "courses(bytes32)", [course_id], ["bytes32"],
                                      ["address", "uint256", "bool"])
        ((iri, title),) = call(chain, pok, "courseInfo(bytes32)", [course_id], ["bytes32"], ["(string,string)"])
        assert issuer.lower() == chain.system_contracts["Timelock"].lower()   # the DAO issues
        rows.append((iri, title, weight, active))
    assert rows == [(VALIDATOR_COURSE_IRI, "Azora Validator", 10_000, True),
                    ("https://azora.africa/courses/a", "Course A", 5_000, True),
                    ("https://azora.africa/courses/b", "Course B", 10_000, False)]


@pytest.mark.parametrize("courses, match", [
    ([{"title": "no iri"}], "iri"),
    (["https://azora.africa/courses/a"], "iri"),
    ([{"iri": "https://azora.africa/courses/a"}] * 2, "twice"),
    ([{"iri": VALIDATOR_COURSE_IRI}], "twice"),
])
def test_invalid_genesis_courses_are_refused(courses, match):
    with pytest.raises(ValueError, match=match):
        genesis_with(courses).build(AtomicDB())


def test_dev_and_testnet_genesis_carry_the_demo_catalog(tmp_path):
    from node.accounts import DEV_MNEMONIC, derive_accounts
    from node.service import dev_genesis
    from node.testnet import init_testnet

    accounts = derive_accounts(DEV_MNEMONIC, 10)
    dev = dev_genesis(accounts, chain_id=1337, balance_wei=1, validator=bytes(20))
    init_testnet(tmp_path, validators=1)
    testnet = json.loads((tmp_path / "genesis.json").read_text())
    for genesis in (dev, testnet):
        courses = genesis["azora"]["courses"]
        assert len(courses) >= 3 and all(c.get("active", True) for c in courses)
        assert "https://azora.africa/courses/blockchain-101" in {c["iri"] for c in courses}
    assert list(DEMO_COURSES) == dev["azora"]["courses"]
