"""Progress of long jobs: rate and ETA as a rich bar on a terminal, log lines otherwise; the
chain file's block count read from its length prefixes alone."""
from __future__ import annotations

import io
import logging

import rlp

from node.chainio import count_rlp_items
from node.progress import ProgressReporter, RateTracker, SyncProgress, format_eta


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_rate_and_eta_over_the_job_so_far():
    clock = Clock()
    tracker = RateTracker(1000, clock)
    assert tracker.eta is None                      # nothing done yet
    clock.now += 2
    tracker.done = 100
    assert tracker.rate == 50 and tracker.eta == 18
    assert tracker.describe("importing", "blocks") == "importing: 100/1000 blocks (50 blocks/s, ETA 18s)"
    assert [format_eta(s) for s in (5, 125, 7322, None)] == ["ETA 5s", "ETA 2m05s", "ETA 2h02m", "ETA unknown"]


def test_a_file_gets_a_log_line_every_few_seconds_and_no_bar(caplog):
    clock, out = Clock(), io.StringIO()
    with caplog.at_level(logging.INFO, logger="azora.progress"):
        with ProgressReporter("importing", 300, "blocks", stream=out, every=5, clock=clock) as progress:
            for number in range(1, 301):
                clock.now += 0.25             # 4 blocks a second: a line every 20 blocks
                progress.advance(detail=f"#{number}")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 15, lines
    assert lines[0] == "importing: 20/300 blocks (4 blocks/s, ETA 1m10s) at #20"
    assert out.getvalue() == ""


def test_a_terminal_gets_a_bar_with_rate_and_eta(caplog):
    terminal = Terminal()
    with caplog.at_level(logging.INFO, logger="azora.progress"):
        with ProgressReporter("importing", 20, "blocks", stream=terminal) as progress:
            for number in range(20):
                progress.advance(detail=f"#{number}")
    assert caplog.records == []
    shown = terminal.getvalue()
    assert "importing #19" in shown and "20/20" in shown and "blocks/s" in shown


def test_range_sync_logs_a_line_per_batch_to_a_file_and_shows_a_bar_on_a_terminal(caplog):
    """The peers' head moves on while we fetch: the total grows with it."""
    clock = Clock()
    with caplog.at_level(logging.INFO, logger="azora.progress"):
        to_file = SyncProgress(100, stream=io.StringIO(), clock=clock)
        clock.now += 2
        to_file.update(356, 1100, 256)
        to_file.close()
    assert [r.getMessage() for r in caplog.records] == ["synced to #356 of #1100 (128 blocks/s, ETA 5s)"]
    terminal = Terminal()
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="azora.progress"):
        on_terminal = SyncProgress(100, stream=terminal, clock=clock)
        on_terminal.update(356, 1100, 256)
        on_terminal.update(612, 1200, 512)
        on_terminal.close()
    assert caplog.records == []
    shown = terminal.getvalue()
    assert "range sync #612 of #1200" in shown and "512/1100" in shown and "blocks/s" in shown


def test_count_rlp_items_reads_only_length_prefixes(tmp_path):
    items = [rlp.encode([b"\x01" * size, [b"x"]]) for size in (1, 60, 300, 70_000)]
    path = tmp_path / "chain.rlp"
    path.write_bytes(b"".join(items))
    assert count_rlp_items(path) == 4
    path.write_bytes(b"")
    assert count_rlp_items(path) == 0
