"""The running service's shared state: the registry, the clock, the live rulebook, caches.

One `Service` per process. Routers (credence.api) and the CLI call the
functions in this package with it, so each operation has one code path.

Answers for one subject are cached, keyed by what could change them: the
subject, the rulebook and the service's day, and stamped with the ledger's
size when computed. Every write that can change an answer (a record, a
correction, a dispute step, a repair, a publication) appends a ledger
entry; when the head advances, the service reads which subjects the new
positions are about (`Service._note_head`), and an answer stays good only
if its subject is not among them. So a write anywhere, by this process or
another, makes that subject's next answer fresh (no batch run, no stale
read), while a steady flow of other subjects' records leaves the cache warm.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import orjson
import sqlalchemy as sa

from credence.core.assessment import Assessment
from credence.core.rulebook import Rulebook
from credence.engines.store import StoreEngine
from credence.service.background import Jobs
from credence.service.inquiries import InquiryLog
from credence.service.names import NameIndex
from credence.service.prepared import PreparedAnswers
from credence.service.simulations import Simulations
from credence.settings import Settings
from credence.store.registry import Registry
from credence.store.schema import ledger_state, records, tree_heads

_CACHE_SIZE = 50_000
# Compiled engines kept: one per (rulebook, day); the portal's score history needs 13 days.
_ENGINES = 40
# How long the ledger's head is taken as current. Writes through this process invalidate it
# at once (`touch`); a write by another process (`credence ingest`) is seen within this.
HEAD_SECONDS = 0.2
# Subjects remembered as changed since answers were cached; beyond it, all answers go.
_CHANGED_LIMIT = 1_000_000
# Ledger positions in a range that are not records: read for the subject they touch.
_ENTRIES_BETWEEN = sa.text("SELECT kind, body FROM entries WHERE seq >= :lo AND seq < :hi")
# Entry kinds that change no cached answer: governance and keys; a publication changes
# the live rulebook, which answers are keyed by; a match counts only through the
# record its confirmation appends (or the revocation its dispute appends).
_NEUTRAL_KINDS = frozenset({"source", "key", "access", "rulebook", "match"})
# Entry kinds about one record (and so one subject): its dispute or repair steps.
_RECORD_KINDS = frozenset({"dispute", "repair"})
_OPEN_DISPUTED = sa.text("SELECT DISTINCT subject FROM disputes WHERE status = 'open'")
# The subjects of the records in a range, and of the records those correct or withdraw.
_SUBJECTS_BETWEEN = sa.text(
    "SELECT subject FROM records WHERE seq >= :lo AND seq < :hi "
    "UNION SELECT r.subject FROM records c JOIN records r ON r.seq = c.corrects_seq "
    "WHERE c.seq >= :lo AND c.seq < :hi"
)


class Service:
    """What every request needs; thread-safe (the API answers from a thread pool)."""

    def __init__(
        self,
        registry: Registry,
        settings: Settings,
        live_rulebook: Callable[[Registry], Rulebook] | None = None,
    ) -> None:
        self.registry = registry
        self.settings = settings
        self.engine = registry.engine
        self.log = InquiryLog(registry.engine)
        if live_rulebook is None:
            from credence.service.rulebooks import live

            live_rulebook = live
        self._live = live_rulebook
        # Checks whose answer is not cached are computed here, off the event loop: a few
        # threads (SQLite works without the GIL; more would only queue for the pool).
        self.executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="assess")
        self._cache: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()
        self._compile_lock = threading.Lock()
        self._engines: dict[tuple[str, dt.date], StoreEngine] = {}
        self._names = NameIndex()
        self._simulations: Simulations | None = None
        self._jobs: Jobs | None = None
        self._head: tuple[float, dict[str, Any]] | None = None
        self._live_at: tuple[int, Rulebook] | None = None
        # What each head advance changed (see `_note_head`): cached answers survive an
        # advance that did not touch their subject.
        self._seen_size: int | None = None
        self._all_changed_at = 0
        self._changed_at: dict[str, int] = {}
        self._advance_lock = threading.Lock()
        self.prepared: PreparedAnswers | None = None  # see credence.service.prepared
        # Subjects with a dispute open (None: to be read again), so that a check of anybody
        # else needs no query for disputes; re-read when the ledger gains a dispute step.
        self._disputed: frozenset[str] | None = None
        # Cleared while start-up warm-up (credence.api.server) runs; `GET /v1/ready`.
        self.warmed = threading.Event()
        self.warmed.set()

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        for background in (self._simulations, self._jobs):
            if background is not None:
                background.close()
        self.log.close()

    # --- time and rules --------------------------------------------------------------

    def today(self) -> dt.date:
        return self.settings.service_today()

    def live(self, head: dict[str, Any] | None = None) -> Rulebook:
        """The rulebook in force at `head` (publishing one appends a ledger entry)."""
        size = (head or self.ledger_head())["size"]
        found = self._live_at
        if found is not None and found[0] == size:
            return found[1]
        rulebook = self._live(self.registry)
        self._live_at = (size, rulebook)
        return rulebook

    def touch(self) -> None:
        """This process wrote to the ledger: the next answer reads the new head."""
        self._head = None

    def ledger_head(self) -> dict[str, Any]:
        """{"size", "root"} of the latest signed head (what an answer speaks for)."""
        found = self._head
        now = time.monotonic()
        if found is not None and found[0] > now:
            return found[1]
        head = self._read_head()
        self._note_head(int(head["size"]))
        self._head = (now + HEAD_SECONDS, head)
        return head

    def _note_head(self, size: int) -> None:
        """Record which subjects the ledger positions [last size seen, size) changed.

        Keying cached answers by head size threw every answer away at each new
        record anywhere, so under a steady flow of submissions every check was
        computed afresh. Instead, a cached answer computed at size c stays good
        at a later head unless a record about its subject (or correcting one
        about it) lies in between, or a dispute or repair step about one of
        its records (filed, answered, lapsed, granted). Keys, sources,
        publications (answers are keyed by the rulebook) and match steps
        (which count only through the records they append) change no answer;
        an erasure, or a kind this code does not know, changes everybody's.
        """
        with self._advance_lock:
            seen = self._seen_size
            if seen is None or size == seen:
                self._seen_size = size
                return
            if size < seen:  # never on an honest ledger: forget everything
                self._forget_all(size)
                return
            touched = self._changes(seen, size)
            if touched is None or len(self._changed_at) + len(touched) > _CHANGED_LIMIT:
                self._forget_all(size)  # an erasure or unknown kind; or bounded memory
                return
            for subject in touched:
                self._changed_at[subject] = size
            self._seen_size = size

    def _changes(self, lo: int, hi: int) -> set[str] | None:
        """The subjects whose answers the ledger positions [lo, hi) may change; None
        when they may change anybody's (an erasure, a kind this code does not know)."""
        with self.engine.connect() as conn:
            span = {"lo": lo, "hi": hi}
            steps = conn.execute(_ENTRIES_BETWEEN, span).all()
            if any(kind == "dispute" for kind, _ in steps):
                self._disputed = None
            about = _records_named(steps)
            if about is None:
                return None
            touched = {row[0] for row in conn.execute(_SUBJECTS_BETWEEN, span)}
            if about:
                found = conn.execute(
                    sa.select(records.c.seq, records.c.subject).where(
                        records.c.seq.in_(sorted(about))
                    )
                ).all()
                if len(found) != len(about):  # a step about an erased record
                    return None
                touched.update(subject for _, subject in found)
        return touched

    def note_changes_since(self, size: int) -> None:
        """Answers computed at `size` by someone else (a batch run) are to be judged
        fresh: mark what the ledger gained between `size` and the last head seen."""
        self.ledger_head()
        with self._advance_lock:
            seen = self._seen_size
            if seen is None or size >= seen:
                return
            touched = self._changes(size, seen)
            if touched is None or len(self._changed_at) + len(touched) > _CHANGED_LIMIT:
                self._forget_all(seen)
                return
            for subject in touched:
                self._changed_at[subject] = max(seen, self._changed_at.get(subject, 0))

    def _forget_all(self, size: int) -> None:
        self._disputed = None
        self._changed_at.clear()
        self._all_changed_at = size
        self._seen_size = size

    def may_have_open_disputes(self, subject: str) -> bool:
        """Whether `subject` has a dispute open (as of the last head seen)."""
        disputed = self._disputed
        if disputed is None:
            with self.engine.connect() as conn:
                disputed = frozenset(r[0] for r in conn.execute(_OPEN_DISPUTED))
            self._disputed = disputed
        return subject in disputed

    def answerable_in_memory(self, subject: str, rulebook: Rulebook) -> bool:
        """Whether a check of `subject` can be answered without a query: its answer is
        prepared and still holds, and no dispute of it is open (as far as known)."""
        disputed = self._disputed
        return (
            disputed is not None
            and subject not in disputed
            and self._prepared_for(subject, rulebook, self.today()) is not None
        )

    def _prepared_for(
        self, subject: str, rulebook: Rulebook, today: dt.date
    ) -> PreparedAnswers | None:
        """The prepared answers, if they hold `subject`'s answer under `rulebook` today:
        the same day and rulebook, and nothing about the subject since their head."""
        prepared = self.prepared
        if (
            prepared is not None
            and prepared.serves(today, rulebook.content_hash)
            and self.unchanged_since(subject, prepared.size)
        ):
            return prepared
        return None

    def unchanged_since(self, subject: str, size: int) -> bool:
        """Whether nothing about `subject` entered the ledger after head size `size`
        (as far as the heads read so far tell)."""
        with self._advance_lock:
            return size >= self._all_changed_at and size >= self._changed_at.get(subject, 0)

    def cached_at(self, key: tuple[Any, ...], subject: str, head: dict[str, Any]) -> Any:
        """A value remembered by `remember_at` for `subject`, if it still holds at `head`."""
        found = self.cached(key)
        if found is None:
            return None
        size, value = found
        if size == head["size"]:
            return value
        if size < head["size"] and self.unchanged_since(subject, size):
            return value
        return None

    def remember_at(self, key: tuple[Any, ...], head: dict[str, Any], value: Any) -> None:
        self.remember(key, (head["size"], value))

    def _read_head(self) -> dict[str, Any]:
        with self.engine.connect() as conn:
            size = conn.execute(sa.select(ledger_state.c.size)).scalar()
            root = (
                conn.execute(sa.select(tree_heads.c.root).where(tree_heads.c.size == size)).scalar()
                if size is not None
                else None
            )
        return {"size": int(size or 0), "root": bytes(root).hex() if root is not None else None}

    # --- one subject's assessment ------------------------------------------------------

    def _store_engine(self, rulebook: Rulebook, as_of: dt.date) -> StoreEngine:
        """One compiled engine per (rulebook, day), shared by every thread.

        Compiling the rules costs about half a second (SQLGlot): once, under a lock,
        not once per worker thread. Each call brings its own connection.
        """
        key = (rulebook.content_hash, as_of)
        eng = self._engines.get(key)
        if eng is None:
            with self._compile_lock:
                eng = self._engines.get(key)
                if eng is None:
                    if len(self._engines) > _ENGINES:  # older days', superseded rulebooks'
                        self._engines.clear()
                    eng = self._engines[key] = StoreEngine(self.engine, rulebook, as_of)
        return eng

    def assess(
        self,
        subject: str,
        rulebook: Rulebook,
        head: dict[str, Any],
        exclude: tuple[int, ...] = (),
    ) -> Assessment:
        """`subject` under `rulebook` on the service's day, at ledger `head` (cached)."""
        today = self.today()
        key = ("assess", subject, rulebook.content_hash, today, exclude)
        found = self.cached_at(key, subject, head)
        if found is not None:
            return replace(found, ledger=head) if found.ledger != head else found  # type: ignore[no-any-return]
        prepared = None if exclude else self._prepared_for(subject, rulebook, today)
        if prepared is not None:
            # Not cached again: it is in memory already, and the cache's room is better
            # spent on the answers to checks (a cache too small for the subjects being
            # checked turns every check into a miss).
            return prepared.answer(subject, rulebook, head)
        eng = self._store_engine(rulebook, today)
        with self.engine.connect() as conn:  # from the pool, back at once
            result = eng.assess(subject, exclude, conn=conn, ledger=head)
        self.remember_at(key, head, result)
        return result

    @property
    def jobs(self) -> Jobs:
        """Background work for the portal (the public lists), started on first use."""
        with self._lock:
            if self._jobs is None:
                self._jobs = Jobs("portal")
            return self._jobs

    @property
    def simulations(self) -> Simulations:
        """Policy simulations for the portal, started on first use."""
        with self._lock:
            if self._simulations is None:
                self._simulations = Simulations()
            return self._simulations

    def names(self) -> NameIndex:
        """Organisations' current names, brought up to date with the ledger."""
        self._names.refresh(self)
        return self._names

    def assess_as_of(self, subject: str, rulebook: Rulebook, day: dt.date) -> Assessment:
        """`subject` under `rulebook` as of a past `day`, from the records held now (cached)."""
        head = self.ledger_head()
        key = ("as_of", subject, rulebook.content_hash, day)
        found = self.cached_at(key, subject, head)
        if found is not None:
            return replace(found, ledger=head) if found.ledger != head else found  # type: ignore[no-any-return]
        eng = self._store_engine(rulebook, day)
        with self.engine.connect() as conn:
            result = eng.assess(subject, conn=conn, ledger=head)
        self.remember_at(key, head, result)
        return result

    def warm_history(self, days: list[dt.date]) -> None:
        """Compile the live rulebook for each of `days` ahead of the first page that needs it."""
        live = self.live()
        for day in days:
            self._store_engine(live, day)

    def cached(self, key: tuple[Any, ...]) -> Any:
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
            return found

    def remember(self, key: tuple[Any, ...], value: Any) -> None:
        with self._lock:
            self._cache[key] = value
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)


def _records_named(rows: Iterable[Any]) -> set[int] | None:
    """The records that dispute and repair entries among `rows` (kind, body) are about,
    or None when an entry could change answers about anybody (erasure, unknown kind)."""
    about: set[int] = set()
    for kind, body in rows:
        if kind in _NEUTRAL_KINDS:
            continue
        if kind not in _RECORD_KINDS:
            return None
        try:
            record = orjson.loads(bytes(body))["record"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None  # verify names a malformed entry; here, refresh everything
        if not isinstance(record, int):
            return None
        about.add(record)
    return about
