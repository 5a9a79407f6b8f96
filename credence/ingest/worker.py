"""The validation worker: a child process that reads, validates and seals rows.

It is started with `subprocess`, not `multiprocessing`. A spawned
multiprocessing child starts the resource tracker, and a Queue's writer
blocks for ever on a full pipe once the reader is gone: measured, 31 of 32
killed ingests left worker and tracker running. Here the worker's stdin
is a pipe only the writer holds; its end of file (the writer finished,
failed, or was killed) ends the worker at once, and a thread also watches
the parent's pid (credence.lifeline). Messages both ways are
length-prefixed pickles (the writer's: a file's spec; the worker's:
batches, a warm worker's first batch in parts, then "done"); the
worker's own prints go to stderr. Between files it waits for the next spec,
so a caller ingesting several files (resident_worker) starts it once. The
writer reads the worker's frames on a thread of its own (_Reader), up to
two ahead of the batch it appends, so the worker is never held on a full
pipe while the writer appends.

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
import queue
import signal
import subprocess
import sys
import threading
import traceback
import weakref
from collections.abc import Generator, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import credence
from credence.core.ids import known_region_spans
from credence.ingest.checking import CheckSpec, SealedColumns, sealed_batches
from credence.lifeline import watch_parent

_LENGTH_BYTES = 8
# Where a warm worker's parts of a file's first batch end (fractions of the batch size).
# The first is small so the writer starts soon; below about 5,000 rows a check costs
# more a row (each call compiles the catalogue's patterns), so the parts then grow.
FIRST_PARTS = (0.1, 0.3, 0.6)


def worker_batches(
    spec: CheckSpec, first_here: bool = True, then: CheckSpec | None = None
) -> Iterator[SealedColumns]:
    """Checked batches of `spec.path` from a worker process.

    A cold worker (just started) ends with this. With `first_here` this
    process checks the first batch itself while the worker starts (its
    imports take about half a second), and the worker begins at the second
    batch with the seqs that follow the first batch's rows: the writer then
    never waits for the worker's start. Inside resident_worker() the worker
    is kept for the next file; a warm one checks the whole file and sends
    its first batch in parts (see _streamed_first).

    `then` announces the file the caller ingests next (inside
    resident_worker()): the worker checks it as soon as this one is done,
    while the writer is still appending this file's last batches, and its
    seqs follow this file's rows. A worker kept with an announced file
    serves only that file; asked for another, it is stopped and a new one
    started, so nothing it checked is ever given to the wrong file.
    """
    scope = _scope
    process, announced = scope.take(_key(spec)) if scope is not None else (None, False)
    warm = process is not None
    if process is None:
        process = _launch()
    ahead = []
    if then is not None and scope is not None:
        ahead.append(("spec", replace(then, follows=True, regions=known_region_spans())))
    clean = False
    try:
        if announced:  # the worker has been checking this file since the last one ended
            _send_spec(process, ahead, wait=True)
        elif warm and first_here:
            clean = yield from _streamed_first(process, spec, ahead)
        else:
            clean = yield from _cold_start(process, spec, first_here, ahead)
        if not clean:
            clean = yield from _rest(process)
    finally:
        # The announced file's check is under way if it was sent and this one ended clean.
        key = _key(then) if ahead and clean and then is not None else None
        if not (clean and scope is not None and scope.give(process, key)):
            stop(process)


def _key(spec: CheckSpec) -> tuple[Any, ...]:
    """What a file's check depends on, to match an announced file with the one asked for."""
    return (spec.path, spec.source, spec.allowed, spec.today, spec.batch_size, spec.read,
            spec.catalogue_path, spec.subject_key)  # fmt: skip


def _cold_start(
    process: subprocess.Popen[bytes],
    spec: CheckSpec,
    first_here: bool,
    ahead: list[tuple[str, Any]],
) -> Generator[SealedColumns, None, bool]:
    """The first batch checked here while a new worker imports; True if the file had none
    (then the worker was told nothing, and no file ahead either)."""
    first: SealedColumns | None = None
    if first_here:
        first = next(iter(sealed_batches(replace(spec, batch_limit=1))), None)
        if first is None:
            ahead.clear()  # an empty file: the worker is idle as it was
            return True
        rows = first.columns.num_rows
        regions = known_region_spans()
        spec = replace(spec, first_seq=spec.first_seq + rows, skip_batches=1, regions=regions)
    _send_spec(process, [("spec", spec), *ahead], wait=first is None)
    if first is not None:
        yield first
    return False


def _streamed_first(
    process: subprocess.Popen[bytes], spec: CheckSpec, ahead: list[tuple[str, Any]]
) -> Generator[SealedColumns, None, bool]:
    """A warm worker checks the whole file and sends the first batch in parts.

    The writer inserts each part inside the batch's one transaction while
    the worker checks the next (see Appender.append_parts), so it waits for
    the first part only and checks nothing itself. True: the worker said done.
    """
    told = replace(spec, first_parts=FIRST_PARTS, regions=known_region_spans())
    _send_spec(process, [("spec", told), *ahead], wait=True)  # a warm worker reads it at once
    return (yield from _rest(process))


def _rest(process: subprocess.Popen[bytes]) -> Generator[SealedColumns, None, bool]:
    """The worker's batches up to its "done" (then True)."""
    while True:
        kind, payload = _receive(process)
        if kind == "done":
            return True
        if kind == "error":
            raise payload
        yield payload


class _Resident:
    """The one worker kept between files inside resident_worker(), and the file it was told
    to check ahead (its key), if any."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._announced: tuple[Any, ...] | None = None
        self._open = True

    def take(self, key: tuple[Any, ...]) -> tuple[subprocess.Popen[bytes] | None, bool]:
        """The kept worker for the file `key` and whether it is already checking that file;
        (None, False) when there is none, or when it checks another file (then stopped)."""
        with self._lock:
            process, self._process = self._process, None
            announced, self._announced = self._announced, None
        if process is None:
            return None, False
        if process.poll() is not None or (announced is not None and announced != key):
            stop(process)  # died meanwhile, or busy with a file this caller did not ask for
            return None, False
        return process, announced is not None

    def give(self, process: subprocess.Popen[bytes], announced: tuple[Any, ...] | None) -> bool:
        with self._lock:
            if not self._open or self._process is not None or process.poll() is not None:
                return False
            self._process, self._announced = process, announced
            return True

    def close(self) -> None:
        with self._lock:
            process, self._process, self._open = self._process, None, False
        if process is not None:
            stop(process)


_scope: _Resident | None = None


@contextmanager
def resident_worker() -> Iterator[None]:
    """Keep the validation worker between the files ingested inside this block.

    A new worker costs about 0.7 s of CPU (interpreter and imports) and
    checks nothing of a file's first batch; a kept one is ready at once, so
    every file, small ones too, is checked beside the writer. For callers
    that ingest several files in a row (demo, benchmark); the worker ends
    with the block, and as ever with the writer.
    """
    global _scope
    if _scope is not None:  # nested: the outer block keeps it
        yield
        return
    _scope = _Resident()
    try:
        yield
    finally:
        scope, _scope = _scope, None
        scope.close()


def resident_worker_active() -> bool:
    return _scope is not None


def _send_spec(process: subprocess.Popen[bytes], specs: list[tuple[str, Any]], wait: bool) -> None:
    """Send the specs in order; unless `wait`, from a thread, so the writer goes on with its
    batch.

    A spec (with the catalogue and the regions read so far) is larger
    than a pipe holds, and the worker reads it only once its imports are
    done: written here, the writer waited for them. A worker that dies
    first breaks the pipe, and the writer hears of it from _receive.
    """
    stdin = process.stdin
    assert stdin is not None
    if wait:
        for spec in specs:
            _send(stdin, spec)
        return

    def send() -> None:
        with suppress(OSError, ValueError):  # the worker is gone, or stop() closed the pipe
            for spec in specs:
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
    assert process.stdout is not None
    _readers[process] = _Reader(process.stdout)
    return process


# Frames the writer's reader thread holds ahead of the batch being appended. A sealed
# batch is 15-20 MB and a pipe holds 64 KB: read only between appends, the worker sat
# blocked on the pipe for the whole of each append instead of checking the next batch.
_READ_AHEAD = 2


class _Reader:
    """The worker's frames, read as they come by a thread of the writer's process.

    Reading frees the worker to check the next batch while the writer
    appends this one (the read and the copy out of the pipe release the
    GIL). At most _READ_AHEAD frames wait, so memory stays bounded; end of
    file (or stop() closing the pipe) queues None, as _read_frame returns.
    """

    def __init__(self, stream: IO[bytes]) -> None:
        self._frames: queue.Queue[bytes | None] = queue.Queue(maxsize=_READ_AHEAD)
        self._stopped = threading.Event()
        threading.Thread(
            target=self._pump, args=(stream,), name="credence-worker-reader", daemon=True
        ).start()

    def _pump(self, stream: IO[bytes]) -> None:
        while True:
            try:
                body = _read_frame(stream)
            except (OSError, ValueError):  # the pipe was closed under the read (stop)
                body = None
            while not self._stopped.is_set():  # a writer that stopped reading frees us
                try:
                    self._frames.put(body, timeout=0.5)
                    break
                except queue.Full:
                    continue
            if body is None or self._stopped.is_set():
                return

    def get(self) -> bytes | None:
        return self._frames.get()

    def stop(self) -> None:
        self._stopped.set()


_readers: weakref.WeakKeyDictionary[subprocess.Popen[bytes], _Reader] = weakref.WeakKeyDictionary()


def _receive(process: subprocess.Popen[bytes]) -> tuple[str, Any]:
    body = _readers[process].get()
    if body is None:
        status = process.wait()
        raise RuntimeError(f"the validation worker stopped unexpectedly (exit status {status})")
    message: tuple[str, Any] = pickle.loads(body)  # our own child's output
    return message


def stop(process: subprocess.Popen[bytes]) -> None:
    """End the worker: closing its stdin makes it exit; kill it if it does not."""
    reader = _readers.pop(process, None)
    if reader is not None:
        reader.stop()
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


def _run(spec: CheckSpec, channel: IO[bytes]) -> int:
    """Check one file and stream its batches (a first batch perhaps in parts), then "done";
    the seq after its last sealed row (where a file announced to follow it starts)."""
    end = spec.first_seq
    try:
        for sealed in sealed_batches(spec):  # Arrow columns as flat buffers
            _send(channel, ("batch", sealed))
            end = sealed.first_seq + sealed.columns.num_rows
        _send(channel, ("done", None))
    except BrokenPipeError:
        raise
    except Exception as exc:  # report everything; the writer decides
        _send(channel, ("error", _portable(exc)))
    return end


def _read_inbox(stream: IO[bytes], inbox: queue.Queue[Any]) -> None:
    """Read the writer's messages as they come; its end of file ends this process at once."""
    while True:
        body = _read_frame(stream)
        if body is None:  # the writer finished, stopped us, or died
            os._exit(0)
        inbox.put(pickle.loads(body))  # our own parent's messages


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
    """The worker process: read specs from stdin, stream results to stdout, file after file."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the writer's to handle
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print must not corrupt the result stream
    _warm()
    watch_parent(int(argv[1]))
    inbox: queue.Queue[Any] = queue.Queue()
    reader = threading.Thread(
        target=_read_inbox, args=(sys.stdin.buffer, inbox), name="credence-inbox", daemon=True
    )
    reader.start()
    gc.set_threshold(100_000, 50, 100)  # see checking.bulk_gc; this process only ingests
    status = 0
    end = 0
    try:
        while True:
            kind, spec = inbox.get()
            if kind != "spec":
                raise RuntimeError(f"the validation worker expected a spec, not {kind!r}")
            if spec.follows:  # announced ahead: its rows follow the previous file's
                spec = replace(spec, first_seq=end)
            end = _run(spec, channel)
    except BrokenPipeError:  # the writer stopped reading: nothing left to do
        pass
    except BaseException:  # a message out of turn: say so; the writer sees the pipe close
        traceback.print_exc()
        status = 1
    # Skip interpreter shutdown: the inbox thread is blocked reading stdin, and
    # finalising under it aborts with "could not acquire lock for <stdin>".
    os._exit(status)


if __name__ == "__main__":
    main(sys.argv)
