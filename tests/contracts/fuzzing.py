"""Settings and plumbing for the invariant (hypothesis stateful) suites on titanoboa.

CI runs `DEFAULT_EXAMPLES` examples per suite; set `AZORA_FUZZ_EXAMPLES` (and optionally
`AZORA_FUZZ_STEPS`) for a longer hunt, e.g. `AZORA_FUZZ_EXAMPLES=5000 pytest tests/contracts/test_fuzz_escrow.py`.
"""

from __future__ import annotations

import os
from typing import Any

import boa
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

DEFAULT_EXAMPLES = 200
DEFAULT_STEPS = 12


def fuzz_settings(examples: int = DEFAULT_EXAMPLES, steps: int = DEFAULT_STEPS) -> settings:
    """Hypothesis settings for one invariant suite, overridable from the environment."""
    return settings(
        max_examples=int(os.environ.get("AZORA_FUZZ_EXAMPLES", examples)),
        stateful_step_count=int(os.environ.get("AZORA_FUZZ_STEPS", steps)),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


class AnchoredMachine(RuleBasedStateMachine):
    """A state machine whose every example starts from the same chain state.

    The contracts are deployed once by the test; each example runs inside its own
    `boa.env.anchor()`, which rolls every storage write and the clock back at teardown.
    """

    def __init__(self) -> None:
        super().__init__()
        self._anchor = boa.env.anchor()
        self._anchor.__enter__()

    def teardown(self) -> None:
        self._anchor.__exit__(None, None, None)


def run_machine(machine: type[RuleBasedStateMachine], **overrides: Any) -> None:
    """Run `machine` with the suite settings (`overrides` for the CI defaults)."""
    run_state_machine_as_test(machine, settings=fuzz_settings(**overrides))


def reverted(call: Any) -> bool:
    """Run `call()`; True if the EVM reverted it (the state is then unchanged)."""
    try:
        call()
    except boa.BoaError:
        return True
    return False
