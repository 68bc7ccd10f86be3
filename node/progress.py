"""Rate and ETA of long jobs (`azora import`, range sync, building a large genesis): a rich
progress bar when a person watches a terminal, a plain log line every few seconds when the
output goes to a file."""
from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from types import TracebackType
from typing import Callable, Iterator, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task, TaskID, TextColumn, TimeRemainingColumn,
)
from rich.text import Text

logger = logging.getLogger("azora.progress")
LOG_EVERY_SECONDS = 5.0
# A genesis with fewer accounts builds in well under a second: no bar flashes at every start.
GENESIS_PROGRESS_MIN_ACCOUNTS = 2000


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "ETA unknown"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"ETA {seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"ETA {seconds // 60}m{seconds % 60:02d}s"
    return f"ETA {seconds}s"


class RateTracker:
    """Items per second and the time left, over the whole job so far."""

    def __init__(self, total: int | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.total, self.clock = total, clock
        self.started = clock()
        self.done = 0

    @property
    def rate(self) -> float:
        elapsed = self.clock() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        if self.total is None or self.rate <= 0:
            return None
        return max(0, self.total - self.done) / self.rate

    def describe(self, what: str, unit: str) -> str:
        of = f"/{self.total}" if self.total is not None else ""
        return f"{what}: {self.done}{of} {unit} ({self.rate:,.0f} {unit}/s, {format_eta(self.eta)})"


class _RateColumn(ProgressColumn):
    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} {self.unit}/s" if speed else f"- {self.unit}/s")


class ProgressReporter:
    """``with ProgressReporter("importing", total, "blocks") as progress: progress.advance()``."""

    def __init__(self, what: str, total: int | None, unit: str, *, stream: TextIO | None = None,
                 every: float = LOG_EVERY_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self.unit, self.every, self.clock = what, unit, every, clock
        self.tracker = RateTracker(total, clock)
        stream = stream if stream is not None else sys.stderr
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._logged_at = self.tracker.started
        if stream.isatty():
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 _RateColumn(unit), TimeRemainingColumn(),
                                 console=Console(file=stream), transient=False)

    def __enter__(self) -> "ProgressReporter":
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task(self.what, total=self.tracker.total)
        return self

    def set_total(self, total: int | None) -> None:
        """The job grew (range sync: peers' heads move on while we fetch)."""
        self.tracker.total = total
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, total=total)

    def advance(self, count: int = 1, detail: str = "") -> None:
        self.tracker.done += count
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=count,
                             description=f"{self.what} {detail}".rstrip())
        elif self.clock() - self._logged_at >= self.every:
            self._logged_at = self.clock()
            logger.info("%s%s", self.tracker.describe(self.what, self.unit), f" at {detail}" if detail else "")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()


@contextmanager
def genesis_progress(accounts: int, *, stream: TextIO | None = None, every: float = LOG_EVERY_SECONDS,
                     clock: Callable[[], float] = time.monotonic) -> Iterator[Callable[[int], None] | None]:
    """``progress(count)`` for ``Genesis.build`` over a genesis of ``accounts`` alloc accounts,
    or None for a small one. The build runs on every start (a stored chain's genesis is rebuilt
    to check it), so a large genesis shows it each time."""
    if accounts < GENESIS_PROGRESS_MIN_ACCOUNTS:
        yield None
        return
    with ProgressReporter("building genesis", accounts, "accounts", stream=stream, every=every,
                          clock=clock) as progress:
        yield progress.advance


class SyncProgress:
    """Range sync's report: a bar (rate, ETA) on a terminal; otherwise one log line per batch
    ("synced to #H of #T (R blocks/s, ETA ...)"), which operators and tests read."""

    def __init__(self, starting: int, *, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.starting = starting
        stream = stream if stream is not None else sys.stderr
        self._bar = ProgressReporter("range sync", None, "blocks", stream=stream, clock=clock) \
            if stream.isatty() else None
        self._rate = RateTracker(None, clock)
        if self._bar is not None:
            self._bar.__enter__()

    def update(self, head: int, highest: int, imported: int) -> None:
        if self._bar is not None:
            self._bar.set_total(highest - self.starting)
            self._bar.advance(imported - self._bar.tracker.done, f"#{head} of #{highest}")
            return
        self._rate.done, self._rate.total = imported, highest - self.starting
        logger.info("synced to #%d of #%d (%s blocks/s, %s)", head, highest, f"{self._rate.rate:,.0f}",
                    format_eta(self._rate.eta))

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
