"""A backup submitter never sends a claim another member's transaction already carries: not
while it waits in the node's pool (however long the chain takes), not once it is mined, and
a claim nobody sent is still sent. Under a burst of 600 statements a third of the claims went
out twice before: the backups' turns came while the primary's claims queued behind the
chain's rate, and each second copy reverted on chain, taking block space from the others.

Real parts: an `azora dev` node (automine off, so a sent claim stays pooled until `evm_mine`),
the member's ChainView over JSON-RPC and its LevelDB store."""
from __future__ import annotations

import time
import uuid

import pytest

from oracle.attestation import completion_for
from oracle.chain import CLAIM_PENDING, ChainView
from oracle.completion import compute_digest, compute_struct_hash, order_signatures, sign_digest, submitter_rank
from oracle.config import OracleConfig
from oracle.service import QUORUM, SUBMITTED, Oracle
from oracle.store import OracleStore, Record

COURSE = "https://azora.africa/courses/blockchain-101"


@pytest.fixture
def paused_node(start_azora, tmp_path):
    node = start_azora("dev", "--datadir", str(tmp_path / "data"))
    node.rpc("evm_setAutomine", [False])
    return node


def claim_with_ranks(chain: ChainView, committee: list, primary, backup) -> tuple:
    """A completion (new learner) whose first submitter is `primary` and second `backup`,
    with the quorum's signatures."""
    rules = chain.rules(fresh=True)
    addresses = [m.address for m in committee]
    while True:
        learner = "0x" + uuid.uuid4().hex[:40].rjust(40, "0")
        body = {"id": str(uuid.uuid4()), "timestamp": "2026-01-01T00:00:00Z",
                "actor": {"account": {"homePage": "https://learn.example.org", "name": learner}},
                "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
                "object": {"id": COURSE}, "result": {"success": True, "score": {"scaled": 0.9}}}
        completion = completion_for(body, oracle_set_version=rules.oracle_set_version, deadline=chain.now() + 3600)
        key = compute_struct_hash(completion)
        if submitter_rank(primary.address, addresses, key) == 0 and submitter_rank(backup.address, addresses, key) == 1:
            break
    digest = compute_digest(completion, chain.domain)
    signatures = order_signatures({m.address: sign_digest(bytes(m.key), digest) for m in committee[:2]},
                                  rules.quorum)
    return body, completion, signatures


def quorum_record(body, completion, signatures, committee) -> Record:
    """The backup's record of the claim, at the quorum since its turn came (5 s grace), within
    the patience for a pooled claim (6 grace periods more)."""
    return Record(statement_id=body["id"], statement=body, state=QUORUM, stored_at=int(time.time()),
                  completion=completion.to_json(), claim_key="0x" + compute_struct_hash(completion).hex(),
                  signatures={m.address: "0x" + s.hex() for m, s in zip(committee, signatures)},
                  quorum_at=time.time() - 10, timeline={"received": time.time() - 10})


def test_a_backup_leaves_pooled_and_mined_claims_alone_and_sends_the_others(paused_node, dev_accounts, tmp_path):
    committee = dev_accounts[7:10]          # the dev committee, quorum 2
    chain = ChainView(paused_node.url)
    store = OracleStore(tmp_path / "backup-store")
    config = OracleConfig(name="backup", rpc=paused_node.url, keystore=tmp_path / "k", password_file=tmp_path / "p",
                          datadir=tmp_path, submit_grace_seconds=5)
    primary, backup = committee[0], committee[1]
    member = Oracle(config, backup, chain, store)

    sent_body, sent_completion, sent_signatures = claim_with_ranks(chain, committee, primary, backup)
    idle_body, idle_completion, idle_signatures = claim_with_ranks(chain, committee, primary, backup)
    sent = quorum_record(sent_body, sent_completion, sent_signatures, committee)
    idle = quorum_record(idle_body, idle_completion, idle_signatures, committee)
    store.put_many([sent, idle])

    # the primary sends one claim; the chain has not taken it yet
    (tx,) = ChainView(paused_node.url).build_submits(primary, [(sent_completion, sent_signatures)])
    assert not isinstance(tx, Exception), tx
    assert chain.send_raw(tx.raw)
    assert [r.statement_id for r in member._not_in_flight_elsewhere([sent, idle])] == [idle.statement_id]

    # mined since: the claim is read, found on chain, and its record moves on without a send
    paused_node.rpc("evm_mine", [])
    assert paused_node.wait_receipt(tx.hash)["status"] == "0x1"
    member._seen_pooled.clear()   # as after POOL_RECHECK_SECONDS
    assert [r.statement_id for r in member._not_in_flight_elsewhere([sent, idle])] == [idle.statement_id]
    stored = store.get(sent.statement_id)
    assert stored is not None and stored.state == SUBMITTED and stored.submitted_by == "another member"
    assert chain.claims([compute_struct_hash(sent_completion)])[0].status == CLAIM_PENDING

    # the whole submission pass: only the idle claim goes out, from the backup
    member.submit_ready([sent.statement_id, idle.statement_id])
    pooled = paused_node.rpc("txpool_contentFrom", [backup.address])["result"]["pending"]
    assert len(pooled) == 1
    assert compute_struct_hash(idle_completion) in chain.claims_in_pool([backup.address])
    assert store.get(idle.statement_id).submit_tx is not None
    store.close()


def test_pooled_claims_are_decoded_once(paused_node, dev_accounts):
    committee = dev_accounts[7:10]
    chain = ChainView(paused_node.url)
    primary, backup = committee[0], committee[1]
    claims = [claim_with_ranks(chain, committee, primary, backup) for _ in range(3)]
    for tx in chain.build_submits(primary, [(c, s) for _, c, s in claims]):
        assert not isinstance(tx, Exception), tx
        assert chain.send_raw(tx.raw)
    keys = {compute_struct_hash(c) for _, c, _ in claims}
    assert chain.claims_in_pool([primary.address]) == keys
    assert set(chain._pool_claims.values()) == keys
    assert chain.claims_in_pool([primary.address]) == keys   # from the cache: same answer
    paused_node.rpc("evm_mine", [])
    assert chain.claims_in_pool([primary.address]) == set()
    assert chain._pool_claims == {}


def test_only_records_checked_after_the_watch_began_count_as_born(paused_node, dev_accounts, tmp_path):
    """A record whose chain check (no claim for the learner and course) began after the claim
    watch read the head has no claim but what the watched logs show: its claim is not read.
    One checked earlier, or stored without the time of its check, is read."""
    committee = dev_accounts[7:10]
    chain = ChainView(paused_node.url)
    config = OracleConfig(name="m", rpc=paused_node.url, keystore=tmp_path / "k", password_file=tmp_path / "p",
                          datadir=tmp_path)
    member = Oracle(config, committee[0], chain, OracleStore(tmp_path / "store"))
    body, completion, signatures = claim_with_ranks(chain, committee, committee[0], committee[1])
    before = time.time()
    chain.watch_claims([])
    since = chain.watching_since()
    assert since is not None and since >= before
    record = quorum_record(body, completion, signatures, committee)
    key = compute_struct_hash(completion)
    record.checked_at = since + 2
    assert member._born([record]) == [key]
    record.checked_at = since - 1
    assert member._born([record]) == []
    record.checked_at = None
    assert member._born([record]) == []
