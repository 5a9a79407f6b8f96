"""A deterministic synthetic city: subjects and source feeds for demos, tests and benchmarks.

Real credit data about real people must never be needed to try credence, to
test it, or to measure it, so this package invents a city (Beijing-shaped,
because its court and district codes make plausible case numbers) whose
files look like what thirteen authorities would actually deliver:

* every subject ID passes credence's own checks (`population`);
* record counts per subject are heavy-tailed, as in real registries
  (`records`);
* items are drawn from the catalogue itself, each source's from its glob
  patterns, so a catalogue edit cannot leave the generator behind (`items`);
* attribute values read like real documents (`attributes`);
* a small, configurable share of rows is deliberately bad in the ways feeds
  really go wrong, so that rejections are exercised end to end (`spoil`).

Speed and memory are design constraints (a million subjects, twenty million
records, on two cores, in minutes): records are generated in chunks with
numpy, strings are assembled with pyarrow.compute, and files are streamed
(`sinks`). Everything derives from `numpy.random.PCG64(seed)` streams and
`as_of` (never the clock or hash order), so equal arguments give
byte-identical files.

This module is the entry point: `synthesise` writes a city, `read_manifest`
describes one, and the names other code uses are importable from here.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credence.core.catalogue import default_catalogue_path, load_catalogue
from credence.synth.arrays import Bools, Floats, Ints, civil, epoch_day
from credence.synth.attributes import OPTIONAL_SHARE, attributes_column
from credence.synth.items import (
    LISTED,
    PERFORMED,
    WEIGHT_OVERRIDES,
    ItemTable,
    SourceSpec,
    item_table,
    item_weight,
    reference_prefix,
    source_items,
    source_specs,
)
from credence.synth.names import organisation_names
from credence.synth.population import (
    DEFAULT_AS_OF,
    ORGANISATION_SHARE,
    Population,
    organisation_count,
    population,
    streams,
)
from credence.synth.population import _organisations as _organisations  # for tests
from credence.synth.population import _people as _people  # for tests
from credence.synth.records import (
    DECISION_LAG_DAYS,
    HISTORY_DAYS,
    PERFORMED_SHARE,
    Rows,
    activity,
    draw_chunk,
)
from credence.synth.sinks import (
    COLUMNS,
    FORMATS,
    ROW_GROUP_ROWS,
    SCHEMA,
    Sink,
    check_format,
    open_sink,
)
from credence.synth.spoil import BAD_KINDS, Spoiler, spoil_table
from credence.synth.text import iso_dates, join, padded

__all__ = [
    "BAD_KINDS",
    "CHUNK_RECORDS",
    "COLUMNS",
    "DECISION_LAG_DAYS",
    "DEFAULT_AS_OF",
    "FORMATS",
    "HISTORY_DAYS",
    "LISTED",
    "MANIFEST_FILE",
    "OPTIONAL_SHARE",
    "ORGANISATION_SHARE",
    "PERFORMED",
    "PERFORMED_SHARE",
    "ROW_GROUP_ROWS",
    "SCHEMA",
    "WEIGHT_OVERRIDES",
    "Bools",
    "CityManifest",
    "Floats",
    "Ints",
    "Population",
    "SourceSpec",
    "iso_dates",
    "item_weight",
    "organisation_count",
    "population",
    "read_manifest",
    "source_items",
    "source_specs",
    "synthesise",
]

MANIFEST_FILE = "manifest.json"
CHUNK_RECORDS = 250_000  # records generated per step


@dataclass(frozen=True)
class CityManifest:
    """What was generated, written as `manifest.json` so a demo can configure its sources.

    `records` counts every row written, `bad_rows` the deliberately bad ones
    among them. `as_of` is the date the city was generated for: validate
    with `today=as_of`, or the newest rows look like future dates.
    """

    subjects: int
    organisations: int
    people: int
    records: int
    bad_rows: int
    seed: int
    sources: tuple[SourceSpec, ...]
    format: str
    as_of: dt.date = DEFAULT_AS_OF

    def to_json(self) -> str:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        data["sources"] = [
            {"name": s.name, "patterns": list(s.patterns), "file": s.file} for s in self.sources
        ]
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> CityManifest:
        data = json.loads(text)
        data["as_of"] = dt.date.fromisoformat(data.get("as_of", DEFAULT_AS_OF.isoformat()))
        data["sources"] = tuple(
            SourceSpec(s["name"], tuple(s["patterns"]), s["file"]) for s in data["sources"]
        )
        return cls(**data)


def read_manifest(out_dir: Path) -> CityManifest:
    """The manifest of a city generated into `out_dir`."""
    return CityManifest.from_json((out_dir / MANIFEST_FILE).read_text(encoding="utf-8"))


def synthesise(
    out_dir: Path,
    subjects: int,
    seed: int,
    *,
    records_per_subject: float = 20.0,
    bad_row_rate: float = 0.001,
    fmt: str = "parquet",
    as_of: dt.date = DEFAULT_AS_OF,
    progress: Callable[[int], None] | None = None,
) -> CityManifest:
    """Write a synthetic city's source files and `manifest.json` into `out_dir`.

    About `subjects * records_per_subject` records are written (a few more:
    defaulters who perform get a second record), spread over the sources as
    the catalogue and `item_weight` dictate. `progress` is called with the
    number of records generated so far after each chunk.
    """
    check_format(fmt)
    if records_per_subject < 0 or not 0 <= bad_row_rate < 1:
        raise ValueError("records_per_subject must be >= 0 and bad_row_rate in [0, 1)")
    out_dir.mkdir(parents=True, exist_ok=True)
    specs = source_specs(fmt)
    items = item_table(load_catalogue(default_catalogue_path()), specs)
    pop = population(subjects, seed, as_of)
    _pop_rng, rng, bad_rng = streams(seed)
    cum = activity(pop, rng)
    feeds = _Feeds(out_dir, fmt, items, pop, as_of, bad_row_rate, bad_rng)
    target = round(subjects * records_per_subject)
    done = 0
    try:
        while done < target:
            rows = draw_chunk(min(CHUNK_RECORDS, target - done), pop, cum, items, feeds.today, rng)
            feeds.write(rows, attributes_column(rows, items, pop, rng))
            done += rows.item.size
            if progress is not None:
                progress(done)
        done += _registrations(feeds, pop, items, rng)
        if progress is not None:
            progress(done)
    finally:
        feeds.close()
    manifest = CityManifest(
        subjects=pop.size,
        organisations=pop.organisations,
        people=pop.people,
        records=feeds.records,
        bad_rows=feeds.bad_rows,
        seed=seed,
        sources=specs,
        format=fmt,
        as_of=as_of,
    )
    (out_dir / MANIFEST_FILE).write_text(manifest.to_json(), encoding="utf-8")
    return manifest


REGISTRATION = "administrative.business-registration"


def planned_records(subjects: int, records_per_subject: float) -> int:
    """Rows a city of this size writes before performances: one registration per
    organisation and round(subjects * records_per_subject) others."""
    return organisation_count(subjects) + round(subjects * records_per_subject)


def _registrations(
    feeds: _Feeds, pop: Population, items: ItemTable, rng: np.random.Generator
) -> int:
    """One business registration per organisation (its name and region), from the market
    regulator; drawn after every other record, so the rest of the city is unchanged."""
    if REGISTRATION not in items.codes or pop.organisations == 0:
        return 0
    n = pop.organisations
    uscc = pc.utf8_slice_codeunits(pop.keys.slice(0, n), 5)
    names, latin, regions = organisation_names(uscc, rng)
    # Registered (or renamed) within the city's history window, like its other records.
    founded = feeds.today - rng.integers(0, HISTORY_DAYS, size=n)
    rows = Rows(
        subject=np.arange(n, dtype=np.int64),
        item=np.full(n, items.codes.index(REGISTRATION), dtype=np.int64),
        occurred=founded,
        decided=founded,
        year=civil(founded)[0],
        seq=np.zeros(n, dtype=np.int64),
        district=np.zeros(n, dtype=np.int64),
    )
    attributes = pa.array(
        [
            json.dumps({"name": a, "name_latin": b, "region": c}, ensure_ascii=False)
            for a, b, c in zip(
                names.to_pylist(), latin.to_pylist(), regions.to_pylist(), strict=True
            )
        ],
        pa.string(),
    )
    feeds.write(rows, attributes)
    return n


@dataclass
class _Feed:
    """One source's file, its spoiler, and how many rows (and bad rows) it has had."""

    spec: SourceSpec
    sink: Sink
    spoiler: Spoiler
    written: int = 0
    bad_rows: int = 0


class _Feeds:
    """The city's open feeds: splits each chunk by source, renders it as text and writes it.

    References are numbered per source across chunks (`CT-000000001`, ...),
    so they are unique within a source however the records are chunked.
    """

    def __init__(
        self,
        out_dir: Path,
        fmt: str,
        items: ItemTable,
        pop: Population,
        as_of: dt.date,
        bad_row_rate: float,
        bad_rng: np.random.Generator,
    ) -> None:
        self._items = items
        self._pop = pop
        self._bad_row_rate = bad_row_rate
        self._item_codes = pa.array(items.codes, type=pa.string())
        self.today = epoch_day(as_of)
        sinks = [open_sink(out_dir / spec.file, fmt) for spec in items.sources]
        self._feeds = [
            _Feed(spec, sink, Spoiler(items, spec.name, pop, as_of, bad_rng))
            for spec, sink in zip(items.sources, sinks, strict=True)
        ]

    @property
    def records(self) -> int:
        return sum(feed.written for feed in self._feeds)

    @property
    def bad_rows(self) -> int:
        return sum(feed.bad_rows for feed in self._feeds)

    def write(self, rows: Rows, attributes: Any) -> None:
        """Write a chunk of records, whose attributes column is `attributes`, to its feeds."""
        source = self._items.source_of[rows.item]
        order = np.argsort(source, kind="stable")
        bounds = np.searchsorted(source[order], np.arange(len(self._feeds) + 1))
        for s, feed in enumerate(self._feeds):
            positions = order[bounds[s] : bounds[s + 1]]
            if not positions.size:
                continue
            table = self._table(
                feed, rows.take(positions), pc.take(attributes, pa.array(positions))
            )
            table, spoiled = spoil_table(table, self._bad_row_rate, feed.spoiler)
            feed.sink.write(table)
            feed.written += positions.size
            feed.bad_rows += spoiled

    def _table(self, feed: _Feed, rows: Rows, attributes: Any) -> Any:
        """The feed's rows as text, numbering references on from those already written."""
        numbers = np.arange(feed.written + 1, feed.written + 1 + rows.item.size)
        return pa.Table.from_arrays(
            [
                pc.take(self._item_codes, pa.array(rows.item)),
                pc.take(self._pop.keys, pa.array(rows.subject)),
                iso_dates(rows.occurred),
                join(reference_prefix(feed.spec.name), "-", padded(numbers, 9)),
                iso_dates(rows.decided),
                attributes,
            ],
            schema=SCHEMA,
        )

    def close(self) -> None:
        for feed in self._feeds:
            feed.sink.close()
