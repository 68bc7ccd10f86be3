"""The wallet's user-facing failures: each becomes one line on stderr and an exit code."""
from __future__ import annotations

import argparse
import sys
from typing import Callable

import requests
from web3.exceptions import Web3Exception


class WalletError(Exception):
    """Something the user can fix (a wrong password, an unknown token, a node that is down): exit 1."""

    exit_code = 1


class UsageError(WalletError):
    """The command line itself is incomplete or contradictory: exit 2, as argparse does."""

    exit_code = 2


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def run_reporting_errors(handler: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a command; any failure the user can act on is one line on stderr and exit 1 (2 for usage),
    never a traceback (which could also carry key material from a frame's locals)."""
    from wallet.keystore import KeystoreError

    try:
        return handler(args)
    except WalletError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except requests.RequestException as exc:
        print(f"error: cannot reach the node at {getattr(args, 'rpc', '?')} ({exc.__class__.__name__})", file=sys.stderr)
        return 1
    except (KeystoreError, ValueError, OSError, Web3Exception) as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
