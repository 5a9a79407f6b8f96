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

from typing import TYPE_CHECKING, Any

from credence.core.rulebook import Rulebook, preset_names
from credence.service.background import Jobs, Run

if TYPE_CHECKING:
    from credence.core.simulate import Simulation
    from credence.service.state import Service


class Simulations:
    """Simulation runs, keyed by what they answer, on one background worker."""

    def __init__(self) -> None:
        self._jobs = Jobs("simulation")

    def drafts(self, service: Service) -> list[str]:
        """What can be simulated: the shipped presets and every published rulebook."""
        from credence.service import rulebooks

        published = [p.name for p in rulebooks.published(service.registry)]
        return sorted(set(preset_names()) | set(published))

    def get_or_start(self, service: Service, draft: str) -> Run:
        from credence.scoring.service import When, simulate

        live = service.live()
        proposed = _draft(service, draft)
        size = int(service.ledger_head()["size"])
        key = (live.content_hash, proposed.content_hash, size, service.today())
        when = When(service.today())
        return self._jobs.get_or_start(
            key,
            draft,
            lambda: simulate(service.registry, service.settings, live, proposed, when),
        )

    def close(self) -> None:
        self._jobs.close()


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
