"""The lower-priority execution thread (``AsideThread``) on a real OS thread."""
from __future__ import annotations

import os
import sys
import threading

import pytest
import trio

from node.services.consensus_io import ASIDE_NICENESS, AsideThread


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="threads have their own nice value on Linux")
def test_work_runs_on_one_thread_at_lower_priority_and_the_callers_is_untouched():
    aside = AsideThread()
    try:
        async def main() -> tuple[int, int, int, int]:
            first = await aside.run_sync(lambda: (threading.get_native_id(), _niceness()))
            second = await aside.run_sync(lambda: threading.get_native_id())
            return first[0], first[1], second, _niceness()

        before = _niceness()
        worker, nice, again, after = trio.run(main)
        assert worker != threading.get_native_id() and again == worker
        assert nice == min(19, before + ASIDE_NICENESS) and after == before
    finally:
        aside.close()


def test_errors_reach_the_caller_and_a_cancelled_caller_still_waits_for_the_work():
    aside = AsideThread()
    finished = threading.Event()
    release = threading.Event()

    def slow() -> str:
        release.wait(5)
        finished.set()
        return "done"

    def fail() -> None:
        raise ValueError("bad block")

    async def main() -> tuple[str | None, bool]:
        with pytest.raises(ValueError, match="bad block"):
            await aside.run_sync(fail)
        result = None
        with trio.move_on_after(0.05):
            threading.Timer(0.3, release.set).start()
            result = await aside.run_sync(slow)
        # as trio.to_thread.run_sync: the caller waits for the work to end, cancelled or not,
        # so the state the thread built is never dropped half-made
        return result, finished.is_set()

    try:
        assert trio.run(main) == ("done", True)
    finally:
        aside.close()
