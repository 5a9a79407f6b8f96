"""The bulk proof of a chunk (`verify_fast`) never says more than the ordered walk.

Every chunk verify checks is checked twice here: walked (`_walk_chunk`, whose
result verify reports) and proved in bulk (`_proved_chunk`). Whenever the
bulk proof gives a result, the walk must have found nothing in that chunk
and must give exactly the same result (positions, records, first and last
position, subtrees). On the untouched registry of `test_verify` every chunk
must be proved in bulk (else the fast path would be dead code); after each
tamper below, the chunk holding it must not be. Each test runs with the leaf
hashes computed by the optional C extension and by the Python alone.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from credence.ledger import leafhash
from credence.store import verify as verify_module
from credence.store import verify_chunks as chunks
from credence.store.registry import Registry
from credence.store.verify import verify_registry
from credence.store.verify_chunks import ChunkResult, ChunkTask
from tests.conftest import GOVERNANCE as G

BITS = (3, 6, 16)  # chunks of 8, 64 and 65,536 positions


def _same(a: ChunkResult, b: ChunkResult) -> bool:
    fields = ("lo", "positions", "records", "first_seq", "end", "nodes")
    return all(getattr(a, f) == getattr(b, f) for f in fields)


@pytest.fixture(params=["compiled", "python"])
def checked(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[tuple[ChunkTask, bool]]]:
    """Each chunk verify checks, and whether the bulk proof gave a result for it; with the
    leaf hashes and subtrees computed by the C extension, and by the Python alone."""
    if request.param == "python":
        monkeypatch.setattr(leafhash, "compiled", None)
    elif leafhash.compiled is None:
        pytest.skip("the C extension is not built")
    seen: list[tuple[ChunkTask, bool]] = []

    def both(task: ChunkTask) -> ChunkResult:
        walked = chunks._walk_chunk(task)
        proved = chunks._proved_chunk(task)
        if proved is not None:
            assert walked.finding is None and walked.record_problem is None, (task.lo, walked)
            assert _same(proved, walked), (task.lo, proved, walked)
        seen.append((task, proved is not None))
        return walked

    monkeypatch.setattr(verify_module, "check_chunk", both)
    yield seen


def edit(db: Path, *statements: str) -> None:
    with sqlite3.connect(db) as conn:
        for sql in statements:
            conn.execute(sql)


def test_every_chunk_of_an_untouched_ledger_is_proved_in_bulk(
    registry: Registry,
    filled: Path,
    checked: list[tuple[ChunkTask, bool]],
) -> None:
    for bits in BITS:
        checked.clear()
        report = verify_registry(registry, workers=0, chunk_bits=bits)
        assert report.ok, report.problems
        assert checked and all(proved for _, proved in checked), bits


# (what is done to the record at G + 9 (reference C-9), or around it)
TAMPERS = [
    ("a changed date", ["UPDATE records SET occurred_on = '2024-03-02' WHERE seq = {s}"]),
    ("a wrong leaf hash", ["UPDATE records SET leaf_hash = zeroblob(32) WHERE seq = {s}"]),
    ("a quote in a reference", ["UPDATE records SET reference = 'C-9\"' WHERE seq = {s}"]),
    ("a backslash in a subject", ["UPDATE records SET subject = subject || '\\' WHERE seq = {s}"]),
    ("a newline in an item", ["UPDATE records SET item = item || char(10) WHERE seq = {s}"]),
    ("a NUL for a decision date", ["UPDATE records SET decided_on = char(0) WHERE seq = {s}"]),
    (
        "a no-break space",
        ["UPDATE records SET occurred_on = occurred_on || char(160) WHERE seq = {s}"],
    ),
    ("a salt of 15 bytes", ["UPDATE records SET salt = substr(salt, 1, 15) WHERE seq = {s}"]),
    ("spaced attributes", ["UPDATE records SET attributes = '{\"amount\": 1}' WHERE seq = {s}"]),
    (
        "a fraction in attributes",
        ["UPDATE records SET attributes = '{\"amount\":1.0}' WHERE seq = {s}"],
    ),
    ("a list in attributes", ["UPDATE records SET attributes = '{\"a\":[1]}' WHERE seq = {s}"]),
    ("empty attributes", ["UPDATE records SET attributes = '{}' WHERE seq = {s}"]),
    ("an unknown source", ["UPDATE records SET source_id = 99 WHERE seq = {s}"]),
    (
        "a forbidden item",
        ["UPDATE records SET item = 'administrative.drunk-driving' WHERE seq = {s}"],
    ),
    ("a record gone", ["DELETE FROM records WHERE seq = {s}"]),
    ("a record moved", ["UPDATE records SET seq = 1 WHERE seq = {s}"]),
    ("a correction made plain", ["UPDATE records SET corrects = NULL WHERE corrects IS NOT NULL"]),
    (
        "a correction unlinked",
        ["UPDATE records SET corrects_seq = NULL WHERE corrects IS NOT NULL"],
    ),
    (
        "a correction relinked",
        [f"UPDATE records SET corrects_seq = {G + 8} WHERE corrects_seq IS NOT NULL"],
    ),
    ("a corrected record renamed", [f"UPDATE records SET reference = 'C-x' WHERE seq = {G + 7}"]),
    ("a record turned correction", ["UPDATE records SET corrects = 'C-7' WHERE seq = {s}"]),
]


@pytest.mark.parametrize(("name", "statements"), TAMPERS, ids=[t[0] for t in TAMPERS])
def test_a_chunk_with_anything_wrong_or_unusual_is_walked(
    registry: Registry,
    filled: Path,
    checked: list[tuple[ChunkTask, bool]],
    name: str,
    statements: list[str],
) -> None:
    edit(filled, *(sql.replace("{s}", str(G + 9)) for sql in statements))
    corrections = "correct" in name
    touched = {G + 2500, G + 7, G + 8} if corrections else {G + 9, 1}
    for bits in BITS:
        checked.clear()
        report = verify_registry(registry, workers=0, chunk_bits=bits)
        assert not report.ok, (name, bits)
        walked = [task for task, proved in checked if not proved]
        assert any(t.lo <= seq < t.hi for t in walked for seq in touched), (name, bits)


def _pasted_leaf_hash(db: Path, seq: int, key: bytes) -> bytes:
    """The leaf hash of the record at `seq` with its values pasted between quotes as they
    are, never escaped: what a bulk proof without its guards would compute."""
    with sqlite3.connect(db) as conn:
        seq, source, ref, item, subject, occurred, decided, attrs, salt = conn.execute(
            "SELECT r.seq, s.name, reference, item, subject, occurred_on, decided_on, "
            "attributes, salt FROM records r JOIN sources s ON s.id = r.source_id "
            "WHERE r.seq = ?",
            (seq,),
        ).fetchone()
    content = (
        "{"
        + (f'"attributes":{attrs},' if attrs is not None else "")
        + (f'"decided_on":"{decided}",' if decided is not None else "")
        + f'"item":"{item}","occurred_on":"{occurred}","reference":"{ref}",'
        + f'"source":"{source}","subject":"{subject}"}}'
    )
    record_hash = hashlib.sha256(salt + content.encode()).hexdigest()
    subject_hash = hmac.new(key, subject.encode(), hashlib.sha256).hexdigest()
    decision = "null" if decided is None else f'"{decided}"'
    leaf = (
        f'{{"decided_on":{decision},"item":"{item}","kind":"record","occurred_on":"{occurred}",'
        f'"record_hash":"{record_hash}","seq":{seq},"source":"{source}",'
        f'"subject_hash":"{subject_hash}","v":1}}'
    )
    return hashlib.sha256(b"\x00" + leaf.encode()).digest()


# Values the reference writes otherwise than pasted as they are (escaped, or re-serialised).
FORGED = [
    ("a quote in a reference", "reference = 'C-9\",\"x'"),
    ("a backslash in a subject", "subject = subject || '\\'"),
    ("a newline in an item", "item = item || char(10)"),
    ("a tab in a decision date", "decided_on = decided_on || char(9)"),
    ("a fraction in attributes", "attributes = '{\"amount\":1.0}'"),
    ("an escape in attributes", 'attributes = \'{"a":"\\u0041"}\''),
    ("a key twice in attributes", 'attributes = \'{"a":1,"a":1}\''),
]


@pytest.mark.parametrize(("name", "change"), FORGED, ids=[f[0] for f in FORGED])
def test_a_record_forged_with_its_pasted_leaf_hash_is_left_to_the_walk(
    registry: Registry,
    filled: Path,
    checked: list[tuple[ChunkTask, bool]],
    name: str,
    change: str,
) -> None:
    """The stored leaf hash is rewritten to match the pasted bytes: only the guards
    (values needing escaping, attribute texts that are not canonical) stop the bulk proof
    from vouching for a record the walk finds wrong."""
    seq = G + 9
    edit(filled, f"UPDATE records SET {change} WHERE seq = {seq}")
    forged = _pasted_leaf_hash(filled, seq, registry.subject_key())
    with sqlite3.connect(filled) as conn:
        conn.execute("UPDATE records SET leaf_hash = ? WHERE seq = ?", (forged, seq))
    for bits in BITS:
        checked.clear()
        report = verify_registry(registry, workers=0, chunk_bits=bits)
        assert report.problems[0].startswith(f"ledger entry #{seq} (source court, reference ")
        assert [t.lo <= seq < t.hi for t, proved in checked if not proved] == [True], (name, bits)


# Stored values of the wrong type: SQLite keeps whatever type it is given. Verify ended in
# a traceback on each; it must name the entry instead, like any other changed value.
WRONG_TYPE = [
    ("a subject stored as a BLOB", "subject = CAST(subject AS BLOB)"),
    ("a salt stored as text", "salt = 'sixteen-chars-xx'"),
    ("an integer beyond 2^53 in attributes", "attributes = '{\"n\":9007199254740993}'"),
    ("an item stored as a number", "item = 42"),
    ("attributes stored as a number", "attributes = 7"),
]


@pytest.mark.parametrize(("name", "change"), WRONG_TYPE, ids=[w[0] for w in WRONG_TYPE])
def test_a_value_of_the_wrong_type_is_a_finding_not_a_traceback(
    registry: Registry,
    filled: Path,
    name: str,
    change: str,
) -> None:
    seq = G + 9
    edit(filled, f"UPDATE records SET {change} WHERE seq = {seq}")
    for workers in (0, 1):
        report = verify_registry(registry, workers=workers)
        assert not report.ok, name
        assert any(f"#{seq} " in p or f"#{seq}:" in p for p in report.problems), report.problems


# Attribute texts and whether each is the canonical (RFC 8785) text of a non-empty flat
# object, worked out by hand; the key sets learned first are ("amount", "case") and ("a",).
SHAPED = [
    ('{"amount":5000,"case":"(2019) No. 1"}', True),
    ('{"amount":0,"case":""}', True),
    ('{"amount":-5,"case":"é \x7f 😀"}', True),  # written as they are, not escaped
    ('{"amount":123456789012345,"case":"x"}', True),  # 15 digits
    ('{"amount":1234567890123456,"case":"x"}', True),  # 16 digits, below 2**53
    ('{"a":true}', True),
    ('{"a":null}', True),
    ('{"a":{"b":1}}', True),  # nested: not a learned shape, the text is checked alone
    ('{"amount":-0,"case":"x"}', False),  # written "0"
    ('{"amount":01,"case":"x"}', False),
    ('{"amount":1.5,"case":"x"}', False),
    ('{"amount":1e3,"case":"x"}', False),
    ('{"amount":9007199254740993,"case":"x"}', False),  # beyond 2**53
    ('{"case":"x","amount":1}', False),  # keys out of order
    ('{"amount":1,"amount":1}', False),  # a key twice
    ('{"amount":1, "case":"x"}', False),  # a space
    ('{"amount":1,"case":"a\tb"}', False),  # a raw tab: not JSON
    ('{"amount":1,"case":"\\u0041"}', False),  # an escape RFC 8785 does not write
    ('{"a":true}\n{"a":false}', False),  # two objects in one text
    ('{"a":1}\n', False),
    ("{}", False),
    ('{"a"b":1}', False),  # not JSON (a key learned from '{"a\\"b":1}' must not pass it)
    ('{"a\\"b":1}', True),  # a quote in a key, escaped: canonical, but never a learned shape
]


@pytest.mark.parametrize(("text", "canonical"), SHAPED)
def test_attribute_texts_are_proved_canonical_in_batches_as_one_by_one(
    text: str, canonical: bool
) -> None:
    from credence.store.verify_fast import AttributeShapes

    shapes = AttributeShapes(chunks._canonical_attributes)
    learned = ['{"amount":1,"case":"x"}', '{"a":false}', '{"a\\"b":2}']
    assert shapes(learned) and shapes.batch is not None
    assert shapes([text]) is canonical
    assert shapes([*learned, text, *learned]) is canonical
    assert chunks._canonical_attributes(text) is canonical  # the check it stands for


def test_a_batch_of_learned_key_sets_is_proved_without_the_text_by_text_check() -> None:
    from credence.store.verify_fast import AttributeShapes

    calls: list[str] = []

    def exact(text: str) -> bool:
        calls.append(text)
        return chunks._canonical_attributes(text)

    shapes = AttributeShapes(exact)
    assert shapes(['{"amount":1,"case":"x"}'])
    calls.clear()
    assert shapes([f'{{"amount":{n},"case":"No. {n}"}}' for n in range(1000)])
    assert calls == []
    assert not shapes(['{"amount":1,"case":"x"}', '{"case":"x","amount":1}'])
    assert calls  # a batch the pattern does not match is checked text by text
    with pytest.raises(AttributeError):  # not text: what the text-by-text check does
        shapes([b'{"amount":1,"case":"x"}'])


def test_correction_targets_are_looked_up_in_batches_as_one_by_one(
    registry: Registry,
    filled: Path,
) -> None:
    """Live records, an erased one (its kept row), missing positions: the same answers."""
    registry.erase(G + 7, "retention period over")
    registry.erase(G + 30, "retention period over")
    names = {1: "court", 2: "market"}
    chunks.init_worker(registry.settings.database_url, registry.subject_key(), names)
    try:
        seqs = [*range(G + 2600), -1, G + 7, G + 2500, 10**12]
        one_by_one = {seq: chunks._target(seq) for seq in seqs}
        assert one_by_one[G + 7][1] == "C-7" and one_by_one[-1] == (None, None)
        assert chunks._targets(seqs) == one_by_one
        assert chunks._targets([G + 30]) == {G + 30: (one_by_one[G + 30][0], "C-30")}
    finally:
        chunks.close_worker()
