"""The peer score table: penalties, decay, bans and their expiry (time passed explicitly)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from p2p.config import ScoringConfig
from p2p.scoring import Offence, PeerScoreTable

CONFIG = ScoringConfig(
    reject_penalty=10, ban_threshold=-50, half_life=100, ban_seconds=60, max_score=5
)


@pytest.mark.timeout(10)
def test_rejects_push_a_peer_below_the_threshold_into_a_ban() -> None:
    table = PeerScoreTable(CONFIG)
    newly_banned = [table.penalise("mallory", Offence.INVALID_MESSAGE, now=0) for _ in range(6)]
    assert newly_banned == [False] * 5 + [True]
    assert table.is_banned("mallory", now=1)
    assert table.banned_peers(now=1) == ["mallory"]
    assert not table.is_banned("alice", now=1)


@pytest.mark.timeout(10)
def test_a_ban_is_reported_once_and_expires_with_a_clean_score() -> None:
    table = PeerScoreTable(CONFIG)
    for _ in range(6):
        table.penalise("mallory", Offence.INVALID_MESSAGE, now=0)
    assert not table.penalise("mallory", Offence.INVALID_MESSAGE, now=1)
    assert table.expire_bans(now=59) == []
    assert table.expire_bans(now=60) == ["mallory"]
    assert not table.is_banned("mallory", now=60)
    assert table.score("mallory", now=60) == 0


@pytest.mark.timeout(10)
def test_scores_decay_toward_zero_so_old_faults_are_forgiven() -> None:
    table = PeerScoreTable(CONFIG)
    table.penalise("bob", Offence.INVALID_MESSAGE, now=0)
    assert table.score("bob", now=0) == pytest.approx(-10)
    assert table.score("bob", now=100) == pytest.approx(-5)
    # Five faults spread over time never reach the threshold.
    for t in range(0, 5000, 200):
        assert not table.penalise("carol", Offence.INVALID_MESSAGE, now=t)


@pytest.mark.timeout(10)
def test_rewards_are_capped_so_a_good_history_cannot_buy_many_faults() -> None:
    table = PeerScoreTable(CONFIG)
    for _ in range(1000):
        table.reward("dave", now=0)
    assert table.score("dave", now=0) == pytest.approx(5)
    banned = [table.penalise("dave", Offence.INVALID_MESSAGE, now=0) for _ in range(6)]
    assert banned[-1]


@pytest.mark.timeout(10)
def test_idle_records_are_forgotten_but_bans_are_kept() -> None:
    table = PeerScoreTable(replace(CONFIG, ban_seconds=5000))
    table.reward("erin", now=0)
    for _ in range(6):
        table.penalise("mallory", Offence.INVALID_MESSAGE, now=0)
    table.forget_idle(now=4000)
    assert "erin" not in table.snapshot(now=4000)
    assert table.is_banned("mallory", now=4000)


@pytest.mark.timeout(10)
def test_the_table_keeps_at_most_max_tracked_peers_dropping_the_least_recently_seen() -> None:
    table = PeerScoreTable(replace(CONFIG, max_tracked_peers=3))
    for now, peer in enumerate(["a", "b", "c"]):
        table.penalise(peer, Offence.INVALID_MESSAGE, now=now)
    table.reward("a", now=3)          # seen again: now the most recent
    table.penalise("d", Offence.INVALID_MESSAGE, now=4)
    assert table.evict_oldest() == ["b"]
    assert len(table) == 3
    assert sorted(table.snapshot(now=4)) == ["a", "c", "d"]
    assert table.evict_oldest() == []
