"""The tokens a learner holds: the AZR token (wrapped native AZR) and every a-token of the factory."""
from __future__ import annotations

from dataclasses import dataclass

from web3.contract import Contract

from wallet.errors import WalletError
from wallet.rpc import Node
from wallet.units import parse_address


@dataclass(frozen=True)
class Token:
    symbol: str
    address: str
    decimals: int
    contract: Contract


def get_azr_token(node: Node) -> Token:
    azr = node.system_contract("AZR")
    return Token("AZR", azr.address, azr.functions.decimals().call(), azr)


def get_atokens(node: Node) -> list[Token]:
    """Every a-token the ATokenFactory created, genesis ones and those the DAO added, in creation order."""
    factory = node.system_contract("ATokenFactory")
    tokens = []
    for index in range(factory.functions.tokenCount().call()):
        token = node.contract_at(factory.functions.allTokens(index).call(), "AToken")
        tokens.append(Token(token.functions.symbol().call(), token.address, token.functions.decimals().call(), token))
    return tokens


def resolve_token(node: Node, name: str) -> Token:
    """``AZR``, an a-token symbol (``aZAR``) or a 0x ERC-20 address; WalletError listing the known symbols."""
    if name.startswith(("0x", "0X")):
        erc20 = node.contract_at(parse_address(name), "AToken")   # only its ERC-20 functions are used
        if not node.w3.eth.get_code(erc20.address):
            raise WalletError(f"no contract at {erc20.address}: not a token")
        return Token(erc20.functions.symbol().call(), erc20.address, erc20.functions.decimals().call(), erc20)
    if name == "AZR":
        return get_azr_token(node)
    atokens = get_atokens(node)
    for atoken in atokens:
        if atoken.symbol == name:
            return atoken
    known = ", ".join(["AZR", *(t.symbol for t in atokens)])
    raise WalletError(f"unknown token {name!r}; known tokens: {known} (or a 0x token address)")
