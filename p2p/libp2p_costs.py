"""Three per-message costs of py-libp2p that a loaded node cannot afford, removed at import.

py-spy on a validator of a loaded 4-validator testnet (bench/network.py, 1,500 transfers
gossiped) found its event loop busy half the time inside pubsub, where votes queued behind:

* **A signature check per RPC.** Every pubsub RPC carries the sender's signed peer record, and
  ``maybe_consume_signed_record`` verifies it (secp256k1) on every RPC received: 14% of the
  pubsub time. A peer sends the same record bytes until its addresses change, so a record
  already verified for that peer is taken as verified again, for ``RECORD_RECHECK_SECONDS``
  (then verified anew, which also refreshes its peerstore TTL). Only successes are kept: a bad
  record is checked, and refused, every time.
* **A yamux WINDOW_UPDATE frame per read** (py-libp2p's default ``PY_YAMUX_RELEASE_ON_READ=1``):
  an encrypted frame and a socket write for every stream read, 27% of the pubsub time. With it
  off, credit is released as go-yamux does, in one update once half the window is consumed.
  An operator's own ``PY_YAMUX_RELEASE_ON_READ`` is kept.
* **Our own record derived again per RPC sent.** ``env_to_send_in_RPC`` lists the host's
  addresses (building multiaddrs) and serializes its signed peer record for every RPC it
  publishes or forwards: 3.7% of a loaded validator's time. The record is taken again from
  the host at most every ``LOCAL_RECORD_SECONDS``, so a changed address reaches peers that much
  later; the record itself is still issued (and signed) only when the addresses change.
"""
from __future__ import annotations

import os
import time
import weakref
from collections import OrderedDict
from typing import Any, Callable

import libp2p.pubsub.floodsub as floodsub
import libp2p.pubsub.gossipsub as gossipsub
import libp2p.pubsub.pubsub as pubsub
import libp2p.pubsub.utils as pubsub_utils

RECORD_RECHECK_SECONDS = 600.0
RECORD_CACHE_ENTRIES = 4096
LOCAL_RECORD_SECONDS = 10.0

os.environ.setdefault("PY_YAMUX_RELEASE_ON_READ", "0")


class VerifiedRecords:
    """(peer, record bytes) pairs whose signature checked out, with when they did."""

    def __init__(self, consume: Callable[[Any, Any, Any], bool], clock: Callable[[], float] = time.monotonic,
                 entries: int = RECORD_CACHE_ENTRIES, recheck: float = RECORD_RECHECK_SECONDS) -> None:
        self._consume = consume
        self._clock = clock
        self._entries = entries
        self._recheck = recheck
        self._verified: OrderedDict[tuple[bytes, bytes], float] = OrderedDict()
        self.checks = 0

    def __call__(self, msg: Any, host: Any, peer_id: Any) -> bool:
        if not msg.HasField("senderRecord"):
            return True
        key = (peer_id.to_bytes(), msg.senderRecord)
        now = self._clock()
        checked_at = self._verified.get(key)
        if checked_at is not None and now - checked_at < self._recheck:
            self._verified.move_to_end(key)
            return True
        self.checks += 1
        if not self._consume(msg, host, peer_id):
            self._verified.pop(key, None)
            return False
        self._verified[key] = now
        self._verified.move_to_end(key)
        while len(self._verified) > self._entries:
            self._verified.popitem(last=False)
        return True


verified_records = VerifiedRecords(pubsub_utils.maybe_consume_signed_record)
for _module in (pubsub, gossipsub, floodsub):
    _module.maybe_consume_signed_record = verified_records   # type: ignore[attr-defined]


class LocalRecords:
    """Each host's own signed peer record as ``env_to_send_in_RPC`` gives it, asked again at
    most every ``refresh`` seconds."""

    def __init__(self, issue: Callable[[Any], tuple[bytes, bool]], clock: Callable[[], float] = time.monotonic,
                 refresh: float = LOCAL_RECORD_SECONDS) -> None:
        self._issue = issue
        self._clock = clock
        self._refresh = refresh
        self._by_host: weakref.WeakKeyDictionary[Any, tuple[float, bytes]] = weakref.WeakKeyDictionary()
        self.derived = 0

    def __call__(self, host: Any) -> tuple[bytes, bool]:
        now = self._clock()
        cached = self._by_host.get(host)
        if cached is not None and now - cached[0] < self._refresh:
            return cached[1], False
        self.derived += 1
        envelope, created = self._issue(host)
        self._by_host[host] = (now, envelope)
        return envelope, created


local_records = LocalRecords(pubsub.env_to_send_in_RPC)
for _module in (pubsub, gossipsub):
    _module.env_to_send_in_RPC = local_records   # type: ignore[attr-defined]
