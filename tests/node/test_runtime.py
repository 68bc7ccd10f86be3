"""The node's interpreter settings (node/runtime.py)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import psutil
import pytest


def test_the_node_collects_garbage_less_often_and_never_walks_what_it_loaded_to_start():
    # in a process of its own: the settings are the interpreter's, for good
    script = ("import gc; from node.runtime import GC_THRESHOLDS, tune_gc; "
              "before = gc.get_freeze_count(); tune_gc(); "
              "assert gc.get_threshold() == GC_THRESHOLDS and GC_THRESHOLDS[0] > 700, gc.get_threshold(); "
              "assert gc.get_freeze_count() > before == 0; print('ok')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


MULTI_CORE = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs two cores")


def _pinned_in_a_process(choice: str, env: dict[str, str] | None = None) -> dict:
    # in a process of its own: pinning is the process's, for good
    script = ("import json, os, threading, time; from node.runtime import HELPER_CPUS_ENV, pin_cpu; "
              "early = threading.Thread(target=time.sleep, args=(2,)); early.start(); "
              f"core = pin_cpu({choice!r}); "
              "tasks = {t: sorted(os.sched_getaffinity(int(t))) for t in os.listdir('/proc/self/task')}; "
              "print(json.dumps({'core': core, 'tasks': tasks, 'helpers': os.environ.get(HELPER_CPUS_ENV)}))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@MULTI_CORE
def test_auto_pins_every_thread_of_the_node_to_one_core_and_leaves_the_others_to_its_helpers():
    allowed = os.sched_getaffinity(0)
    out = _pinned_in_a_process("auto")
    assert out["core"] in allowed
    assert len(out["tasks"]) == 2 and all(cpus == [out["core"]] for cpus in out["tasks"].values())
    assert out["helpers"] == ",".join(str(cpu) for cpu in sorted(allowed - {out["core"]}))


@MULTI_CORE
def test_a_core_named_is_the_core_taken_and_off_pins_nothing_nor_passes_on_a_parents_helpers():
    core = max(os.sched_getaffinity(0))
    assert _pinned_in_a_process(str(core))["core"] == core
    out = _pinned_in_a_process("off", env={"AZORA_HELPER_CPUS": "0"})
    assert out["core"] is None and out["helpers"] is None
    assert all(set(cpus) == os.sched_getaffinity(0) for cpus in out["tasks"].values())


def _cores(process: psutil.Process) -> set[int]:
    return {cpu for thread in process.threads() for cpu in os.sched_getaffinity(thread.id)}


@MULTI_CORE
def test_a_dev_node_runs_on_one_core_and_its_rpc_gateway_on_the_others(start_azora):
    node = start_azora("dev")
    assert node.rpc("eth_chainId")["result"]
    process = psutil.Process(node.proc.pid)
    gateway, = [child for child in process.children() if "node.rpc.gateway" in " ".join(child.cmdline())]
    core, = _cores(process)
    assert _cores(gateway) == os.sched_getaffinity(0) - {core}


@MULTI_CORE
def test_cpu_pin_off_leaves_the_node_where_the_os_puts_it_and_a_core_it_cannot_use_is_refused(start_azora):
    node = start_azora("dev", "--cpu.pin", "off")
    assert _cores(psutil.Process(node.proc.pid)) == os.sched_getaffinity(0)
    refused = subprocess.run([sys.executable, "-m", "node.cli", "dev", "--cpu.pin", "4096"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "core 4096 is not one this process may use" in refused.stderr


def test_auto_takes_the_core_fewest_other_pinned_nodes_run_on_preferring_its_own(monkeypatch):
    from node import runtime

    monkeypatch.setattr(runtime, "_cores_of_other_nodes", lambda: [1, 1, 0])
    assert runtime._free_core({0, 1, 2}, 1) == 2
    monkeypatch.setattr(runtime, "_cores_of_other_nodes", lambda: [1])
    assert runtime._free_core({0, 1}, 1) == 0 and runtime._free_core({0, 1}, 0) == 0
    monkeypatch.setattr(runtime, "_cores_of_other_nodes", lambda: [0, 1])
    assert runtime._free_core({0, 1}, 1) == 1


@MULTI_CORE
def test_a_pinned_dev_node_is_seen_by_the_next_one_to_start(start_azora):
    from node.runtime import _cores_of_other_nodes

    node = start_azora("dev")
    core, = _cores(psutil.Process(node.proc.pid))
    assert core in _cores_of_other_nodes()


def test_a_worker_thread_confined_to_one_core_yields_it_between_transactions_once_a_period(monkeypatch):
    from node import runtime

    yields = []
    system_yield = os.sched_yield
    monkeypatch.setattr(runtime.os, "sched_yield", lambda: (yields.append(1), system_yield())[1])
    seen: dict[str, object] = {}

    def on_one_core() -> None:   # affinity is per thread: this one only, as pin_cpu pins a node's
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        answers = iter([False, False, True])
        monkeypatch.setattr(runtime, "YIELD_EVERY_SECONDS", 0.0)
        until = runtime.yielding(lambda: next(answers))
        seen["answers"] = [until(), until(), until()]
        seen["no until"] = runtime.yielding(None)()
        seen["yields"] = len(yields)
        monkeypatch.setattr(runtime, "YIELD_EVERY_SECONDS", 3600.0)
        until = runtime.yielding(None)
        seen["within a period"] = [until() for _ in range(5)]

    thread = threading.Thread(target=on_one_core)
    thread.start()
    thread.join()
    assert seen == {"answers": [False, False, True], "no until": False, "yields": 4,
                    "within a period": [False] * 5}
    assert len(yields) == 4


@MULTI_CORE
def test_a_thread_free_to_use_other_cores_is_given_its_until_unchanged():
    from node import runtime

    def until() -> bool:
        return False

    assert runtime.yielding(until) is until and runtime.yielding(None) is None
