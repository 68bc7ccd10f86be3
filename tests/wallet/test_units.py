"""Amounts and addresses as learners type them, and the catalog lookup that tolerates older contracts."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from web3 import Web3

from contracts.build import load_artifact
from wallet.credentials import get_course_info
from wallet.errors import WalletError
from wallet.units import format_amount, parse_address, parse_amount


@pytest.mark.parametrize("text,decimals,base", [
    ("1.5", 18, 1_500_000_000_000_000_000), ("0", 18, 0), ("5", 6, 5_000_000), ("0.000001", 6, 1),
    (" 2.50 ", 2, 250), ("1e2", 0, 100),
])
def test_parse_amount_in_whole_units(text, decimals, base):
    assert parse_amount(text, decimals) == base


@pytest.mark.parametrize("text", ["-1", "abc", "1.0000001", "NaN", "inf", ""])
def test_invalid_amounts_are_refused(text):
    with pytest.raises(WalletError):
        parse_amount(text, 6)


@pytest.mark.parametrize("base,decimals,text", [(5 * 10**18, 18, "5.0"), (15 * 10**17, 18, "1.5"), (1, 18, "0.000000000000000001"),
                                                 (0, 18, "0.0"), (123, 0, "123.0"), (-5, 1, "-0.5")])
def test_format_amount_always_shows_a_point(base, decimals, text):
    assert format_amount(base, decimals) == text


@given(st.integers(min_value=0, max_value=10**40), st.integers(min_value=0, max_value=30))
def test_format_then_parse_is_the_identity(base, decimals):
    assert parse_amount(format_amount(base, decimals), decimals) == base


def test_addresses_must_be_checksummed_hex():
    good = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert parse_address(good) == good
    with pytest.raises(WalletError, match="not checksummed; write it as " + good):
        parse_address(good.lower())
    with pytest.raises(WalletError, match="bad checksum"):
        parse_address(good.replace("F", "f", 1))
    for bad in ("0x1234", "f39Fd6e51aad88F6F4ce6aB8827279cffFb92266", "0xZ39Fd6e51aad88F6F4ce6aB8827279cffFb92266"):
        with pytest.raises(WalletError, match="not a 0x address"):
            parse_address(bad)


def test_course_info_is_none_when_the_catalog_has_no_titles():
    abi = [item for item in load_artifact("ProofOfKnowledge")["abi"] if item.get("name") != "courseInfo"]
    pok = Web3().eth.contract(address="0x" + "11" * 20, abi=abi)
    assert get_course_info(pok, b"\x00" * 32) is None          # no call is made: there is no node


def test_verdicts_name_what_is_missing():
    from wallet.credentials import format_verdict

    assert format_verdict({"status": "none", "id": None, "holder": "0xabc"}) == "NONE: 0xabc holds no such credential"
    assert format_verdict({"status": "none", "id": 7, "issuer": None}) == "NONE: there is no credential #7"
    revoked = format_verdict({"status": "revoked", "id": 7, "title": "Validators", "course": "iri", "holder": None,
                              "issuer": "0xdao", "attesters": ["0xo1"], "block": 9, "transaction": "0xt",
                              "revocationReason": "plagiarism"})
    assert revoked.startswith("REVOKED: credential #7 for Validators") and revoked.endswith("revoked: plagiarism")


def test_a_key_that_last_signed_on_another_chain_needs_confirmation(tmp_path):
    from wallet.lastchain import check_chain, last_chain_path, record_chain

    key = tmp_path / "UTC--key"
    key.write_text("{}")
    check_chain(key, 1337, None)                              # never used: any chain
    record_chain(key, 1337)
    assert last_chain_path(key).name == ".UTC--key.chain" and oct(last_chain_path(key).stat().st_mode & 0o777) == "0o600"
    check_chain(key, 1337, None)
    with pytest.raises(WalletError, match="last signed on chain 1337 and the node serves chain 1; pass --chain-id 1"):
        check_chain(key, 1, None)
    with pytest.raises(WalletError, match="--chain-id 5 but the node serves chain 1"):
        check_chain(key, 1, 5)
    check_chain(key, 1, 1)
    assert key.read_text() == "{}"
