"""``azora status --rpc URL [--json]``: a quick look at a running node over its JSON-RPC.

Head, finality, sync, peers, the node's validator state and the transaction pool, read with
ordinary calls (``azora_nodeInfo``, ``eth_getBlockByNumber``, ``eth_syncing``, ``net_peerCount``,
``azora_validators``, ``azora_getCommit``, ``txpool_status``) and ``GET /health``: a client
command, it needs nothing of the node but its URL.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any

import requests

from wallet.cli_common import add_rpc_flags
from wallet.errors import run_reporting_errors
from wallet.rpc import Node


def add_status_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = sub.add_parser("status", help="head, finality, peers, validator state and pool of a running node")
    add_rpc_flags(status)


def cmd_status(args: argparse.Namespace) -> int:
    return run_reporting_errors(print_status, args)


def print_status(args: argparse.Namespace) -> int:
    status = get_status(Node(args.rpc, timeout=10), args.rpc, now=time.time())
    print(json.dumps(status, indent=2) if args.json else format_status(status))
    return 0


def get_health(url: str) -> dict[str, Any] | None:
    """The node's GET /health answer (200 or 503 alike), or None from a node without it."""
    reply = requests.get(url.rstrip("/") + "/health", timeout=10)
    if reply.status_code not in (200, 503):
        return None
    body: dict[str, Any] = reply.json()
    return body


def get_validator_state(node: Node, validator: str | None) -> dict[str, Any] | None:
    """Our validator's place in the active set and whether it signed the head's commit."""
    if validator is None:
        return None
    validators = node.request("azora_validators", ["latest"]) or []
    powers = {v["address"].lower(): int(v["power"], 16) for v in validators}
    commit = node.request("azora_getCommit", ["latest"])
    signers = {s["validator"].lower() for s in commit["signatures"]} if commit else set()
    total = sum(powers.values())
    power = powers.get(validator.lower(), 0)
    return {"address": validator, "active": validator.lower() in powers, "power": power,
            "share": power / total if total else 0.0, "signedHead": validator.lower() in signers,
            "setSize": len(powers)}


def get_status(node: Node, url: str, now: float) -> dict[str, Any]:
    """Everything ``azora status`` shows, as plain JSON values."""
    info = node.info
    head = node.request("eth_getBlockByNumber", ["latest", False])
    finalized = node.request("eth_getBlockByNumber", ["finalized", False])
    syncing = node.request("eth_syncing")
    pool = node.request("txpool_status")
    consensus = info.get("consensus") or {}
    validator = consensus.get("validator")
    return {
        "rpc": url,
        "client": info["client"],
        "chainId": int(info["chainId"], 16),
        "dev": info.get("dev", False),
        "head": {"number": int(head["number"], 16), "hash": head["hash"],
                 "ageSeconds": round(max(0.0, now - int(head["timestamp"], 16)), 1)},
        "finalized": {"number": int(finalized["number"], 16), "hash": finalized["hash"]},
        "syncing": False if syncing is False else {k: int(v, 16) for k, v in syncing.items()},
        "peers": int(node.request("net_peerCount"), 16),
        "consensus": {"height": int(consensus["height"], 16), "round": int(consensus["round"], 16)}
        if consensus else None,
        "validator": get_validator_state(node, validator),
        "pool": {"pending": int(pool["pending"], 16), "queued": int(pool["queued"], 16)},
        "health": get_health(url),
    }


def format_validator(state: dict[str, Any] | None) -> str:
    if state is None:
        return "none (full node)"
    if not state["active"]:
        return f"{state['address']} not in the active set ({state['setSize']} validators)"
    signed = "signed the head's commit" if state["signedHead"] else "did NOT sign the head's commit"
    return (f"{state['address']} active, power {state['power']} ({100 * state['share']:.1f}% of "
            f"{state['setSize']}), {signed}")


def format_health(health: dict[str, Any] | None) -> str:
    if health is None:
        return "unknown (no /health endpoint)"
    return "ok" if not health["reasons"] else "unhealthy: " + "; ".join(health["reasons"])


def format_status(status: dict[str, Any]) -> str:
    """The human view: one fact per line, labels aligned."""
    head, finalized, syncing = status["head"], status["finalized"], status["syncing"]
    consensus = status["consensus"]
    rows = [
        ("node", f"{status['client']} at {status['rpc']}, chain {status['chainId']}" + (" (dev)" if status["dev"] else "")),
        ("head", f"#{head['number']} {head['hash']} ({head['ageSeconds']:.0f}s ago)"),
        ("finalized", f"#{finalized['number']} ({head['number'] - finalized['number']} behind head)"),
        ("sync", "in sync" if syncing is False else
         f"syncing #{syncing['currentBlock']} of #{syncing['highestBlock']} (from #{syncing['startingBlock']})"),
        ("peers", str(status["peers"])),
        ("consensus", f"height {consensus['height']} round {consensus['round']}" if consensus else "none"),
        ("validator", format_validator(status["validator"])),
        ("pool", f"{status['pool']['pending']} pending, {status['pool']['queued']} queued"),
        ("health", format_health(status["health"])),
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)
