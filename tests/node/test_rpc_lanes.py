"""The dispatcher's lanes: @inline handlers answer on the event loop and hand themselves to a
worker thread with leave_loop(); everything else, and every batch, runs on a thread."""
from __future__ import annotations

import json
import threading

import trio

from node.rpc.server import Dispatcher, inline, leave_loop


class Probe:
    def __init__(self) -> None:
        self.runs: list[tuple[str, bool]] = []   # (method, on the loop's thread)

    def _seen(self, method: str) -> None:
        self.runs.append((method, threading.get_ident() == LOOP_THREAD[0]))

    @inline
    def cheap(self) -> str:
        self._seen("cheap")
        return "0x1"

    @inline
    def sometimes(self, cached: bool) -> str:
        self._seen("sometimes")
        if not cached:
            leave_loop()
        return "cached" if cached else "computed"

    def plain(self) -> str:
        self._seen("plain")
        return "0x2"


LOOP_THREAD: list[int] = []


def answer(probe: Probe, payload: object) -> object:
    dispatcher = Dispatcher({"t": probe})

    async def main() -> object:
        LOOP_THREAD[:] = [threading.get_ident()]
        return await dispatcher.handle_payload(json.dumps(payload))
    return trio.run(main)


def call(method: str, *params: object) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}


def test_an_inline_handler_answers_on_the_event_loop() -> None:
    probe = Probe()
    assert answer(probe, call("t_cheap"))["result"] == "0x1"
    assert probe.runs == [("cheap", True)]


def test_a_plain_handler_runs_on_a_worker_thread() -> None:
    probe = Probe()
    assert answer(probe, call("t_plain"))["result"] == "0x2"
    assert probe.runs == [("plain", False)]


def test_leave_loop_runs_the_handler_again_on_a_thread() -> None:
    probe = Probe()
    assert answer(probe, call("t_sometimes", True))["result"] == "cached"
    assert answer(probe, call("t_sometimes", False))["result"] == "computed"
    assert probe.runs == [("sometimes", True), ("sometimes", True), ("sometimes", False)]


def test_a_batch_runs_inline_handlers_on_its_thread() -> None:
    probe = Probe()
    responses = answer(probe, [call("t_cheap"), call("t_sometimes", False)])
    assert [r["result"] for r in responses] == ["0x1", "computed"]
    assert probe.runs == [("cheap", False), ("sometimes", False)]
