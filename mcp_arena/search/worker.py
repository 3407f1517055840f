"""Recall's background thread, and how it stays out of the tool calls' way.

One daemon thread (named `arena-search-index`) runs a pass of work — embed the
appended events, check the full-text index — after an append wakes it (or every
`idle_seconds`), once a burst of appends has paused (`settle_seconds`, at most
`settle_max_seconds`). Tool calls mark themselves with `foreground()`; the
thread yields to them before its table scans (`yield_to_calls`) and waits for
a pause in the calls between two model batches (`wait_for_a_pause`). The thread
runs at a lower priority where the OS allows it. What a pass does is the
caller's (`SearchIndex`); this file only schedules it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator

logger = logging.getLogger(__name__)

THREAD_NAME = "arena-search-index"
# Background embedding runs a model batch (~0.1-0.3 s) only after calls paused this long,
# or after waiting this long at most.
PAUSE_SECONDS = 0.25
PAUSE_MAX_WAIT = 5.0


class Background:
    def __init__(
        self,
        work: Callable[[], None],
        *,
        idle_seconds: float = 30.0,
        settle_seconds: float = 1.0,
        settle_max_seconds: float = 10.0,
    ) -> None:
        self._work = work
        self._idle_seconds = idle_seconds
        self._settle_seconds = settle_seconds
        self._settle_max_seconds = settle_max_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._calls_in_flight = 0
        self._last_call_end = 0.0  # time.monotonic() of the newest call's end
        self._calls_quiet = threading.Condition()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self.thread.start()

    def wake(self) -> None:
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def is_current(self) -> bool:
        """Whether the caller runs on the background thread (its waits apply only there)."""
        return threading.current_thread() is self.thread

    def stop(self) -> None:
        """Ask the thread to stop after its current step; waits end at once."""
        self._stop.set()
        self._wake.set()

    def join(self, timeout: float) -> None:
        """Wait for the stopped thread, at most `timeout` seconds."""
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)
            if self.thread.is_alive():
                logger.warning("search index thread did not stop within %.0f s", timeout)

    # -- yielding to tool calls ---------------------------------------------------------------

    @contextlib.contextmanager
    def foreground(self) -> Iterator[None]:
        """Mark a tool call in progress: background embedding yields to it between small batches."""
        with self._calls_quiet:
            self._calls_in_flight += 1
        try:
            yield
        finally:
            with self._calls_quiet:
                self._calls_in_flight -= 1
                self._last_call_end = time.monotonic()
                self._calls_quiet.notify_all()

    def yield_to_calls(self) -> None:
        """Wait while a tool call runs (the thread's scans share LanceDB's one event-loop thread with it)."""
        with self._calls_quiet:
            while self._calls_in_flight and not self._stop.is_set():
                self._calls_quiet.wait(0.1)

    def wait_for_a_pause(self) -> None:
        """Between two model batches of background work: wait until no call has run for
        `PAUSE_SECONDS` (an agent's think time), at most `PAUSE_MAX_WAIT`, so a burst of
        calls is not shared with the model, and a backlog still moves under constant load."""
        deadline = time.monotonic() + PAUSE_MAX_WAIT
        with self._calls_quiet:
            while not self._stop.is_set():
                now = time.monotonic()
                quiet_for = now - self._last_call_end
                if (not self._calls_in_flight and quiet_for >= PAUSE_SECONDS) or now >= deadline:
                    return
                self._calls_quiet.wait(min(deadline - now, max(PAUSE_SECONDS - quiet_for, 0.02)))

    # -- the loop -----------------------------------------------------------------------------

    def _run(self) -> None:
        _lower_thread_priority()
        while not self._stop.is_set():
            self._wake.wait(self._idle_seconds)
            self._wake.clear()
            self._settle()
            if self._stop.is_set():
                break
            self._work()

    def _settle(self) -> None:
        """Wait for a burst of appends to pause (bounded), so the model runs between
        tool calls, in batches, rather than beside each call on the same cores."""
        deadline = time.monotonic() + self._settle_max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline and self._wake.wait(self._settle_seconds):
            self._wake.clear()


def _lower_thread_priority() -> None:
    """Background embedding must leave the cores to tool calls: nice this thread
    (Linux applies setpriority to one thread when given its id; elsewhere a no-op)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 15)
    except (AttributeError, OSError):
        pass
