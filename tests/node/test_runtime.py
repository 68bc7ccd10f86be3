"""The node's interpreter settings (node/runtime.py)."""
from __future__ import annotations

import subprocess
import sys


def test_the_node_collects_garbage_less_often_and_never_walks_what_it_loaded_to_start():
    # in a process of its own: the settings are the interpreter's, for good
    script = ("import gc; from node.runtime import GC_THRESHOLDS, tune_gc; "
              "before = gc.get_freeze_count(); tune_gc(); "
              "assert gc.get_threshold() == GC_THRESHOLDS and GC_THRESHOLDS[0] > 700, gc.get_threshold(); "
              "assert gc.get_freeze_count() > before == 0; print('ok')")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
