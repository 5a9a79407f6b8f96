"""`credence export`: the verified snapshot, copied out for a Spark cluster."""

from __future__ import annotations

from pathlib import Path

import typer

from credence.cli.common import console, fail, opened, progress_bar, settings, user_errors

DEST_HELP = "Directory to write: empty, absent or an earlier export"
FORMAT_HELP = "parquet: the snapshot's Parquet files with a manifest (the only format)"


def export(
    dest: Path = typer.Argument(..., help=DEST_HELP),
    fmt: str = typer.Option("parquet", "--format", help=FORMAT_HELP),
    unverified: bool = typer.Option(
        False, "--unverified", help="Go on when the registry fails its cheap integrity checks"
    ),
) -> None:
    """Write the verified snapshot to DIR for `credence score --engine spark --snapshot DIR`.

    The snapshot is brought up to the latest signed head and proved against it
    first; DIR gets its Parquet files (same buckets), the suppressed records and
    a manifest naming the head, the bucket layout and each file's SHA-256.
    """
    from credence.cli.scoring import integrity_gate, stage_progress
    from credence.engines.snapshot import snapshot_lock
    from credence.engines.spark_snapshot import export_snapshot
    from credence.scoring.heads import snapshot_head
    from credence.scoring.service import suppressed, verified_snapshot

    if fmt != "parquet":
        fail(f"--format must be parquet, not {fmt!r}")
    with opened() as registry, user_errors():
        integrity_gate(registry, unverified)
        config = settings()
        with snapshot_lock(config.snapshot_dir, lambda text: console.print(text)):
            with progress_bar() as bar:
                tick = stage_progress(bar)
                snapshot = verified_snapshot(
                    registry,
                    config,
                    progress=lambda done, total: tick("snapshot", done, total),
                    proving=lambda done, total: tick("prove snapshot", done, total),
                )
            held = suppressed(registry)
            manifest = export_snapshot(snapshot, snapshot_head(snapshot), held, dest)
    head = manifest["ledger"]
    console.print(
        f"exported {len(manifest['files'])} files ({manifest['buckets']} buckets) to {dest}: "
        f"ledger head size {head['size']}, root {head['root']}",
        highlight=False,
        soft_wrap=True,
    )
