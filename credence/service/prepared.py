"""Answers prepared for every subject by one batch run, so that a first check is a lookup.

A relying party mostly checks people it has not checked today (a railway
checks each passenger once), so the service's per-subject cache is cold for
most checks, and a check computed on the store costs three SQL statements
and the Python that merges them: about a millisecond, a tenth of what a
cached answer costs. The batch engine (DuckDB over the verified snapshot)
assesses every subject of a city in seconds, so `credence serve` runs it
once at start-up for the live rulebook as of the service's day, and again
when the day turns or another rulebook goes live.

An answer prepared at ledger size L is used only while nothing about its
subject entered the ledger after L: the same test as the per-subject cache
(`Service.unchanged_since`, fed by `Service.note_changes`), so a new record,
correction or dispute step about a subject sends its check back to the
store, at once. The prepared answers are the engines' identical output
(tests/engines compare the batch and store engines line by line), restamped
with the head they are served at.

Memory: under 1 KiB per subject held (the demo city's 49,888 subjects with
records: 37 MiB of resident memory). Set `CREDENCE_PREPARE_ANSWERS=false` to
do without, on a registry too large for one process's memory.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from credence.core.assessment import Assessment
from credence.core.rulebook import Rulebook
from credence.engines.merge import merge_results

if TYPE_CHECKING:
    from credence.service.state import Service

log = logging.getLogger("credence.service")


@dataclass(frozen=True)
class PreparedAnswers:
    """Every held subject's assessment under one rulebook, as of one day, at one head."""

    as_of: dt.date
    rulebook_hash: str
    size: int  # the ledger size (signed head) the batch run scored
    answers: dict[str, Assessment]

    def serves(self, as_of: dt.date, rulebook_hash: str) -> bool:
        return as_of == self.as_of and rulebook_hash == self.rulebook_hash

    def answer(self, subject: str, rulebook: Rulebook, ledger: dict[str, Any]) -> Assessment:
        """`subject`'s prepared assessment, stamped with `ledger`.

        A subject the batch run did not assess had no record counting at its
        head (the run assesses every subject that has one), so its assessment
        is the one the store engine gives a subject without a row: the base,
        built by the same function from the same empty result.
        """
        found = self.answers.get(subject)
        if found is not None:
            return replace(found, ledger=ledger)
        base = rulebook.score.base if rulebook.score else None
        return next(merge_results(rulebook, [(subject, base, 0)], [], [], self.as_of, None, ledger))


def prepare(service: Service) -> PreparedAnswers | None:
    """Assess every subject with the batch engine (live rulebook, the service's day).

    None when the registry holds no signed head yet. The batch run proves
    the snapshot against the signed head first, as `credence score` does.
    """
    from credence.scoring.service import Tally, When, assess_all

    head = service.ledger_head()
    if not head["size"]:
        return None
    rulebook = service.live(head)
    today = service.today()
    tally = Tally()
    answers = {
        a.subject: a
        for a in assess_all(
            service.registry, service.settings, rulebook, When(today), "duckdb", None, tally
        )
    }
    assert tally.ledger is not None
    size = int(tally.ledger["size"])
    service.note_changes_since(size)
    service.may_have_open_disputes("")  # read who has a dispute open, once, now
    log.info("prepared %d answers as of %s at ledger size %d", len(answers), today, size)
    return PreparedAnswers(today, rulebook.content_hash, size, answers)
