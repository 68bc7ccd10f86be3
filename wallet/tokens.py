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
        token = node.contract_at(parse_address(name), "AToken")
        if not node.w3.eth.get_code(token.address):
            raise WalletError(f"no contract at {token.address}: not a token")
        return Token(token.functions.symbol().call(), token.address, token.functions.decimals().call(), token)
    if name == "AZR":
        return get_azr_token(node)
    atokens = get_atokens(node)
    for token in atokens:
        if token.symbol == name:
            return token
    known = ", ".join(["AZR", *(t.symbol for t in atokens)])
    raise WalletError(f"unknown token {name!r}; known tokens: {known} (or a 0x token address)")
