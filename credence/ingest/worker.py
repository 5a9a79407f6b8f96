"""The validation worker: a child process that reads, validates and seals rows.

It is started with `subprocess`, not `multiprocessing`. A spawned
multiprocessing child starts the resource tracker, and a Queue's writer
blocks for ever on a full pipe once the reader is gone: measured, 31 of 32
killed ingests left worker and tracker running. Here the worker's stdin
is a pipe only the writer holds; its end of file (the writer finished,
failed, or was killed) ends the worker at once, and a thread also watches
the parent's pid (credence.lifeline). Results go back over stdout as
length-prefixed pickles; the worker's own prints go to stderr.

The worker also seals (salts, record hashes, subject hashes and leaf
hashes for the seqs the writer will most likely give), so the writer's
per-row work is only the insert. The spec it reads holds the registry's
subject-hash key: it crosses only this private pipe, never argv or the
environment.

Run as `python -m credence.ingest.worker PARENT_PID`.
"""

from __future__ import annotations

import gc
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import credence
from credence.core.ids import known_region_spans
from credence.ingest.checking import CheckSpec, SealedColumns, sealed_batches
from credence.lifeline import watch_parent

_LENGTH_BYTES = 8


def worker_batches(spec: CheckSpec, first_here: bool = True) -> Iterator[SealedColumns]:
    """Checked batches of `spec.path` from a worker process; the worker ends with this.

    With `first_here` this process checks the first batch itself while the
    worker starts (its imports take about half a second), and the worker
    begins at the second batch with the seqs that follow the first batch's
    rows: the writer then never waits for the worker's start.
    """
    process = _launch()
    try:
        first: SealedColumns | None = None
        if first_here:
            first = next(iter(sealed_batches(replace(spec, batch_limit=1))), None)
            if first is None:
                return
            rows = first.columns.num_rows
            regions = known_region_spans()
            spec = replace(spec, first_seq=spec.first_seq + rows, skip_batches=1, regions=regions)
        _send_spec(process, spec, wait=first is None)
        if first is not None:
            yield first
        while True:
            kind, payload = _receive(process)
            if kind == "done":
                break
            if kind == "error":
                raise payload
            yield payload
    finally:
        stop(process)


def _send_spec(process: subprocess.Popen[bytes], spec: CheckSpec, wait: bool) -> None:
    """Send the spec; unless `wait`, from a thread, so the writer goes on with its batch.

    The spec (with the catalogue and the regions read so far) is larger
    than a pipe holds, and the worker reads it only once its imports are
    done: written here, the writer waited for them. A worker that dies
    first breaks the pipe, and the writer hears of it from _receive.
    """
    stdin = process.stdin
    assert stdin is not None
    if wait:
        _send(stdin, spec)
        return

    def send() -> None:
        with suppress(OSError, ValueError):  # the worker is gone, or stop() closed the pipe
            _send(stdin, spec)

    threading.Thread(target=send, name="credence-worker-spec", daemon=True).start()


def _launch() -> subprocess.Popen[bytes]:
    """Start the worker; it imports what it needs, then waits for its spec on stdin."""
    env = dict(os.environ)
    root = str(Path(credence.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    process = subprocess.Popen(
        [sys.executable, "-m", "credence.ingest.worker", str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    return process


def _receive(process: subprocess.Popen[bytes]) -> tuple[str, Any]:
    assert process.stdout is not None
    body = _read_frame(process.stdout)
    if body is None:
        status = process.wait()
        raise RuntimeError(f"the validation worker stopped unexpectedly (exit status {status})")
    message: tuple[str, Any] = pickle.loads(body)  # our own child's output
    return message


def stop(process: subprocess.Popen[bytes]) -> None:
    """End the worker: closing its stdin makes it exit; kill it if it does not."""
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            with suppress(OSError):
                stream.close()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _send(stream: IO[bytes], message: Any) -> None:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(len(body).to_bytes(_LENGTH_BYTES, "big") + body)
    stream.flush()


def _read_frame(stream: IO[bytes]) -> bytes | None:
    head = stream.read(_LENGTH_BYTES)
    if len(head) < _LENGTH_BYTES:
        return None
    size = int.from_bytes(head, "big")
    body = stream.read(size)
    return body if len(body) == size else None


def _portable(exc: Exception) -> Exception:
    """`exc` if it survives pickling, else a RuntimeError naming it."""
    with suppress(Exception):
        copy: Exception = pickle.loads(pickle.dumps(exc))
        return copy
    return RuntimeError(f"{type(exc).__name__} in the validation worker: {exc}")


def _run(spec: CheckSpec, channel: IO[bytes]) -> None:
    gc.set_threshold(100_000, 50, 100)  # see checking.bulk_gc; this process only ingests
    try:
        for sealed in sealed_batches(spec):  # Arrow columns cross the pipe as flat buffers
            _send(channel, ("batch", sealed))
        _send(channel, ("done", None))
    except BrokenPipeError:
        raise
    except Exception as exc:  # report everything; the writer decides
        _send(channel, ("error", _portable(exc)))


def _warm() -> None:
    """Import and load what checking needs while the writer checks the first batch itself.

    Done after the spec arrived, this took half a second of the time the
    writer then waited for the second batch. If the writer goes away
    meanwhile, reading the spec meets end of file just after.
    """
    import pyarrow.compute
    import pyarrow.parquet  # noqa: F401

    import credence.ingest.arrowcheck  # noqa: F401
    from credence.core.guard.lexicon import load_lexicon

    load_lexicon()


def main(argv: list[str]) -> None:
    """The worker process: read the spec from stdin, stream results to stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the writer's to handle
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print must not corrupt the result stream
    stdin = sys.stdin.buffer
    _warm()
    body = _read_frame(stdin)
    if body is None:  # the writer went away before sending the spec
        os._exit(0)
    spec: CheckSpec = pickle.loads(body)
    watch_parent(int(argv[1]), stdin)
    try:
        _run(spec, channel)
        channel.close()
    except BrokenPipeError:  # the writer stopped reading: nothing left to do
        pass
    # Skip interpreter shutdown: the lifeline thread is blocked reading stdin, and
    # finalising under it aborts with "could not acquire lock for <stdin>".
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
