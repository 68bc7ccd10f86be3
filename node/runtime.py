"""The node's interpreter, set up for a long-running server."""
from __future__ import annotations

import gc
import os
import time
from typing import Callable

# Container objects allocated between two collections of the youngest generation (Python's
# default is 700). Executing one ERC-20 transfer allocates thousands: the default collected
# several times a transaction, each time walking every young object, for garbage that
# reference counting frees anyway (py-evm's cycles are few). (50,000, 20, 100): 2-3% more
# transfers a second in process (bench/throughput.py's (a), run under the same settings).
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Fewer, larger garbage collections, and none over what the process loaded to start
    (modules, genesis, caches: frozen out of every later full collection's walk)."""
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()


# The cores the node leaves to its helper processes (the RPC gateway, the transaction decoder
# workers), for them to take when they start: they inherit the node's one core otherwise.
HELPER_CPUS_ENV = "AZORA_HELPER_CPUS"


class CpuPinError(ValueError):
    """A --cpu.pin value this machine cannot honour; the message says why."""


def named_core(choice: str) -> int:
    """The core a --cpu.pin number names; CpuPinError unless this process may run on it."""
    try:
        core = int(choice)
    except ValueError:
        raise CpuPinError(f"{choice!r} is not auto, off or a core number") from None
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    if core not in allowed:
        raise CpuPinError(f"core {core} is not one this process may use ({sorted(allowed)})")
    return core


def _current_cpu() -> int:
    """The core the calling thread runs on now (/proc/thread-self/stat's 39th field)."""
    with open("/proc/thread-self/stat") as stat:
        return int(stat.read().rpartition(")")[2].split()[36])


def _thread_ids() -> list[int]:
    try:
        return [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        return [0]      # the calling thread


def _cores_of_other_nodes() -> list[int]:
    """The cores other pinned azora nodes on this machine run on (one entry per node)."""
    taken: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                args = cmdline.read().split(b"\0")
            cores = os.sched_getaffinity(int(entry))
        except OSError:
            continue    # gone meanwhile, or not ours to read
        if len(cores) == 1 and any(arg.endswith(b"azora") or arg == b"node.cli" for arg in args):
            taken.extend(cores)
    return taken


def _free_core(allowed: set[int], preferred: int) -> int:
    """``preferred`` unless another pinned azora node runs there and some allowed core has
    fewer of them: two dev chains on one machine would otherwise share a core."""
    try:
        taken = _cores_of_other_nodes()
    except OSError:
        return preferred
    return min(sorted(allowed), key=lambda core: (taken.count(core), core != preferred))


def pin_cpu(choice: str) -> int | None:
    """Confine the node's threads to one core (``choice``: "auto", "off" or a core number);
    returns the core, or None if left unpinned. Threads started later inherit it, the
    node's helper processes take the other cores (:func:`use_helper_cpus`).

    The node's Python runs on one core at a time whatever it does (one GIL), but its threads
    (the event loop answering requests, the one executing the next block) hand the GIL to each
    other hundreds of times a second, and the kernel's scheduler places them, and the RPC
    gateway's and clients' processes, wherever a core is free: on a 2-core machine under a
    single-request load, runs where the two threads kept crossing cores cost 15-20% more CPU
    per transaction than runs where they did not. Confined to one core, the interpreter's
    memory stays in that core's cache. "auto" takes the core the node runs on when it starts,
    or one fewer other pinned azora nodes run on, and pins nothing on a single core or where
    the platform cannot."""
    os.environ.pop(HELPER_CPUS_ENV, None)    # a pinned node's, inherited: not this one's
    if choice == "off" or not hasattr(os, "sched_setaffinity"):
        return None
    allowed = os.sched_getaffinity(0)
    if choice == "auto":
        if len(allowed) < 2:
            return None
        try:
            core = _current_cpu()
        except (OSError, ValueError, IndexError):
            return None
        core = _free_core(allowed, core if core in allowed else max(allowed))
    else:
        core = named_core(choice)
    for thread in _thread_ids():    # LevelDB's and the interpreter's threads started so far, too
        try:
            os.sched_setaffinity(thread, {core})
        except OSError:
            pass    # a thread that ended meanwhile
    helpers = allowed - {core}
    if helpers:
        os.environ[HELPER_CPUS_ENV] = ",".join(str(cpu) for cpu in sorted(helpers))
    return core


def use_helper_cpus() -> None:
    """In a helper process the node started: run on the cores the node left to its helpers
    (:func:`pin_cpu`), if it pinned itself."""
    cpus = os.environ.get(HELPER_CPUS_ENV)
    if not cpus or not hasattr(os, "sched_setaffinity"):
        return
    try:
        os.sched_setaffinity(0, {int(cpu) for cpu in cpus.split(",")})
    except (OSError, ValueError):
        pass   # cores taken away since (a cgroup change): stay where the node's process was


# How often a worker thread executing a block on the node's one core hands it to the event
# loop (:func:`yielding`). 8 single-request senders on `azora dev --block-time 1` (100M gas),
# ERC-20 transfers, alternated runs: every transaction 1,330-1,543/s (the loop, woken for a
# request or two each time, spent 0.61-0.71 ms of CPU per transfer), every millisecond
# 1,731-1,765/s (0.54 ms), every 2 ms 1,469-1,557/s, no yield 1,355-1,506/s (0.56-0.63 ms).
# ETH transfers, bound by the machine's two cores, alike at every setting.
YIELD_EVERY_SECONDS = 0.001


def yielding(until: Callable[[], bool] | None) -> Callable[[], bool] | None:
    """``until`` for :meth:`kernel.chain.OpenBlock.add` on a worker thread of a node whose
    threads share one core (:func:`pin_cpu`): before a transaction, once a millisecond, the
    core, and with it the GIL, goes to the event loop if the loop waits for them.

    A thread waiting for the GIL takes it when the holder drops it: at the holder's next
    blocking call, or after the interpreter's switch interval (5 ms) when it asks the holder
    to. While the dev node's fill thread executed the next block, each request the loop had
    to answer waited up to those 5 ms: eight single-request senders' ERC-20 transfers arrived
    at about eight per 5 ms, whatever the engine's rate. ``os.sched_yield`` drops the GIL,
    which wakes the loop's thread, and gives that thread the core, so it takes the GIL at
    once; with nobody waiting it costs a system call. A switch interval of 0.5 ms did as well
    for ERC-20 transfers but cost ETH transfers 10% (the loop's batches of requests were cut
    short in turn); the yield at a transaction boundary did not. A thread free to run on
    another core retakes the GIL before the woken waiter can, and the waiter starts its 5-ms
    wait over: there the yield does nothing, and is not made."""
    if not hasattr(os, "sched_yield") or not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) != 1:
        return until
    last = time.perf_counter()

    def check() -> bool:
        nonlocal last
        now = time.perf_counter()
        if now - last >= YIELD_EVERY_SECONDS:
            os.sched_yield()
            last = now
        return until is not None and until()
    return check
