"""Background runs: an asker sees the run as it was when it asked."""

from __future__ import annotations

import threading
import time

from credence.service.background import Jobs


def _wait_done(jobs: Jobs, key: str) -> None:
    deadline = time.monotonic() + 30
    while jobs.latest_done(lambda k: k == key) is None:
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.01)


def test_a_view_does_not_change_when_the_run_finishes_after_the_ask() -> None:
    """The simulation page checked `run.result`, then rendered `run.state`: a run finishing
    in between gave "done" with no result (an UndefinedError on the page)."""
    jobs = Jobs("test")
    release = threading.Event()

    def work() -> str:
        release.wait(30)
        return "counted"

    try:
        asked = jobs.get_or_start("sim", "draft", work)
        release.set()
        _wait_done(jobs, "sim")
        assert asked.state == "running" and asked.result is None
        later = jobs.get_or_start("sim", "draft", work)
        assert later.state == "done" and later.result == "counted"
    finally:
        jobs.close()


def test_a_finished_view_holds_its_result() -> None:
    jobs = Jobs("test")
    try:
        jobs.get_or_start("k", "label", lambda: 42)
        _wait_done(jobs, "k")
        done = jobs.latest_done(lambda k: k == "k")
        assert done is not None and done.state == "done" and done.result == 42
    finally:
        jobs.close()
