"""Work too slow for a request, done once in the background and shared by every asker.

A page asks for a result by key (what it answers: rulebook, ledger size,
day); the first ask starts the computation on the one worker, later asks get
the same run, finished or not, and the page refreshes itself until it is
done. Finished runs are kept (the newest few), failed ones are retried on the
next ask.

Askers get a copy of the run as it was when they asked, never the live object:
a page that checked `result` and then rendered `state` could otherwise see the
run finish in between and render "done" with no result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

_KEPT = 16


@dataclass
class Run:
    """One computation: running, done (with its result) or failed (with why)."""

    label: str
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    result: Any = None
    error: str | None = None

    @property
    def state(self) -> str:
        if self.error is not None:
            return "failed"
        return "running" if self.finished is None else "done"


class Jobs:
    """Keyed background runs on one worker thread, so they never compete with each other."""

    def __init__(self, name: str) -> None:
        self._runs: dict[Hashable, Run] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def get_or_start(self, key: Hashable, label: str, work: Callable[[], Any]) -> Run:
        with self._lock:
            run = self._runs.get(key)
            if run is not None and run.state != "failed":
                return replace(run)
            run = self._runs[key] = Run(label)
            finished = [k for k, r in self._runs.items() if r.state != "running"]
            for old in finished[: max(0, len(self._runs) - _KEPT)]:
                del self._runs[old]
        view = replace(run)
        self._pool.submit(_compute, run, work)
        return view

    def latest_done(self, match: Callable[[Hashable], bool]) -> Run | None:
        """The most recently finished successful run whose key satisfies `match`."""
        with self._lock:
            done = [r for k, r in self._runs.items() if match(k) and r.state == "done"]
        latest = max(done, key=lambda r: r.finished or 0.0, default=None)
        return None if latest is None else replace(latest)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _compute(run: Run, work: Callable[[], Any]) -> None:
    try:
        run.result = work()
    except Exception as exc:  # shown on the page; the next ask tries again
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        run.finished = time.monotonic()
