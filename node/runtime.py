"""The node's interpreter, set up for a long-running server."""
from __future__ import annotations

import gc
import os

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
