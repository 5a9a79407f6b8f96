"""Child processes that die with the process that started them.

A child blocked on a pipe or busy validating does not notice when its
parent is killed with SIGKILL: measured before this module, 31 of 32
killed ingests left their validation worker (and with it multiprocessing's
resource tracker, which waits for every holder of its pipe) running, one
pair for 28 minutes. Every credence child therefore watches its parent
itself and leaves with `os._exit`, which skips cleanup that could block.

Polling `os.getppid()` works on every POSIX system and survives
subreapers (the parent id changes either way); Linux's PR_SET_PDEATHSIG
is not used because it fires when the *thread* that started the child
ends, which a server's request thread may do while the child still works.
"""

from __future__ import annotations

import os
import threading
import time
from typing import BinaryIO

POLL_SECONDS = 0.25


def watch_parent(parent_pid: int, stream: BinaryIO | None = None) -> None:
    """Exit this process soon after `parent_pid` is gone (a daemon thread watches).

    `stream`, if given, is a pipe whose other end only the parent holds:
    its end-of-file is the fastest sign of the parent's death (and of the
    parent asking the child to stop).
    """
    if os.getppid() != parent_pid:  # the parent died before we got here
        os._exit(1)
    threading.Thread(target=_poll, args=(parent_pid,), daemon=True).start()
    if stream is not None:
        threading.Thread(target=_drain, args=(stream,), daemon=True).start()


def _poll(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_SECONDS)
    os._exit(1)


def _drain(stream: BinaryIO) -> None:
    try:
        while stream.read(4096):
            pass
    finally:
        os._exit(0)


def pool_initializer(parent_pid: int) -> None:
    """`ProcessPoolExecutor(initializer=...)`: a pool worker dies with the pool's owner.

    Without it, spawned pool workers outlive a killed parent (measured:
    still running, re-parented to init, with the resource tracker beside
    them).
    """
    watch_parent(parent_pid)
