"""Consensus timeouts: the preset, then the network's genesis, then the node's config."""
from __future__ import annotations

import pytest

from consensus.config import DEV_TIMEOUTS, TESTNET_TIMEOUTS, TimeoutConfig, TimeoutKind, merge_timeouts


def test_overrides_apply_in_order_with_either_spelling() -> None:
    merged = merge_timeouts(TESTNET_TIMEOUTS, {"propose": 5, "proposeDelta": 1}, {"propose": 4.0})
    assert merged == TimeoutConfig(propose=4.0, propose_delta=1.0)
    assert merged.duration(TimeoutKind.PROPOSE, 2) == 6.0
    assert merge_timeouts(TESTNET_TIMEOUTS) == TESTNET_TIMEOUTS


def test_invalid_timeout_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown consensus timeout"):
        merge_timeouts(TESTNET_TIMEOUTS, {"proposal": 3})


def test_presets_differ_for_a_reason() -> None:
    # A lone dev validator never waits on anyone: a long propose timeout, no commit pause.
    assert DEV_TIMEOUTS.propose > TESTNET_TIMEOUTS.propose and DEV_TIMEOUTS.commit == 0
