"""The node's long-running services and the collaborators they are built from.

``consensus_host`` dispatches the consensus engine's outputs; ``block_production`` decides when
and what to propose; ``chain_writer`` keeps the height's proposed blocks and checks blocks
against ``consensus.block_rules``, executes and persists them (for consensus and for sync
alike); ``consensus_io`` signs, broadcasts, runs the engine's timers and keeps evidence.
"""
