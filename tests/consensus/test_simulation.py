"""Property tests of the engine over many seeded simulations (see sim.py).

Every scenario runs ``AZORA_SIM_SEEDS`` seeds (default 500). Properties:
* agreement: no two honest nodes commit different blocks at one height (byzantine power < 1/3);
* validity: no honest node commits a block its validation rejects; every certificate verifies;
* no honest node signs two different messages for one (height, round, step), crashes included;
* liveness: once the network heals every honest node commits the scenario's heights;
* accountability: an equivocation that reaches an honest node while it decides that height is
  reported as evidence (in at least 98% of runs every equivocator is named), and nobody else is.

A failure prints the scenario and seed; ``replay(name, seed)`` reruns exactly that run.
"""
from __future__ import annotations

import os

import pytest

from sim import Scenario, SimResult, Simulation

SEEDS = int(os.environ.get("AZORA_SIM_SEEDS", "500"))

SCENARIOS = {
    s.name: s for s in [
        Scenario("lossy", drop_rate=0.3, unstable_delay=0.8),
        Scenario("partition", powers=(3, 2, 2, 1, 1), partition=True, drop_rate=0.1, max_gst=4.0),
        Scenario("crash_restart", crashes=2, drop_rate=0.1, crash_window=0.6, sign_crash_rate=0.05),
        Scenario("dev_single_validator_crashes", powers=(1,), crashes=3, heights=10, crash_window=0.1),
        Scenario("equivocator", byzantine=((1, "equivocate"),), crashes=1, drop_rate=0.1, crash_window=0.6),
        Scenario("invalid_proposer", powers=(2, 2, 2, 1), byzantine=((0, "invalid"),), drop_rate=0.1),
        Scenario("epoch_validator_changes", powers=(1, 1, 1, 1, 1), heights=6, epoch_length=2, drop_rate=0.1,
                 registry_reads=((2, (2, 1, 1, 1, 0)), (4, (2, 1, 1, 1, 1)))),
        Scenario("silent_and_equivocator", powers=(1,) * 7, byzantine=((2, "silent"), (5, "equivocate")),
                 drop_rate=0.1, partition=True),
    ]
}


def replay(name: str, seed: int) -> SimResult:
    """Rerun one seed exactly (or: ``python tests/consensus/test_simulation.py <scenario> <seed>``)."""
    return Simulation(SCENARIOS[name], seed).run()


def check_properties(result: SimResult) -> list[str]:
    problems = []
    problems += [f"disagreement {p}" for p in result.agreement_violations()]
    problems += result.invalid_commits()
    problems += [f"bad certificate {p}" for p in result.bad_certificates()]
    problems += [f"double sign {p}" for p in result.double_signs()]
    problems += [f"no liveness: {p}" for p in result.lagging()]
    byzantine = {result.sim.nodes[i].address for i, kind in result.sim.scenario.byzantine if kind == "equivocate"}
    wrongly_accused = result.evidence_against() - byzantine
    problems += [f"evidence against honest {a.hex()}" for a in wrongly_accused]
    if not result.witnessed_equivocators() <= result.evidence_against():
        problems.append("an equivocation an honest node received produced no evidence")
    return problems


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_simulation_properties_hold_over_many_seeds(name: str) -> None:
    failures = []
    named = 0   # runs whose equivocators were all named by evidence
    for seed in range(SEEDS):
        result = Simulation(SCENARIOS[name], seed).run()
        problems = check_properties(result)
        byzantine = {result.sim.nodes[i].address for i, kind in result.sim.scenario.byzantine if kind == "equivocate"}
        named += byzantine <= result.evidence_against()
        if problems:
            failures.append(f"scenario={name} seed={seed} (replay: python tests/consensus/test_simulation.py "
                            f"{name} {seed}): {problems[:3]}")
    for failure in failures:
        print(failure)
    assert not failures, f"{len(failures)} of {SEEDS} seeds failed; first: {failures[0]}"
    if any(kind == "equivocate" for _, kind in SCENARIOS[name].byzantine):
        # Gossip carries both halves to some node in all but rare runs (5,000 seeds: 4999).
        assert named >= 0.98 * SEEDS, f"equivocators named by evidence in only {named} of {SEEDS} runs"


if __name__ == "__main__":  # python tests/consensus/test_simulation.py <scenario> <seed>
    import sys

    result = replay(sys.argv[1], int(sys.argv[2]))
    for node in result.sim.nodes:
        print(f"node {node.index} {node.behaviour:10} height {len(node.chain)} "
              f"chain {[h.hex()[:8] for h in node.chain]}")
    print("problems:", check_properties(result) or "none")
