"""Peer scores and bans, kept beyond a peer's connection.

py-libp2p 0.8.1's gossipsub ``PeerScorer`` only gates gossip: its counters are dropped when a
peer disconnects, it never disconnects anyone and it has no bans. This table is Azora's:
penalties and rewards on a decaying score, and a timed ban once the score falls below the
threshold. Time is an argument (seconds on any monotonic clock), so the table is pure and
tests drive it with trio's MockClock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from p2p.config import ScoringConfig


class Offence(str, Enum):
    """What a peer did wrong; each maps to a penalty in ScoringConfig."""

    INVALID_MESSAGE = "invalid_message"
    RATE_LIMITED = "rate_limited"
    BAD_REQUEST = "bad_request"
    BAD_RESPONSE = "bad_response"


@dataclass
class PeerRecord:
    """A peer's score as of ``updated_at`` and the end of its ban (0 when not banned)."""

    score: float = 0.0
    updated_at: float = 0.0
    banned_until: float = 0.0
    offences: int = 0


class PeerScoreTable:
    """Decaying peer scores with threshold bans."""

    def __init__(self, config: ScoringConfig) -> None:
        self.config = config
        self._records: dict[str, PeerRecord] = {}

    def _penalty(self, offence: Offence) -> float:
        return {
            Offence.INVALID_MESSAGE: self.config.reject_penalty,
            Offence.RATE_LIMITED: self.config.rate_limit_penalty,
            Offence.BAD_REQUEST: self.config.bad_request_penalty,
            Offence.BAD_RESPONSE: self.config.bad_response_penalty,
        }[offence]

    def _decayed(self, record: PeerRecord, now: float) -> float:
        elapsed = max(0.0, now - record.updated_at)
        return record.score * math.pow(0.5, elapsed / self.config.half_life)

    def _record(self, peer: str, now: float) -> PeerRecord:
        record = self._records.pop(peer, None) or PeerRecord(updated_at=now)
        # Re-inserted so the dict's order is least recently seen first (see evict_oldest).
        self._records[peer] = record
        record.score = self._decayed(record, now)
        record.updated_at = now
        return record

    def __len__(self) -> int:
        return len(self._records)

    def evict_oldest(self) -> list[str]:
        """Drop the least recently seen records beyond ``max_tracked_peers``; return them."""
        excess = len(self._records) - self.config.max_tracked_peers
        if excess <= 0:
            return []
        evicted = list(self._records)[:excess]
        for peer in evicted:
            del self._records[peer]
        return evicted

    def score(self, peer: str, now: float) -> float:
        """The peer's current score (0 for a peer never seen)."""
        record = self._records.get(peer)
        return 0.0 if record is None else self._decayed(record, now)

    def reward(self, peer: str, now: float) -> None:
        """Credit a useful delivery, up to ``max_score``."""
        record = self._record(peer, now)
        record.score = min(self.config.max_score, record.score + self.config.accept_reward)

    def penalise(self, peer: str, offence: Offence, now: float) -> bool:
        """Apply the offence's penalty; return True when this newly bans the peer."""
        record = self._record(peer, now)
        record.score -= self._penalty(offence)
        record.offences += 1
        if record.score < self.config.ban_threshold and not self.is_banned(peer, now):
            record.banned_until = now + self.config.ban_seconds
            return True
        return False

    def is_banned(self, peer: str, now: float) -> bool:
        """True while the peer's ban lasts."""
        record = self._records.get(peer)
        return record is not None and record.banned_until > now

    def expire_bans(self, now: float) -> list[str]:
        """Lift bans that have run out; the peer restarts from a score of 0."""
        lifted = [
            peer
            for peer, record in self._records.items()
            if 0 < record.banned_until <= now
        ]
        for peer in lifted:
            self._records[peer] = PeerRecord(updated_at=now)
        return lifted

    def banned_peers(self, now: float) -> list[str]:
        """Peers banned at ``now``."""
        return [peer for peer in self._records if self.is_banned(peer, now)]

    def snapshot(self, now: float) -> dict[str, float]:
        """Every known peer's current score."""
        return {peer: self._decayed(record, now) for peer, record in self._records.items()}

    def forget_idle(self, now: float, epsilon: float = 0.01) -> None:
        """Drop records that decayed to ~0 and are not banned (``evict_oldest`` caps the rest)."""
        idle = [
            peer
            for peer, record in self._records.items()
            if record.banned_until <= now and abs(self._decayed(record, now)) < epsilon
        ]
        for peer in idle:
            del self._records[peer]
