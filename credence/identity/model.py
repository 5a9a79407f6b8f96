"""The Splink model: candidate pairs by blocking, then Fellegi-Sunter match weights.

The model is written once as Splink settings and runs on DuckDB here or, with
engine="spark", on Spark through Splink's SparkAPI (credence.identity.spark),
which transpiles the same settings to Spark SQL. Its m and u probabilities are
fixed, not trained, and there is no term-frequency adjustment, so a pair's
weight never depends on the batch it came in with and can be recomputed from
the evidence alone (docs/identity.md). Common names are handled by the hard
rules instead (credence.identity.rules). Nothing is downloaded: Splink's SQL
runs in-process.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from credence.identity.keys import Identity

# Levels per comparison, best first, with fixed (m, u): m is how often a true match shows
# the level (typos, transliterations), u how often two different people do by chance.
NAME_LEVELS = ("exact", "close", "similar", "else")
DATE_LEVELS = ("exact", "typo", "else")
REGION_LEVELS = ("same", "prefecture", "else")
_NAME_MU = ((0.85, 0.0005), (0.10, 0.002), (0.03, 0.01), (0.02, 0.9875))
_DATE_MU = ((0.93, 0.00005), (0.05, 0.0005), (0.02, 0.99945))
_REGION_MU = ((0.80, 0.002), (0.15, 0.02), (0.05, 0.978))
# Priors (the chance that a candidate pair is a true match before any field is compared):
# persons, one in a hundred thousand; organisations, one in a thousand, since a name is
# unique within its registration authority's region (Enterprise Name Registration rules).
PRIOR = {True: 1e-5, False: 1e-3}


@dataclass(frozen=True, slots=True)
class ScoredPair:
    """A candidate pair with its Splink score and the level each field reached."""

    record: str
    reference: str
    match_weight: float
    match_probability: float
    levels: dict[str, str]  # field -> level name (NAME_LEVELS, ...)


def _levels(mu: Sequence[tuple[float, float]], creators: list[Any]) -> list[Any]:
    return [
        c.configure(m_probability=m, u_probability=u, fix_m_probability=True)
        for c, (m, u) in zip(creators, mu, strict=True)
    ]


def settings(person: bool) -> Any:
    """The Splink settings: persons compare name, birth date, region; organisations two."""
    import splink.comparison_level_library as cll
    from splink import SettingsCreator, block_on
    from splink.comparison_library import CustomComparison

    name = CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name_key"),
            *_levels(
                _NAME_MU,
                [
                    cll.ExactMatchLevel("name_key"),
                    cll.JaroWinklerLevel("name_key", 0.94),
                    cll.JaroWinklerLevel("name_key", 0.85),
                    cll.ElseLevel(),
                ],
            ),
        ],
    )
    region = CustomComparison(
        output_column_name="region",
        comparison_levels=[
            cll.NullLevel("regions"),
            *_levels(
                _REGION_MU,
                [
                    cll.ArrayIntersectLevel("regions", 1),
                    cll.ArrayIntersectLevel("prefectures", 1),
                    cll.ElseLevel(),
                ],
            ),
        ],
    )
    comparisons: list[Any] = [name, region]
    rules: list[Any] = [block_on("name_key"), block_on("regions")] if not person else []
    if person:
        date = CustomComparison(
            output_column_name="birth_date",
            comparison_levels=[
                cll.NullLevel("birth_date"),
                *_levels(
                    _DATE_MU,
                    [
                        cll.ExactMatchLevel("birth_date"),
                        cll.DamerauLevenshteinLevel("birth_date", 1),
                        cll.ElseLevel(),
                    ],
                ),
            ],
        )
        comparisons.insert(1, date)
        rules = [block_on("birth_date"), block_on("name_key", "birth_year")]
    return SettingsCreator(
        link_type="link_only",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=rules,
        probability_two_random_records_match=PRIOR[person],
        retain_intermediate_calculation_columns=True,
        retain_matching_columns=True,
    )


_SCHEMA = pa.schema(
    [
        ("unique_id", pa.string()),
        ("name_key", pa.string()),
        ("birth_date", pa.string()),
        ("birth_year", pa.string()),
        ("regions", pa.list_(pa.string())),
        ("prefectures", pa.list_(pa.string())),
    ]
)


def prepare(side: Sequence[Identity]) -> pa.Table:
    """One side's comparison columns (name keys, regions) as an Arrow table."""
    return pa.Table.from_pylist([i.row() for i in side], schema=_SCHEMA)


ENGINES = ("duckdb", "spark")


def score_pairs(
    records: Sequence[Identity],
    references: Sequence[Identity],
    person: bool,
    engine: str = "duckdb",
    spark: Any = None,
) -> list[ScoredPair]:
    """Every blocked candidate pair of a record and a reference identity, scored.

    `engine` is where Splink runs the settings: `duckdb` (in memory, here) or
    `spark` (on `spark`, a session from credence.identity.spark).
    """
    if not records or not references:
        return []
    return score_tables(prepare(records), prepare(references), person, engine, spark)


def score_tables(
    records: pa.Table,
    references: pa.Table,
    person: bool,
    engine: str = "duckdb",
    spark: Any = None,
) -> list[ScoredPair]:
    """score_pairs on prepared sides: Splink's blocking and scoring, then the evidence."""
    if engine == "spark":
        from credence.identity.spark import predict

        return _pairs(predict(spark, records, references, settings(person)), person)
    if engine != "duckdb":
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    return _pairs(_predict_duckdb(records, references, person), person)


def _predict_duckdb(records: pa.Table, references: pa.Table, person: bool) -> pa.Table:
    """Splink on an in-memory DuckDB: the scored pairs as an Arrow table."""
    import duckdb
    from splink import DuckDBAPI, Linker

    for name in ("splink", "splink.internals"):
        logging.getLogger(name).setLevel(logging.ERROR)
    con = duckdb.connect()
    try:
        api = DuckDBAPI(connection=con)
        left = api.register(records, dataset_display_name="credence_records")
        right = api.register(references, dataset_display_name="credence_references")
        linker = Linker([left, right], settings(person))
        found: pa.Table = linker.inference.predict(warning_mode="never").as_pyarrow_table()  # type: ignore[no-untyped-call]
        return found
    finally:
        con.close()


def _pairs(found: pa.Table, person: bool) -> list[ScoredPair]:
    """The scored pairs, read column by column (a dict per row costs more than the scoring)."""
    fields = {"name": NAME_LEVELS, "region": REGION_LEVELS}
    if person:
        fields["birth_date"] = DATE_LEVELS
    col = {name: found[name].to_pylist() for name in found.column_names if name in _KEPT}
    gammas = {
        f: [_level(g, names) for g in found[f"gamma_{f}"].to_pylist()]
        for f, names in fields.items()
    }
    flipped = [d != "credence_records" for d in col["source_dataset_l"]]
    out = []
    for i, flip in enumerate(flipped):
        record, reference = col["unique_id_l"][i], col["unique_id_r"][i]
        if flip:
            record, reference = reference, record
        out.append(
            ScoredPair(
                str(record),
                str(reference).split("#", 1)[0],
                float(col["match_weight"][i]),
                float(col["match_probability"][i]),
                {f: gammas[f][i] for f in fields},
            )
        )
    return out


_KEPT = frozenset(
    {"source_dataset_l", "unique_id_l", "unique_id_r", "match_weight", "match_probability"}
)


def _level(gamma: int, names: tuple[str, ...]) -> str:
    """Splink's gamma counts down from the best level; -1 is a null (missing) field."""
    return "missing" if gamma < 0 else names[len(names) - 1 - gamma]
