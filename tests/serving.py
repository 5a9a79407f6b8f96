"""A real `credence serve` process for the end-to-end and browser tests.

Both tiers drive the same thing a user runs: keys from `credence key issue`
(the key alone on the last line), then the server on a free loopback port,
stopped with SIGTERM as a service manager would.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

CLI = [str(Path(sys.executable).parent / "credence")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def served_env(data: Path, today: str = "2026-06-01") -> dict[str, str]:
    """This environment, with a registry at `data`, a free port and a fixed day."""
    return {
        **os.environ,
        "CREDENCE_DATA_DIR": str(data),
        "CREDENCE_PORT": str(free_port()),
        "CREDENCE_TODAY": today,
    }


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def issue_key(env: dict[str, str], *args: str) -> str:
    """`credence key issue ARGS`: the key, alone on its output's last line."""
    return cli(env, "key", "issue", *args).strip().splitlines()[-1]


@contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`credence serve` until SIGTERM; yields its base URL and the process (for its exit)."""
    with log.open("w") as out:
        proc = subprocess.Popen([*CLI, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{env['CREDENCE_PORT']}"
        deadline = time.monotonic() + 60
        while True:
            try:
                # Ready (warm-up done), which implies alive: a server that never warms fails here.
                if httpx.get(f"{base}/v1/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "credence serve was not ready in 60 s"
            time.sleep(0.2)
        try:
            yield base, proc
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
