"""The batch engine's snapshot is proved against the signed head before it is scored."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from credence.core.rulebook import load_rulebook, resolve_rulebook_path
from credence.engines.batch import BatchEngine
from credence.engines.snapshot import Snapshot, ensure_snapshot
from credence.engines.snapshot_check import SnapshotError, check_snapshot
from credence.ingest.pipeline import ingest_file
from credence.settings import Settings
from credence.store.registry import Registry
from tests.conftest import (
    ORG,
    PERSON,
    PERSON_2,
    new_registry,
    registry_for,
    row,
    write_csv,
)


@pytest.fixture(scope="module")
def snap_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory of a closed registry with 62 records, one erased, and its
    snapshot in 4 buckets: built once, as the export runs in a child process (about
    1.5 s a test on a slow host), and copied for each test (`registry`)."""
    base = tmp_path_factory.mktemp("snap")
    settings = Settings(data_dir=base / "data", batch_size=1000)
    reg = new_registry(settings)
    try:
        subjects = [PERSON, PERSON_2, ORG]
        rows = [row(reference=f"C-{i}", subject=subjects[i % 3]) for i in range(60)]
        rows.append(row(reference="C-fix", corrects="C-3", subject=PERSON))
        rows.append(row(reference='Q"\\-1', subject=ORG))  # a reference JSON must escape
        ingest_file(reg, write_csv(base / "a.csv", rows), "court", today=dt.date(2026, 1, 1))
        reg.erase(10, "dispute upheld")
        ensure_snapshot(reg.engine, settings.snapshot_dir, 4)
    finally:
        reg.close()
    return settings.data_dir


@pytest.fixture
def registry(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Registry]:
    """An empty registry (as tests/conftest.py's), or, for a test using `snap`, its own
    copy of `snap_template`'s."""
    reg = registry_for(request, settings, when="snap", copy="snap_template")
    yield reg
    reg.close()


@pytest.fixture
def snap(registry: Registry, settings: Settings) -> Snapshot:
    """The copied registry's snapshot: already up to date, so nothing is exported."""
    before = {p: p.stat().st_mtime_ns for p in settings.snapshot_dir.rglob("*.parquet")}
    found = ensure_snapshot(registry.engine, settings.snapshot_dir, 4)
    assert before and before == {
        p: p.stat().st_mtime_ns for p in settings.snapshot_dir.rglob("*.parquet")
    }
    return found


def check(registry: Registry, snap: Snapshot) -> None:
    check_snapshot(
        snap, registry.engine, registry.subject_key(), registry.signing_key().public_key()
    )


def rewrite(snap: Snapshot, change: Callable[[pa.Table], pa.Table]) -> None:
    """Apply `change` to the first bucket file that holds rows."""
    for path in sorted((snap.path / "records").glob("*/*.parquet")):
        table = pq.read_table(path, partitioning=None)
        if table.num_rows > 1:
            pq.write_table(change(table), path)
            return


def test_an_untouched_snapshot_is_the_ledger(registry: Registry, snap: Snapshot) -> None:
    check(registry, snap)
    assert oct((snap.path / "manifest.json").stat().st_mode & 0o777) == "0o600"


def test_a_removed_row_is_refused(registry: Registry, snap: Snapshot) -> None:
    rewrite(snap, lambda t: t.slice(1))
    with pytest.raises(SnapshotError, match="missing in the snapshot"):
        check(registry, snap)


def test_a_changed_date_is_refused(registry: Registry, snap: Snapshot) -> None:
    def change(t: pa.Table) -> pa.Table:
        dates = t.column("occurred_on").to_pylist()
        dates[0] = "2001-01-01"
        return t.set_column(t.schema.get_field_index("occurred_on"), "occurred_on", [dates])

    rewrite(snap, change)
    with pytest.raises(SnapshotError, match="do not give the root"):
        check(registry, snap)


def test_a_cleared_correction_link_is_refused(registry: Registry, snap: Snapshot) -> None:
    for path in (snap.path / "records").glob("*/*.parquet"):
        table = pq.read_table(path, partitioning=None)
        links = table.column("corrects_seq").to_pylist()
        if any(x is not None for x in links):
            cleared = [None] * len(links)
            index = table.schema.get_field_index("corrects_seq")
            field = table.schema.field(index)
            pq.write_table(table.set_column(index, field, pa.array(cleared, pa.int64())), path)
    with pytest.raises(SnapshotError, match="correction link"):
        check(registry, snap)


def test_a_corrected_rows_changed_reference_names_that_row(
    registry: Registry, snap: Snapshot
) -> None:
    """Editing the reference a correction points at is named at the edited row, not only the link.

    The edited row's seq is read from the snapshot files rather than assumed.
    """
    target = None
    for path in sorted((snap.path / "records").glob("*/*.parquet")):
        table = pq.read_table(path, partitioning=None)
        refs = table.column("reference").to_pylist()
        if "C-3" in refs:
            target = table.column("seq")[refs.index("C-3")].as_py()
            refs[refs.index("C-3")] = "C-3x"
            index = table.schema.get_field_index("reference")
            pq.write_table(table.set_column(index, "reference", [refs]), path)
    assert target is not None
    with pytest.raises(SnapshotError, match=f"row #{target} it corrects"):
        check(registry, snap)


def test_a_removed_correction_row_is_named(registry: Registry, snap: Snapshot) -> None:
    """A correction's row removed while corrections/ still lists it names the missing entry.

    Found by the tamper drill: the check said only that the corrections differ.
    """
    removed = None
    for path in sorted((snap.path / "records").glob("*/*.parquet")):
        table = pq.read_table(path, partitioning=None)
        refs = table.column("reference").to_pylist()
        if "C-fix" in refs:
            at = refs.index("C-fix")
            removed = table.column("seq")[at].as_py()
            pq.write_table(pa.concat_tables([table.slice(0, at), table.slice(at + 1)]), path)
    assert removed is not None
    with pytest.raises(SnapshotError, match=rf"entry #{removed} is missing"):
        check(registry, snap)


def test_a_row_from_another_registry_is_refused(registry: Registry, snap: Snapshot) -> None:
    def duplicate(t: pa.Table) -> pa.Table:
        return pa.concat_tables([t, t.slice(0, 1)])

    rewrite(snap, duplicate)
    with pytest.raises(SnapshotError, match="twice"):
        check(registry, snap)


def test_incremental_proof_trusts_only_what_it_proved(
    registry: Registry, settings: Settings, snap: Snapshot, tmp_path: Path
) -> None:
    from credence.engines.snapshot_state import STATE_FILE, load_state, mac_key

    key = mac_key(registry.signing_key())
    public = registry.signing_key().public_key()

    def proved(s: Snapshot) -> None:
        check_snapshot(s, registry.engine, registry.subject_key(), public, key)

    proved(snap)
    state = load_state(snap, key)
    assert state is not None and state.size == snap.size
    more = [row(reference=f"D-{i}", subject=ORG) for i in range(7)]
    ingest_file(registry, write_csv(tmp_path / "b.csv", more), "court", today=dt.date(2026, 1, 1))
    grown = ensure_snapshot(registry.engine, settings.snapshot_dir, 4)
    assert grown.size == snap.size + 7
    proved(grown)  # only the new part is recomputed
    rewrite(grown, lambda t: t.slice(1))  # an old, already proved file
    with pytest.raises(SnapshotError, match="changed since it was proved"):
        proved(grown)
    # A forged state file (no key) is ignored: the full proof still finds the removed row.
    (grown.path / STATE_FILE).write_text('{"state": {}, "mac": "00"}')
    with pytest.raises(SnapshotError, match="missing in the snapshot"):
        proved(grown)


def test_a_snapshot_bucketed_by_another_hash_is_rebuilt(
    registry: Registry, settings: Settings, snap: Snapshot
) -> None:
    """Buckets come from DuckDB's hash(); one made under another hash() is never extended."""
    import json

    marker = snap.path / "marker"
    marker.write_text("kept while the snapshot is reused")
    again = ensure_snapshot(registry.engine, settings.snapshot_dir, 4)
    assert marker.exists() and again.size == snap.size  # same hash(), nothing new: reused
    manifest = json.loads((snap.path / "manifest.json").read_text())
    probe = manifest["hash_probe"]
    manifest["hash_probe"] = probe + 1
    (snap.path / "manifest.json").write_text(json.dumps(manifest))
    rebuilt = ensure_snapshot(registry.engine, settings.snapshot_dir, 4)
    assert not marker.exists()
    assert json.loads((rebuilt.path / "manifest.json").read_text())["hash_probe"] == probe
    check(registry, rebuilt)


def _set(table: pa.Table, name: str, values: list[object]) -> pa.Table:
    index = table.schema.get_field_index(name)
    field = table.schema.field(index)
    return table.set_column(index, field, pa.array(values, field.type))


def test_a_changed_start_day_is_refused(registry: Registry, snap: Snapshot) -> None:
    """`start_day` is derived at export, so no leaf covers it: the dates must give it."""

    def change(t: pa.Table) -> pa.Table:
        days = t.column("start_day").to_pylist()
        days[0] -= 400  # the record would count as older (aged, or past its publicity)
        return _set(t, "start_day", days)

    rewrite(snap, change)
    with pytest.raises(SnapshotError, match="start day"):
        check(registry, snap)


def test_a_row_moved_to_another_subjects_number_is_refused(
    registry: Registry, snap: Snapshot
) -> None:
    """A row under another subject's number would be scored as theirs."""

    numbers = {
        s: n
        for f in (snap.path / "records").glob("*/*.parquet")
        for s, n in zip(
            *pq.read_table(f, columns=["subject", "sid"]).to_pydict().values(), strict=True
        )
    }
    assert len(numbers) == 3

    def change(t: pa.Table) -> pa.Table:
        subjects, sids = t.column("subject").to_pylist(), t.column("sid").to_pylist()
        sids[0] = next(n for s, n in sorted(numbers.items()) if s != subjects[0])
        return _set(t, "sid", sids)

    rewrite(snap, change)
    with pytest.raises(SnapshotError, match="subject's number"):
        check(registry, snap)


def test_records_are_written_one_file_a_kind_of_subject(snap: Snapshot) -> None:
    """Each records file says its subjects' kind in its name and holds no other kind
    (a person's key begins `ric:`)."""
    kinds = set()
    for path in sorted((snap.path / "records").glob("*/*.parquet")):
        named = re.fullmatch(r"part-\d{12}-(organisation|person)-\d+\.parquet", path.name)
        assert named, path.name
        table = pq.read_table(path, columns=["subject", "sid", "seq"]).to_pydict()
        subjects = table["subject"]
        assert subjects
        assert {s.startswith("ric:") for s in subjects} == {named.group(1) == "person"}

        kinds.add(named.group(1))
    assert kinds == {"organisation", "person"}


def test_a_files_rows_are_by_subject_number_then_seq(registry: Registry, tmp_path: Path) -> None:
    """Two people's records interleaved in the ledger lie side by side in the file."""
    rows = [row(reference=f"I-{i}", subject=(PERSON, PERSON_2)[i % 2]) for i in range(6)]
    ingest_file(registry, write_csv(tmp_path / "i.csv", rows), "court", today=dt.date(2026, 1, 1))
    snap = ensure_snapshot(registry.engine, tmp_path / "one-bucket", 1)
    (path,) = sorted((snap.path / "records").glob("*/*-person-*.parquet"))
    table = pq.read_table(path, columns=["subject", "seq"]).to_pydict()
    first, second = table["subject"][0], table["subject"][3]
    assert {first, second} == {PERSON, PERSON_2}
    assert table["subject"] == [first] * 3 + [second] * 3
    assert table["seq"][:3] == sorted(table["seq"][:3])
    assert table["seq"][3:] == sorted(table["seq"][3:])
    assert min(table["seq"][:3]) < min(table["seq"][3:])  # the first met, the first numbered


def test_a_file_of_people_named_for_organisations_is_refused(
    registry: Registry, snap: Snapshot
) -> None:
    """Rows, buckets and leaves unchanged; only the file says the wrong kind (the engine
    would read those people's records as organisations')."""
    person = next(iter(sorted((snap.path / "records").glob("*/*-person-*.parquet"))))
    person.rename(person.with_name(person.name.replace("-person-", "-organisation-9")))
    with pytest.raises(SnapshotError, match="other kind of subject"):
        check(registry, snap)


def test_a_records_file_named_for_no_kind_is_refused_by_check_and_engine(
    registry: Registry, snap: Snapshot
) -> None:
    """A file as FORMAT 4 named them: the proof refuses it, and the engine does not
    score without it (it would read that file for neither kind)."""
    path = next(iter(sorted((snap.path / "records").glob("*/*.parquet"))))
    path.rename(path.with_name("part-000000000000-0.parquet"))
    with pytest.raises(SnapshotError, match="not named for a kind"):
        check(registry, snap)
    rulebook = load_rulebook(resolve_rulebook_path("gov-default"), registry.catalogue)
    engine = BatchEngine(snap, rulebook, dt.date(2026, 1, 1))
    with pytest.raises(SnapshotError, match="not named for a kind"):
        engine.write_jsonl(io.BytesIO())


def _numbering(snap: Snapshot) -> list[Path]:
    return sorted((snap.path / "subjects").glob("*/*.parquet"))


def test_a_subject_numbered_twice_is_refused(registry: Registry, snap: Snapshot) -> None:
    path = _numbering(snap)[0]
    table = pq.read_table(path, partitioning=None)
    pq.write_table(pa.concat_tables([table, table.slice(0, 1)]), path)
    with pytest.raises(SnapshotError, match="numbered twice"):
        check(registry, snap)


def test_a_number_given_to_two_subjects_is_refused(registry: Registry, snap: Snapshot) -> None:
    """Two subjects under one number would be scored as one."""
    files = _numbering(snap)
    tables = [pq.read_table(p, partitioning=None) for p in files]
    first = next(t for t in tables if t.num_rows)
    path = next(p for p, t in zip(files, tables, strict=True) if t.num_rows)
    extra = pa.table(
        {"subject": ["ric:110101199001011237x"], "sid": [first.column("sid")[0].as_py()]}
    )
    pq.write_table(pa.concat_tables([first, extra.cast(first.schema)]), path)
    with pytest.raises(SnapshotError, match="given to two subjects"):
        check(registry, snap)


def test_a_wrong_kind_bit_is_refused_even_when_rows_agree(
    registry: Registry, snap: Snapshot
) -> None:
    """The kind is `sid & 1`: flipping it in subjects/ and in the rows alike would score a
    person as an organisation (or the reverse) with every row matching its numbering."""
    path = _numbering(snap)[0]
    table = pq.read_table(path, partitioning=None)
    subject, sid = table.column("subject")[0].as_py(), table.column("sid")[0].as_py()
    flipped = sid ^ 1
    numbers = table.column("sid").to_pylist()
    numbers[0] = flipped
    pq.write_table(_set(table, "sid", numbers), path)
    for records in (snap.path / "records").glob("*/*.parquet"):
        rows = pq.read_table(records, partitioning=None)
        column = rows.column("sid").to_pylist()
        subjects = rows.column("subject").to_pylist()
        changed = [flipped if s == subject else n for s, n in zip(subjects, column, strict=True)]
        pq.write_table(_set(rows, "sid", changed), records)
    with pytest.raises(SnapshotError, match="wrong kind or bucket"):
        check(registry, snap)


def test_a_numbering_file_in_another_bucket_is_refused(registry: Registry, snap: Snapshot) -> None:
    """The engine reads a bucket's own numbering: one moved away would drop its subjects."""
    path = _numbering(snap)[0]
    bucket = int(path.parent.name.split("=")[1])
    other = snap.path / "subjects" / f"bucket={(bucket + 1) % snap.buckets}"
    other.mkdir(exist_ok=True)
    path.rename(other / ("moved-" + path.name))
    with pytest.raises(SnapshotError, match="wrong kind or bucket"):
        check(registry, snap)


def test_subjects_keep_one_number_across_chunks_and_extensions(
    registry: Registry, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A subject's number is twice its first record's seq (+1 for a person), whichever
    export chunk or later extension meets it again; subjects/ numbers each subject once."""
    from credence.engines import snapshot as snapshot_module

    monkeypatch.setattr(snapshot_module, "CHUNK_ROWS", 7)  # several chunks a run
    first = [row(reference=f"A-{i}", subject=(PERSON, ORG)[i % 2]) for i in range(20)]
    ingest_file(registry, write_csv(tmp_path / "a.csv", first), "court", today=dt.date(2026, 1, 1))
    ensure_snapshot(registry.engine, settings.snapshot_dir, 4)
    later = [row(reference=f"B-{i}", subject=(ORG, PERSON_2)[i % 2]) for i in range(9)]
    ingest_file(registry, write_csv(tmp_path / "b.csv", later), "court", today=dt.date(2026, 1, 1))
    snap = ensure_snapshot(registry.engine, settings.snapshot_dir, 4)
    check(registry, snap)
    rows = pa.concat_tables(
        pq.read_table(f, columns=["seq", "subject", "sid"], partitioning=None)
        for f in (snap.path / "records").glob("*/*.parquet")
    ).to_pylist()
    first_seq: dict[str, int] = {}
    for r in sorted(rows, key=lambda r: r["seq"]):
        first_seq.setdefault(r["subject"], r["seq"])
    expected = {s: 2 * q + (1 if s.startswith("ric:") else 0) for s, q in first_seq.items()}
    assert {r["subject"]: r["sid"] for r in rows} == expected
    assert len({(r["subject"], r["sid"]) for r in rows}) == 3  # one number each
    numbered = pa.concat_tables(
        pq.read_table(f, columns=["subject", "sid"], partitioning=None) for f in _numbering(snap)
    ).to_pylist()
    assert sorted((n["subject"], n["sid"]) for n in numbered) == sorted(expected.items())
