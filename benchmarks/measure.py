"""What the benchmarks share: peak memory of a process tree, and the machine's description."""

from __future__ import annotations

import contextlib
import os
import platform
import threading
from pathlib import Path
from typing import Any


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            kids += [int(k) for k in task.read_text().split()]
    return kids


class MemorySampler(threading.Thread):
    """Samples the resident memory of this process plus its children (Linux /proc)."""

    def __init__(self, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.peak_kib = 0
        self._done = threading.Event()

    def _sample(self) -> None:
        me = os.getpid()
        total = _rss_kib(me) + sum(_rss_kib(k) for k in _children(me))
        self.peak_kib = max(self.peak_kib, total)

    def run(self) -> None:
        self._sample()
        while not self._done.wait(self.interval):
            self._sample()

    def stop(self) -> float:
        """Stop sampling; the peak in MiB."""
        self._done.set()
        self.join()
        self._sample()
        return self.peak_kib / 1024


def _proc_field(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine(extra: str = "") -> str:
    """CPU model, cores, RAM and Python version (plus `extra`), for RESULTS.md."""
    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()
    mem = _proc_field("/proc/meminfo", "MemTotal:")
    ram = f", {int(mem.split()[0]) / 2**20:.1f} GiB RAM" if mem else ""
    tail = f", {extra}" if extra else ""
    return f"{cpu}, {os.cpu_count()} cores{ram}, Python {platform.python_version()}{tail}"


def open_cached(settings: Any) -> Any:
    """A registry a benchmark cached in an earlier run, brought to the current schema
    first (`credence migrate`): a cache from before a schema change stays usable."""
    from credence.store.migrate import migrate_registry
    from credence.store.registry import Registry

    migrate_registry(settings)
    return Registry.open(settings)
