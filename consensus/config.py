"""Consensus configuration: timeout durations, kept out of the state machine.

The engine only says "schedule timeout (kind, height, round)"; the host turns that into a
duration with ``TimeoutConfig.duration``. Timeouts grow linearly with the round so that, once
the network is stable, some round is long enough for every message to arrive (paper, Sec. 4).
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import Enum
from typing import Any, Mapping


class TimeoutKind(Enum):
    PROPOSE = "propose"
    PREVOTE = "prevote"
    PRECOMMIT = "precommit"


@dataclass(frozen=True)
class TimeoutConfig:
    """Seconds: ``base + delta * round`` per kind; ``commit`` is the host's pause after a commit."""

    propose: float = 3.0
    propose_delta: float = 0.5
    prevote: float = 1.0
    prevote_delta: float = 0.5
    precommit: float = 1.0
    precommit_delta: float = 0.5
    commit: float = 1.0

    def duration(self, kind: TimeoutKind, round: int) -> float:
        """How long to wait for a timeout of ``kind`` in ``round``."""
        base, delta = {
            TimeoutKind.PROPOSE: (self.propose, self.propose_delta),
            TimeoutKind.PREVOTE: (self.prevote, self.prevote_delta),
            TimeoutKind.PRECOMMIT: (self.precommit, self.precommit_delta),
        }[kind]
        return base + delta * round


# Presets. CometBFT's defaults for networks. A single dev validator never waits on a vote
# timeout; its only timer that can fire is its own propose timeout while it builds a block,
# and a full block (≈ 850 ERC-20 transfers) takes longer than a second to build: a short one
# made it prevote nil and rebuild in the next round (measured: 4x slower automine under load).
# No other validator waits on it, so the propose timeout is long.
TESTNET_TIMEOUTS = TimeoutConfig()
DEV_TIMEOUTS = TimeoutConfig(propose=60.0, propose_delta=0.0, prevote=0.5, prevote_delta=0.25,
                             precommit=0.5, precommit_delta=0.25, commit=0.0)


def merge_timeouts(preset: TimeoutConfig, *overrides: Mapping[str, Any]) -> TimeoutConfig:
    """``preset`` with each mapping of overrides applied in turn (a network's genesis, then a
    node's config). Keys are the field names, snake_case or camelCase (``proposeDelta``)."""
    names = {f.name for f in fields(TimeoutConfig)}
    merged = preset
    for override in overrides:
        changes = {}
        for key, value in override.items():
            name = "".join(f"_{c.lower()}" if c.isupper() else c for c in key)
            if name not in names:
                raise ValueError(f"unknown consensus timeout {key!r} (known: {', '.join(sorted(names))})")
            changes[name] = float(value)
        merged = replace(merged, **changes)
    return merged
