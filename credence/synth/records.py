"""Records as numbers: who, which item, when, and the case it belongs to.

Record counts per subject are heavy-tailed, as in real registries: most
subjects have nothing or very little, a few companies have thousands. A
chunk of records is drawn as integer columns with numpy (strings are made
only when a feed is written), and everything comes from the caller's
generator, so the same seed always gives the same records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from credence.synth.arrays import Bools, Floats, Ints, civil
from credence.synth.districts import DISTRICT_P, DISTRICTS
from credence.synth.items import ItemTable
from credence.synth.population import Population

HISTORY_DAYS = 6 * 365 + 1  # records occurred within about six years before as_of
DECISION_LAG_DAYS = 60
PERFORMED_SHARE = 0.4  # listed defaulters who later perform, when that falls before as_of
SIXTEEN_YEARS_DAYS = 5844  # people appear in records only from their sixteenth birthday


@dataclass(frozen=True)
class Rows:
    """One chunk of records as numbers; strings are made only when writing."""

    subject: Ints
    item: Ints
    occurred: Ints  # epoch days
    decided: Ints
    year: Ints  # year in document numbers
    seq: Ints  # sequence number in document numbers
    district: Ints  # index into DISTRICTS: court, authority

    def take(self, index: Ints) -> Rows:
        return Rows(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    @staticmethod
    def concat(parts: Sequence[Rows]) -> Rows:
        names = Rows.__dataclass_fields__
        return Rows(*(np.concatenate([getattr(p, f) for p in parts]) for f in names))


def activity(pop: Population, rng: np.random.Generator) -> Floats:
    """Cumulative record intensity per subject: zero-inflated lognormal, so heavy-tailed.

    Half the people and a quarter of the organisations never appear; among the
    rest, intensity is lognormal (sigma 1.6), so the busiest subjects have
    hundreds of times the mean. Organisations are three times as active.
    """
    n, n_org = pop.size, pop.organisations
    is_org = np.arange(n) < n_org
    active = rng.random(n) < np.where(is_org, 0.75, 0.5)
    scale = np.where(is_org, 3.0, 1.0)
    intensity = rng.lognormal(0.0, 1.6, size=n) * scale * active
    if not intensity.any():
        intensity[:] = 1.0
    out: Floats = np.cumsum(intensity)
    return out


def draw_chunk(
    n: int,
    pop: Population,
    cum: Floats,
    items: ItemTable,
    as_of: int,
    rng: np.random.Generator,
) -> Rows:
    """`n` independent records, plus performances that follow some defaulter listings.

    `cum` is `activity(pop, ...)`; `as_of` is an epoch day.
    """
    subject = np.searchsorted(cum, rng.random(n) * cum[-1], side="right").astype(np.int64)
    np.minimum(subject, pop.size - 1, out=subject)
    is_org = subject < pop.organisations
    item = _draw_items(is_org, items, rng)
    occurred = _draw_occurred(subject, is_org, pop, as_of, rng)
    lag = np.minimum(DECISION_LAG_DAYS + 1, as_of - occurred + 1)
    decided = occurred + (rng.random(n) * lag).astype(np.int64)
    rows = Rows(
        subject=subject,
        item=item,
        occurred=occurred,
        decided=decided,
        year=civil(occurred)[0],
        seq=rng.integers(1, 100_000, size=n),
        district=rng.choice(len(DISTRICTS), size=n, p=DISTRICT_P),
    )
    if items.listed is None or items.performed is None:
        return rows
    performed = _performances(rows, items.listed, items.performed, as_of, rng)
    both = Rows.concat([rows, performed])
    return both.take(rng.permutation(n + performed.item.size).astype(np.int64))


def _draw_items(is_org: Bools, items: ItemTable, rng: np.random.Generator) -> Ints:
    """An item for each record, from those that apply to its subject's kind, by weight."""
    item = np.zeros(is_org.size, dtype=np.int64)
    for mask, chosen, weights in (
        (is_org, items.org_items, items.org_cum),
        (~is_org, items.person_items, items.person_cum),
    ):
        k = int(mask.sum())
        if k:
            pick = np.searchsorted(weights, rng.random(k) * weights[-1], side="right")
            item[mask] = chosen[np.minimum(pick, chosen.size - 1)]
    return item


def _draw_occurred(
    subject: Ints, is_org: Bools, pop: Population, as_of: int, rng: np.random.Generator
) -> Ints:
    """Epoch days: recent years are busier; people appear only from their sixteenth birthday."""
    n = subject.size
    ago = 1.0 - rng.power(1.3, size=n)
    start = np.full(n, as_of - HISTORY_DAYS, dtype=np.int64)
    people = np.flatnonzero(~is_org)
    sixteen = pop.birth_day[subject[people] - pop.organisations] + SIXTEEN_YEARS_DAYS
    start[people] = np.maximum(start[people], sixteen)
    occurred: Ints = as_of - (ago * (as_of - start)).astype(np.int64)
    return occurred


def _performances(
    rows: Rows, listed_item: int, performed_item: int, as_of: int, rng: np.random.Generator
) -> Rows:
    """Some listed defaulters perform later, under the same case number, before `as_of`."""
    listed = np.flatnonzero(rows.item == listed_item)
    listed = listed[rng.random(listed.size) < PERFORMED_SHARE]
    later = rows.decided[listed] + rng.integers(15, 731, size=listed.size)
    listed, later = listed[later <= as_of], later[later <= as_of]
    performed = rows.take(listed)
    return Rows(
        subject=performed.subject,
        item=np.full(listed.size, performed_item, dtype=np.int64),
        occurred=later,
        decided=later
        + (rng.random(listed.size) * np.minimum(4, as_of - later + 1)).astype(np.int64),
        year=performed.year,  # same case number: same year, court and sequence
        seq=performed.seq,
        district=performed.district,
    )
