"""`credence verify`: prove the stored registry is what signed tree heads say.

It trusts nothing stored beside the data: heads are checked against a key
the caller pins (the signing key's public half, or an auditor's copy), never
against keys kept in the database. The log is walked in aligned chunks by
worker processes (`verify_chunks`: every record recomputed from its parsed
content, every position and permission checked, every perfect subtree
hashed), and this process combines the chunks into each head's root and
checks heads, entries and tables in log order (`verify_log`), so the first
problem reported is the one an ordered walk would meet first. Checkpoints
kept outside the registry are proved consistent with the current log by
RFC 9162 consistency proofs, so a rollback, a truncation or a fork is
caught by whoever kept an older checkpoint.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import types
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from credence.ledger.merkle import consistency_ranges, verify_consistency
from credence.ledger.treehead import key_id, raw_public_key
from credence.store.registry import Registry
from credence.store.schema import sources, tree_heads
from credence.store.verify_chunks import (
    CHUNK_BITS,
    ChunkResult,
    ChunkTask,
    check_chunk,
    close_worker,
    init_worker,
    start_worker,
)
from credence.store.verify_identity import check_identity
from credence.store.verify_log import Finding, LogWalk, walk_log

_PARALLEL_MIN = 100_000  # below this, starting worker processes costs more than it saves


@dataclass(frozen=True)
class CheckpointClaim:
    """A checkpoint someone kept: its signature already checked by the caller."""

    name: str  # where it came from (a file name), for messages
    size: int
    root: bytes
    cosigned_by: frozenset[str] = frozenset()  # witness names with a valid cosignature


@dataclass
class VerifyReport:
    """What was checked and the problems found, if any."""

    leaves: int = 0
    records: int = 0
    heads: int = 0
    checkpoints: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_registry(
    registry: Registry,
    public_key: Ed25519PublicKey | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
    checkpoints: tuple[CheckpointClaim, ...] = (),
    witnesses: tuple[str, ...] = (),
    chunk_bits: int = CHUNK_BITS,
) -> VerifyReport:
    """Check every record, entry, head and root, and every checkpoint given.

    `public_key` is the key heads must be signed with (or issued under);
    None means the public half of the signing key file, which is not stored
    in the database. `witnesses` names witnesses whose cosignature the latest
    head must carry (among `checkpoints`). `chunk_bits` sets the chunks the
    log is walked in (2**chunk_bits positions; tests make them small).
    """
    if public_key is None:
        public_key = registry.signing_key().public_key()
    report = VerifyReport()
    with registry.engine.connect() as conn:
        names: dict[int, str] = dict(conn.execute(sa.select(sources.c.id, sources.c.name)).all())
        size = int(conn.execute(sa.select(sa.func.max(tree_heads.c.size))).scalar() or 0)
    trusted = {key_id(public_key): raw_public_key(public_key)}
    walk = LogWalk(trusted=trusted, chunk_bits=chunk_bits)
    wanted = [c for c in checkpoints if 0 < c.size <= size]
    walk.wanted_sizes = {c.size for c in wanted} | {size}
    walk.ranges = [consistency_ranges(c.size, size) for c in wanted]
    if workers is None:  # this process and one worker: the two cores
        workers = 1 if size >= _PARALLEL_MIN and (os.cpu_count() or 1) > 1 else 0
    job = (registry.settings.database_url, registry.subject_key(), names)
    with registry.engine.connect() as conn:
        try:
            if workers == 0:
                walk_log(conn, walk, names, progress, _inline(job))
            else:
                with ProcessPoolExecutor(
                    max_workers=workers,
                    mp_context=mp.get_context("spawn"),
                    initializer=start_worker,  # workers die with this process
                    initargs=(os.getpid(), *job),
                ) as pool:
                    walk_log(conn, walk, names, progress, _shared(pool, workers, job))
        except Finding as finding:
            report.problems.append(str(finding))
    report.leaves, report.heads, report.records = walk.leaves, walk.heads, walk.records
    if walk.record_problem is not None:
        report.problems.insert(0, walk.record_problem[1])  # the first bad record in log order
    if report.ok:  # the entries are the signed ones: check what the store made of them
        report.problems.extend(check_identity(registry.engine))
    if report.ok:
        _check_checkpoints(walk, checkpoints, wanted, size, report)
        _check_witnesses(walk, checkpoints, witnesses, report)
    return report


def _shared(
    pool: ProcessPoolExecutor, workers: int, job: tuple[str, bytes, dict[int, str]]
) -> Callable[[list[ChunkTask]], Iterator[ChunkResult]]:
    """Run the chunks in the pool's `workers` processes and in this one, yielding the
    results in task order.

    This process has nothing else to do while the chunks are checked, and it has
    everything imported: it starts on the first chunk at once, and the two cores need
    one worker process to start (0.3 s of CPU each), not two. Each worker is kept one
    chunk ahead; this process takes the next chunk whenever it is free.
    """

    def run(tasks: list[ChunkTask]) -> Iterator[ChunkResult]:
        init_worker(*job)
        pending: dict[Future[ChunkResult], int] = {}
        try:
            results: dict[int, ChunkResult] = {}
            taken = emitted = 0
            while emitted < len(tasks):
                with _bare_main(taken == 0):  # the first submits start the workers
                    while taken < len(tasks) and len(pending) < 2 * workers:
                        pending[pool.submit(check_chunk, tasks[taken])] = taken
                        taken += 1
                if taken < len(tasks):
                    results[taken] = check_chunk(tasks[taken])
                    taken += 1
                elif pending:
                    wait(pending, return_when=FIRST_COMPLETED)
                for future in [f for f in pending if f.done()]:
                    results[pending.pop(future)] = future.result()
                while emitted in results:
                    yield results.pop(emitted)
                    emitted += 1
        finally:
            for future in pending:
                future.cancel()
            close_worker()

    return run


@contextmanager
def _bare_main(starting: bool) -> Iterator[None]:
    """While `starting` worker processes, a bare module stands in for `__main__`.

    A spawned child imports the parent's main script again before anything
    else (multiprocessing's spawn does, so that functions defined there can
    be unpickled): for `credence verify` the whole CLI, for a benchmark its
    own imports. A chunk needs only `verify_chunks`, which the child imports
    to unpickle its task. Measured: 0.08-0.16 s less CPU a worker, and the
    worker at work 0.5 s sooner. The pool starts its processes in `submit`,
    so only the first submits run with the bare module; no other thread of
    verify uses `__main__`.
    """
    if not starting:
        yield
        return
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _inline(
    job: tuple[str, bytes, dict[int, str]],
) -> Callable[[list[ChunkTask]], Iterator[ChunkResult]]:
    """Run the chunks in this process, one after the other (small logs, tests)."""

    def run(tasks: list[ChunkTask]) -> Iterator[ChunkResult]:
        init_worker(*job)
        try:
            for task in tasks:
                yield check_chunk(task)
        finally:
            close_worker()

    return run


def _check_checkpoints(
    walk: LogWalk,
    given: tuple[CheckpointClaim, ...],
    wanted: list[CheckpointClaim],
    size: int,
    report: VerifyReport,
) -> None:
    """Each kept checkpoint must be a prefix of today's log, by a consistency proof."""
    new_root = walk.roots.get(size)
    for claim in given:
        if claim.size > size:
            report.problems.append(
                f"checkpoint {claim.name} is at size {claim.size}, but the ledger holds only "
                f"{size} signed entries: it was rolled back or truncated"
            )
    for claim, proof in zip(wanted, walk.proofs, strict=True):
        old_root = walk.roots.get(claim.size)
        consistent = (
            old_root == claim.root
            and new_root is not None
            and verify_consistency(claim.size, size, claim.root, new_root, proof)
        )
        if not consistent:
            report.problems.append(
                f"checkpoint {claim.name} (size {claim.size}, root {claim.root.hex()[:16]}…) is "
                f"not a prefix of the ledger: it was rolled back and regrown, or forked"
            )
    report.checkpoints = len(given) if report.ok else 0


def _check_witnesses(
    walk: LogWalk,
    given: tuple[CheckpointClaim, ...],
    witnesses: tuple[str, ...],
    report: VerifyReport,
) -> None:
    head = walk.last_head
    if not witnesses or head is None:
        return
    latest = [c for c in given if c.size == head.size and c.root == head.root]
    for name in witnesses:
        if not any(name in c.cosigned_by for c in latest):
            report.problems.append(
                f"no checkpoint given carries witness {name}'s cosignature on the latest "
                f"head (size {head.size}): have the witness cosign `credence checkpoint`"
            )
