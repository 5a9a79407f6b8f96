"""The verified snapshot as the Spark engine reads it, and its export for a cluster.

A cluster cannot read the data directory, nor the store behind it, so
`credence export --format parquet DIR` copies what scoring needs into DIR:
the snapshot's Parquet files (`records/bucket=K/*.parquet`, the same
buckets: K = DuckDB's `hash(subject) % buckets`, so each subject's records
are in one bucket; `corrections/*.parquet`), the records suppressed by due
process (`suppressions.parquet`, read from the store, which a cluster
cannot reach) and `manifest.json`: the signed head it covers (size and
root), the bucket layout and the SHA-256 of every file.

The export is made only from a snapshot `snapshot_check` has just proved
to be the ledger at that head. The digests catch a copy damaged on the
way; they are not a signature (whoever can rewrite DIR can rewrite the
manifest), so DIR should be as private as the data directory.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from credence.engines.errors import SnapshotError
from credence.engines.snapshot import Snapshot

EXPORT_FORMAT = "credence-snapshot/1"
MANIFEST = "manifest.json"
SUPPRESSIONS = "suppressions.parquet"
_CORRECTIONS_SCHEMA = pa.schema([("seq", pa.int64()), ("corrects_seq", pa.int64())])


@dataclass(frozen=True)
class SparkInput:
    """What a Spark run reads: Parquet under `path`, the head it covers, suppressions."""

    path: Path  # holds records/bucket=K/*.parquet and corrections/*.parquet
    buckets: int
    ledger: dict[str, Any] | None
    suppressed: tuple[tuple[int, int], ...] = field(default=())

    @property
    def records_dir(self) -> Path:
        return self.path / "records"

    @property
    def corrections_dir(self) -> Path:
        return self.path / "corrections"

    def record_files(self) -> list[Path]:
        return sorted(self.records_dir.glob("bucket=*/*.parquet"))

    def correction_files(self) -> list[Path]:
        return sorted(self.corrections_dir.glob("*.parquet"))


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _data_files(root: Path) -> list[Path]:
    return sorted([*root.glob("records/bucket=*/*.parquet"), *root.glob("corrections/*.parquet")])


def export_snapshot(
    snapshot: Snapshot, head: dict[str, Any], suppressed: list[tuple[int, int]], dest: Path
) -> dict[str, Any]:
    """Copy the proved `snapshot` to `dest` with its manifest; return the manifest.

    `dest` must be empty, absent, or an earlier export (which is replaced):
    anything else is refused rather than overwritten.
    """
    if dest.exists() and any(dest.iterdir()) and not (dest / MANIFEST).exists():
        raise SnapshotError(f"{dest} is not empty and holds no export: refusing to write there")
    tmp = dest.with_name(dest.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(mode=0o700, parents=True)
    files: dict[str, str] = {}
    for source in _data_files(snapshot.path):
        rel = source.relative_to(snapshot.path)
        target = tmp / rel
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        files[rel.as_posix()] = _digest(target)
    table = pa.table(
        {
            "seq": pa.array([s for s, _ in suppressed], pa.int64()),
            "corrects_seq": pa.array([r for _, r in suppressed], pa.int64()),
        },
        schema=_CORRECTIONS_SCHEMA,
    )
    pq.write_table(table, tmp / SUPPRESSIONS)
    files[SUPPRESSIONS] = _digest(tmp / SUPPRESSIONS)
    manifest = {
        "format": EXPORT_FORMAT,
        "ledger": {"size": head.get("size"), "root": head.get("root")},
        "buckets": snapshot.buckets,
        "bucket_of": "DuckDB hash(subject) % buckets (directory records/bucket=K)",
        "files": files,
    }
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    if dest.exists():
        shutil.rmtree(dest)
    tmp.replace(dest)
    return manifest


def read_export(dest: Path, check_digests: bool = True) -> SparkInput:
    """An export made by `export_snapshot`, its files checked against the manifest."""
    try:
        manifest = json.loads((dest / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise SnapshotError(f"{dest / MANIFEST}: not a readable export manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        raise SnapshotError(f"{dest / MANIFEST}: format must be {EXPORT_FORMAT!r}")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise SnapshotError(f"{dest / MANIFEST}: files must be an object of digests")
    present = {p.relative_to(dest).as_posix() for p in _data_files(dest)} | {SUPPRESSIONS}
    if present != set(files):
        extra = sorted(present - set(files)) or sorted(set(files) - present)
        raise SnapshotError(f"{dest}: files differ from the manifest's (e.g. {extra[0]})")
    if check_digests:
        for rel, digest in files.items():
            if _digest(dest / rel) != digest:
                raise SnapshotError(f"{dest / rel}: SHA-256 differs from the manifest's")
    rows = pq.read_table(dest / SUPPRESSIONS).to_pylist()
    head = manifest.get("ledger") or {}
    return SparkInput(
        dest,
        int(manifest["buckets"]),
        {"size": head.get("size"), "root": head.get("root")},  # the order every engine writes
        tuple((int(r["seq"]), int(r["corrects_seq"])) for r in rows),
    )
