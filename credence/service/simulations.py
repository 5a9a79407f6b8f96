"""Policy simulations for the portal: a draft rulebook's effect, computed in the background.

A simulation assesses every subject under the live rulebook and under a
draft (a shipped preset or a published rulebook) and counts what would
change: grade transitions, list entries and exits by kind and region. On a
large registry that takes seconds to minutes, so a request starts it on one
background worker and the page asks again until it is done; the result is
kept for its (live rulebook, draft, ledger size, day), so everyone asking the
same question shares one run. Only counts come out: no subject is named.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from credence.core.rulebook import Rulebook, preset_names

if TYPE_CHECKING:
    from credence.core.simulate import Simulation
    from credence.service.state import Service

_KEPT = 16  # finished simulations kept


@dataclass
class Run:
    """One simulation: running, done (with its result) or failed (with why)."""

    draft: str
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    result: Simulation | None = None
    error: str | None = None

    @property
    def state(self) -> str:
        if self.error is not None:
            return "failed"
        return "done" if self.result is not None else "running"


class Simulations:
    """The runs, keyed by what they answer; one worker, so runs never compete."""

    def __init__(self) -> None:
        self._runs: dict[tuple[str, str, int, dt.date], Run] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="simulation")

    def drafts(self, service: Service) -> list[str]:
        """What can be simulated: the shipped presets and every published rulebook."""
        from credence.service import rulebooks

        published = [p.name for p in rulebooks.published(service.registry)]
        return sorted(set(preset_names()) | set(published))

    def get_or_start(self, service: Service, draft: str) -> Run:
        live = service.live()
        proposed = _draft(service, draft)
        size = int(service.ledger_head()["size"])
        key = (live.content_hash, proposed.content_hash, size, service.today())
        with self._lock:
            run = self._runs.get(key)
            if run is not None and run.state != "failed":
                return run
            run = self._runs[key] = Run(draft)
            self._trim()
        self._pool.submit(_compute, service, run, live, proposed)
        return run

    def _trim(self) -> None:
        done = [k for k, r in self._runs.items() if r.state != "running"]
        for key in done[: max(0, len(self._runs) - _KEPT)]:
            del self._runs[key]

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _draft(service: Service, name: str) -> Rulebook:
    """The draft named `name`: its latest publication, else the shipped preset."""
    from credence.core.rulebook import load_rulebook_text
    from credence.scoring.service import open_rulebook
    from credence.service import rulebooks
    from credence.service.errors import NotFound

    text = rulebooks.published_text(service.registry, name)
    if text is not None:
        return load_rulebook_text(text, service.registry.catalogue, f"<published {name}>")
    if name in preset_names():
        return open_rulebook(service.registry, name)
    raise NotFound(f"no preset or published rulebook named {name!r}", field="draft")


def _compute(service: Service, run: Run, live: Rulebook, proposed: Rulebook) -> None:
    from credence.scoring.service import When, simulate

    try:
        run.result = simulate(
            service.registry, service.settings, live, proposed, When(service.today())
        )
    except Exception as exc:  # shown on the page; the next request may try again
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        run.finished = time.monotonic()


def summary(result: Simulation) -> dict[str, Any]:
    """The simulation as the page shows it: a transition matrix per kind, list moves."""
    from credence.core.simulate import NONE

    kinds = sorted(result.subjects)
    matrices = {}
    for kind in kinds:
        cells = {(o, n): c for (k, o, n), c in result.transitions.items() if k == kind}
        grades = sorted({g for pair in cells for g in pair}, key=lambda g: (g == NONE, g))
        matrices[kind] = {
            "grades": grades,
            "rows": [[cells.get((o, n), 0) for n in grades] for o in grades],
            "before": [sum(c for (o, _), c in cells.items() if o == g) for g in grades],
            "after": [sum(c for (_, n), c in cells.items() if n == g) for g in grades],
        }
    moves: dict[tuple[str, str, str], dict[str, int]] = {}
    for (name, kind, region), count in result.lists_entered.items():
        moves.setdefault((name, kind, region), {"entered": 0, "left": 0})["entered"] = count
    for (name, kind, region), count in result.lists_left.items():
        moves.setdefault((name, kind, region), {"entered": 0, "left": 0})["left"] = count
    return {
        "subjects": dict(result.subjects),
        "changed": dict(result.changed),
        "matrices": matrices,
        "lists": [
            {"list": name, "kind": kind, "region": region, **counts}
            for (name, kind, region), counts in sorted(moves.items())
        ],
    }
