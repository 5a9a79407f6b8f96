"""A bucket group's JSON lines written in C from its per-subject Arrow table.

`batch_json.JsonLines.prepare_lines` used to have DuckDB join every subject
to its outcome, build its line by concatenation and sort the lines by
subject: over 20M records that cost more CPU than scanning the whole
snapshot. Here DuckDB only computes the per-subject values (score, limits,
record lists, packed reasons), and then:

- `outcome_keys` numbers each subject's outcome key (kind, score, record
  lists) with NumPy, so the outcome's JSON is computed once per key in
  Python, as before, and taken by index;
- `by_subject` sorts the subjects (Arrow's sort, byte order: DuckDB's
  `ORDER BY subject` for these keys);
- `write` writes the lines (credence/engines/_linebuild.c) from the
  columns' buffers, in that order, a line a subject, straight to the sink.

The SQL path stays the reference and the fallback (no compiler, or a
subject that would need a JSON escape); the tests compare both paths' lines
with `orjson.dumps(assessment.to_dict())` byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credence.arrowbuffers import list_buffers, one_array, text_buffers, value_buffers

try:
    from credence.engines import _linebuild
except ImportError:  # built without a C compiler: the SQL path writes the lines
    _linebuild = None  # type: ignore[assignment]

# The largest key `outcome_keys` packs into one int64 (kinds x scores x record-list sets).
_KEY_LIMIT = 1 << 62


def available() -> bool:
    return _linebuild is not None


@dataclass(frozen=True)
class OutcomeKeys:
    """Each subject's outcome number, and each outcome's (kind, score, record lists, count)."""

    index: pa.Array  # int32, one per subject
    keys: list[tuple[str, int | None, str | None, int]]


def outcome_keys(kind: Any, score: Any, reclists: Any) -> OutcomeKeys:
    """Number the distinct (kind, score, record lists) of a group's subjects.

    The three are packed into one int64 a subject (record-list set, kind,
    score offset by the group's lowest), so NumPy's `unique` groups them;
    where that key would not fit (a score range near 2^62), the three are
    grouped as rows instead (slower, same numbering).
    """
    kind, score, reclists = (one_array(c) for c in (kind, score, reclists))
    kind = pc.cast(kind, pa.string())
    names = [str(k) for k in pc.unique(kind).to_pylist()]
    kind_code = np.asarray(pc.index_in(kind, value_set=pa.array(names, pa.string())))
    score = pc.cast(score, pa.int64())
    valid = np.asarray(score.is_valid())
    values = np.asarray(score.fill_null(0))
    low = int(values[valid].min()) if valid.any() else 0
    high = int(values[valid].max()) if valid.any() else 0
    width = high - low + 2  # 0 for a null score, then each score from the lowest
    encoded = pc.dictionary_encode(pc.cast(reclists, pa.string()))
    sets = encoded.dictionary.to_pylist()
    set_code = np.asarray(encoded.indices.fill_null(-1), dtype=np.int64) + 1
    keys = []
    if (len(sets) + 1) * max(len(names), 1) * width < _KEY_LIMIT:
        score_code = np.where(valid, values - low + 1, 0)
        key = (set_code * len(names) + kind_code) * width + score_code
        unique, inverse, counts = _dense_unique(key, (len(sets) + 1) * max(len(names), 1) * width)
        for packed, n in zip(unique.tolist(), counts.tolist(), strict=True):
            rest, score_at = divmod(int(packed), width)
            set_at, kind_at = divmod(rest, len(names))
            score_of = None if score_at == 0 else low + score_at - 1
            keys.append((set_at, kind_at, score_of, int(n)))
    else:
        rows = np.stack([set_code, kind_code.astype(np.int64), valid.astype(np.int64), values])
        unique, inverse, counts = np.unique(rows, axis=1, return_inverse=True, return_counts=True)
        for (set_at, kind_at, has, value), n in zip(
            unique.T.tolist(), counts.tolist(), strict=True
        ):
            keys.append((set_at, kind_at, int(value) if has else None, int(n)))
    return OutcomeKeys(
        pa.array(np.asarray(inverse).reshape(-1).astype(np.int32)),
        [
            (names[k], score_of, None if at == 0 else str(sets[at - 1]), n)
            for at, k, score_of, n in keys
        ],
    )


def _dense_unique(key: Any, bound: int) -> tuple[Any, Any, Any]:
    """`np.unique(key, return_inverse=True, return_counts=True)` for keys in [0, bound):
    counted into a table of `bound` slots (one pass, no sort) when that table is no
    bigger than a few times the keys, else NumPy's (sorting) unique."""
    if bound > max(4 * len(key), 1 << 16):
        return np.unique(key, return_inverse=True, return_counts=True)
    tally = np.bincount(key, minlength=bound)
    unique = np.flatnonzero(tally)
    slot = np.zeros(bound, dtype=np.int64)
    slot[unique] = np.arange(len(unique))
    return unique, slot[key], tally[unique]


def by_subject(table: pa.Table, numbering: pa.Table) -> pa.Table:
    """`table`'s rows (a group's subjects by their number, `sid`) in subject byte order
    (what `ORDER BY subject` gives), each with its `subject` from `numbering` (`sid`,
    `subject`: every subject the group's buckets number, some perhaps not in `table`).

    The numbering is sorted by subject and each of its numbers looked up among the
    table's, sorted (a binary search): DuckDB's hash join of the two cost as much again
    as the sort. The rows are then gathered column by column: writing them in that
    order straight from the unsorted columns cost twice the CPU (a cache miss a column a
    line). Raises LookupError if a row has no number in `numbering`, or two.
    """
    order = text_order(numbering["subject"])
    numbers = numbering["sid"].to_numpy()
    own = table["sid"].to_numpy()
    ranked = np.argsort(own, kind="stable")
    by_number = np.argsort(numbers, kind="stable")
    if len(own) == len(numbers) and np.array_equal(own[ranked], numbers[by_number]):
        # The same numbers on both sides (no known size left a numbered subject out): the
        # k-th smallest of one is the k-th smallest of the other.
        row_of = np.empty(len(numbers), dtype=np.int64)
        row_of[by_number] = ranked
        rows = row_of[order]
        keep = order
    else:
        numbers = numbers[order]
        sorted_own = own[ranked]
        at = np.searchsorted(sorted_own, numbers)
        found = at < len(own)
        found[found] = sorted_own[at[found]] == numbers[found]
        rows = ranked[at[found]]
        keep = order[found]
        if len(rows) != len(own) or (len(own) and np.bincount(rows, minlength=len(own)).max() > 1):
            missing = np.setdiff1d(own, numbers)
            raise LookupError(
                f"subject number {int(missing[0]) if len(missing) else 'repeated'} "
                "is not numbered once"
            )
    subjects = numbering["subject"].take(pa.array(keep))
    return table.take(pa.array(rows)).add_column(0, "subject", subjects)


def text_order(column: Any) -> Any:
    """The row numbers of a string column in byte order, ties in row order: Arrow's stable
    `sort_indices`, or the C writer's radix sort where it is built and no text is null
    (`_linebuild.sort_order`: about half the CPU on subjects' keys, which share long
    prefixes)."""
    texts = one_array(column)
    found = text_buffers(texts) if _linebuild is not None and texts.null_count == 0 else None
    if found is None:
        return pc.sort_indices(texts).to_numpy()
    return np.frombuffer(_linebuild.sort_order(len(texts), found), dtype=np.int64)


# --- pieces of a line (see credence/engines/_linebuild.c) ------------------------------------


def literal(text: str) -> tuple[Any, ...]:
    return ("L", text.encode())


def quoted(column: Any) -> tuple[Any, ...]:
    return ("Q", _text(column))


def text(column: Any, if_null: str = "") -> tuple[Any, ...]:
    return ("S", _text(column), if_null.encode())


def integer(column: Any, if_null: str) -> tuple[Any, ...]:
    found = value_buffers(pc.cast(column, pa.int64()), 8)
    assert found is not None
    return ("I", found, if_null.encode())


def take(index: Any, entries: list[str | None]) -> tuple[Any, ...]:
    found = value_buffers(index, 4)
    assert found is not None
    return ("T", found, tuple(None if e is None else e.encode() for e in entries))


def joined(separator: str, parts: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    return ("J", separator.encode(), tuple(parts))


def reasons(column: Any, spec: tuple[object, ...]) -> tuple[Any, ...] | None:
    found = list_buffers(column)
    return None if found is None else ("R", found, spec)


def _text(column: Any) -> tuple[int, Any, Any, Any]:
    found = text_buffers(column)
    if found is None:  # a string view or large string from DuckDB: as plain string
        found = text_buffers(pc.cast(column, pa.string()))
    assert found is not None
    return found


def write(sink: BinaryIO, n: int, pieces: list[tuple[Any, ...]], rows: int = 2048) -> None:
    """Write the n lines to `sink`, `rows` lines a `sink.write` of the writer's own buffer
    (a memoryview released when the call returns): no bytes object a run, whose copy and
    fresh pages cost more than writing the lines."""
    assert _linebuild is not None
    _linebuild.write(sink.write, n, tuple(pieces), rows)


def subjects_plain(subject: Any) -> bool:
    """Whether every subject can be written between quotes as it is: no byte JSON escapes
    (controls, quote, backslash). Validated subject keys never hold one; the SQL path
    writes a group that does. A null is not plain either (the writer refuses it)."""
    texts = one_array(subject)
    found = text_buffers(texts) if _linebuild is not None else None
    if found is not None:
        return _linebuild.plain(len(texts), found)
    return (
        texts.null_count == 0
        and not pc.any(pc.match_substring_regex(texts, r'[\x00-\x1f"\\]')).as_py()
    )
