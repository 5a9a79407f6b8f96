"""The batch engine's snapshot is proved against the signed head before it is scored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from credence.engines.snapshot import Snapshot, ensure_snapshot
from credence.engines.snapshot_check import SnapshotError, check_snapshot
from credence.ingest.pipeline import ingest_file
from credence.settings import Settings
from credence.store.registry import Registry
from tests.conftest import ORG, PERSON, PERSON_2, row, write_csv


@pytest.fixture
def snap(registry: Registry, settings: Settings, tmp_path: Path) -> Snapshot:
    subjects = [PERSON, PERSON_2, ORG]
    rows = [row(reference=f"C-{i}", subject=subjects[i % 3]) for i in range(60)]
    rows.append(row(reference="C-fix", corrects="C-3", subject=PERSON))
    rows.append(row(reference='Q"\\-1', subject=ORG))  # a reference JSON must escape
    ingest_file(registry, write_csv(tmp_path / "a.csv", rows), "court", today=dt.date(2026, 1, 1))
    registry.erase(10, "dispute upheld")
    return ensure_snapshot(registry.engine, settings.snapshot_dir, 4)


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
