"""The wallet's user-facing failures: each becomes one line on stderr and an exit code."""
from __future__ import annotations


class WalletError(Exception):
    """Something the user can fix (a wrong password, an unknown token, a node that is down): exit 1."""

    exit_code = 1


class UsageError(WalletError):
    """The command line itself is incomplete or contradictory: exit 2, as argparse does."""

    exit_code = 2
