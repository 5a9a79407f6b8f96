"""Issue 8: hostile and broken files end in a clear refusal or a reject, never a traceback."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from credence.cli.main import app
from credence.core.catalogue import load_catalogue
from credence.core.records import Rejection, RowValidator
from credence.ingest.pipeline import ingest_file
from credence.ingest.readers import FormatError
from credence.settings import Settings
from credence.store.registry import Registry
from credence.store.schema import records
from tests.conftest import PERSON, PERSON_2, read_rejects, row, write_csv, write_jsonl

TODAY = dt.date(2026, 11, 26)


def ingest(registry: Registry, path: Path, **kwargs: Any) -> Any:
    return ingest_file(registry, path, "court", today=TODAY, **kwargs)


def references(registry: Registry) -> list[str]:
    with registry.engine.connect() as conn:
        return sorted(conn.execute(sa.select(records.c.reference)).scalars())


def validate(registry: Registry, **fields: Any) -> Any:
    catalogue = load_catalogue(Path(registry.catalogue.source_path))
    validator = RowValidator(catalogue, "court", {"judicial.defaulter-listed"}, TODAY)
    return validator.validate(row(**fields))


# Identifiers and values


def test_long_subject_is_refused_at_validation_and_nothing_is_lost(
    registry: Registry, tmp_path: Path
) -> None:
    long_subject = "a" * 32 + ":" + "B" * 128  # 161 characters: one more than the column
    path = write_csv(
        tmp_path / "s.csv", [row(reference="C-1"), row(reference="C-2", subject=long_subject)]
    )
    report = ingest(registry, path)
    assert (report.accepted, report.rejected) == (1, 1)
    [reject] = read_rejects(path)
    assert reject["field"] == "subject" and "longer than 160" in reject["reason"]
    assert references(registry) == ["C-1"]


@pytest.mark.parametrize(
    ("date", "ok"),
    [("0001-01-01", False), ("1800-06-01", False), ("1949-09-30", False), ("1949-10-01", True)],
)
def test_earliest_record_date(registry: Registry, date: str, ok: bool) -> None:
    result = validate(registry, occurred_on=date, decided_on=None)
    if ok:
        assert not isinstance(result, Rejection)
    else:
        assert result == Rejection(
            "occurred_on", f"{date} is before 1949-10-01, the earliest date credence accepts"
        )


@pytest.mark.parametrize(
    ("value", "reason"),
    [(float("nan"), "must be text, not a number (NaN)"), (12, "must be text, not int")],
)
def test_non_text_reference_is_refused(registry: Registry, value: Any, reason: str) -> None:
    assert validate(registry, reference=value) == Rejection("reference", reason)


def test_formula_reference_is_refused(registry: Registry) -> None:
    result = validate(registry, reference='=HYPERLINK("http://x.example","click")')
    assert isinstance(result, Rejection) and result.field == "reference"
    assert "formula" in result.reason


def test_huge_and_deep_attributes_are_refused_before_parsing(registry: Registry) -> None:
    huge = json.dumps({"case_number": "x" * 10_000_000})
    assert validate(registry, attributes=huge) == Rejection(
        "attributes", "is longer than 4096 characters"
    )
    deep = '{"case_number":' + "[" * 2000 + "]" * 2000 + "}"
    result = validate(registry, attributes=deep)
    assert isinstance(result, Rejection) and result.field == "attributes"


# Files: encodings and compression


def test_gzip_csv_is_read(registry: Registry, tmp_path: Path) -> None:
    plain = write_csv(tmp_path / "p.csv", [row(reference="G-1")])
    path = tmp_path / "g.csv.gz"
    path.write_bytes(gzip.compress(plain.read_bytes()))
    assert ingest(registry, path).accepted == 1


def test_latin1_is_refused_by_name_then_read_when_declared(tmp_path: Path) -> None:
    text = write_csv(
        tmp_path / "u.csv", [row(attributes={"case_number": "caf\u00e9 1"})]
    ).read_text()
    path = tmp_path / "l.csv"
    path.write_bytes(text.encode("latin-1"))
    runner, env = CliRunner(), {"CREDENCE_DATA_DIR": str(tmp_path / "data")}
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    assert (
        runner.invoke(app, ["source", "add", "court", "--items", "judicial.*"], env=env).exit_code
        == 0
    )
    result = runner.invoke(app, ["ingest", str(path), "--source", "court"], env=env)
    assert result.exit_code == 2
    assert "not UTF-8 at byte" in result.output and "--encoding latin-1" in result.output
    result = runner.invoke(
        app, ["ingest", str(path), "--source", "court", "--encoding", "latin-1"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "1 rows:" in result.output


@pytest.mark.parametrize(("codec", "name"), [("utf-16", "UTF-16"), ("utf-32", "UTF-32")])
def test_utf16_and_utf32_are_named(
    registry: Registry, tmp_path: Path, codec: str, name: str
) -> None:
    path = tmp_path / "u.csv"
    path.write_bytes(write_csv(tmp_path / "x.csv", [row()]).read_text().encode(codec))
    with pytest.raises(FormatError, match=f"looks like {name}"):
        ingest(registry, path)
    assert references(registry) == []


def test_utf8_bom_is_accepted(registry: Registry, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "b.csv", [row()])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert ingest(registry, path).accepted == 1


# Files: limits


def test_million_column_header_gives_a_short_message(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(f"c{i}" for i in range(1_000_000)) + "\n")
    with pytest.raises(FormatError) as caught:
        ingest(registry, path)
    assert len(str(caught.value)) < 500 and "CREDENCE_MAX_LINE_BYTES" in str(caught.value)


def test_too_many_columns_names_the_count(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(",".join(["item", "subject", "occurred_on", "reference"] + ["x" * 300] * 96))
    with pytest.raises(FormatError, match="100 columns; at most 64") as caught:
        ingest(registry, path)
    assert len(str(caught.value)) < 500


def test_big_cell_rejects_its_row_only(registry: Registry, tmp_path: Path) -> None:
    rows = [row(reference="B-1"), row(reference="B-2", subject="x" * 140_000)]
    path = write_csv(tmp_path / "cell.csv", rows)
    report = ingest(registry, path)
    assert (report.accepted, report.rejected) == (1, 1)
    [reject] = read_rejects(path)
    assert reject["field"] == "row" and "CREDENCE_MAX_CELL_CHARS" in reject["reason"]


def test_deep_jsonl_line_is_a_reject(registry: Registry, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [row(reference="D-1")])
    with path.open("a") as fh:
        fh.write('{"attributes": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    report = ingest(registry, path)
    assert (report.accepted, report.rejected) == (1, 1)
    assert "not valid JSON" in read_rejects(path)[0]["reason"]


def test_long_line_refuses_the_file(registry: Registry, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [row(attributes={"case_number": "x" * 2_000_000})])
    with pytest.raises(FormatError, match="line 1 is longer than 1,048,576 bytes"):
        ingest(registry, path)


# Files: Parquet


@pytest.mark.parametrize("content", [b"", b"PAR1 not really"], ids=["empty", "corrupt"])
def test_unreadable_parquet(registry: Registry, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(content)
    with pytest.raises(FormatError, match="not a readable Parquet file"):
        ingest(registry, path)


@pytest.mark.parametrize(
    "column",
    [
        pa.array([1], type=pa.decimal128(10, 2)),
        pa.array([float("nan")]),
        pa.array([[1]]),
    ],
    ids=["decimal", "nan", "nested"],
)
def test_parquet_non_text_column_is_named(
    registry: Registry, tmp_path: Path, column: pa.Array
) -> None:
    base = {k: [v] for k, v in row().items() if k != "attributes"}
    base["reference"] = column
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table(base), path)
    with pytest.raises(FormatError, match="column 'reference' has type"):
        ingest(registry, path)


def test_parquet_huge_attribute_is_a_reject(registry: Registry, tmp_path: Path) -> None:
    data = {k: [v] for k, v in row().items()}
    data["attributes"] = [json.dumps({"case_number": "x" * 10_000_000})]
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table(data), path)
    report = ingest(registry, path)
    assert (report.accepted, report.rejected) == (0, 1)
    assert read_rejects(path)[0]["field"] == "attributes"


# Rejects file


def test_formula_cells_are_neutralised(registry: Registry, tmp_path: Path) -> None:
    evil = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx"]
    path = write_csv(
        tmp_path / "f.csv", [row(reference=f"F-{i}", subject=s) for i, s in enumerate(evil)]
    )
    ingest(registry, path)
    cells = [r["subject"] for r in read_rejects(path)]
    assert cells == ["'" + s for s in evil]


@pytest.mark.parametrize("planted", [".rejects.csv.tmp", ".rejects.csv"])
def test_planted_symlink_is_not_followed(registry: Registry, tmp_path: Path, planted: str) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    path = write_csv(tmp_path / "in.csv", [row(subject="passport")])
    (tmp_path / ("in.csv" + planted)).symlink_to(target)
    if planted == ".rejects.csv":
        with pytest.raises(FormatError, match="is a symbolic link"):
            ingest(registry, path)
    else:
        assert ingest(registry, path).rejected == 1
    assert target.read_text() == "keep me"


def test_two_ingests_of_one_file_at_once(
    settings: Settings, registry: Registry, tmp_path: Path
) -> None:
    path = write_csv(
        tmp_path / "same.csv",
        [row(reference=f"S-{i}", subject=PERSON if i % 2 else PERSON_2) for i in range(200)]
        + [row(reference="bad", subject="passport")],
    )
    reports: list[Any] = []
    errors: list[BaseException] = []
    heard: list[str] = []

    def run() -> None:
        reg = Registry.open(settings)
        try:
            reports.append(ingest(reg, path, waiting=heard.append))
        except BaseException as exc:
            errors.append(exc)
        finally:
            reg.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert sorted((r.accepted, r.duplicates, r.rejected) for r in reports) == [
        (0, 200, 1),
        (200, 0, 1),
    ]
    assert len(references(registry)) == 200
    with (tmp_path / "same.csv.rejects.csv").open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 1
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_second_run_says_it_waits(tmp_path: Path) -> None:
    from credence.ingest.lock import ingest_lock

    path = write_csv(tmp_path / "held.csv", [row()])
    heard: list[str] = []
    with ingest_lock(path, heard.append):
        second = threading.Thread(target=lambda: ingest_lock(path, heard.append).__enter__())
        second.start()
        second.join(timeout=0.3)
        assert second.is_alive()  # waiting for the first
    second.join(timeout=5)
    assert heard == [f"another ingest of {path} is running; waiting for it to finish"]


def test_corrupt_gzip_is_a_format_error(tmp_path: Path) -> None:
    """Found by the fuzzer: zlib.error (not an OSError) escaped from a corrupt deflate stream."""
    import base64

    from credence.ingest.readers import FormatError, ReadOptions, check_file, read_batches

    data = base64.b64decode(
        "H4sIAAABAXsNDQ0NDQ0iCl0Bew0NDQ0NDQ0NDQ0ADQp7DQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0jDQ0NDQ0N"
        "DQ0NDQ0NDQ0NDQ17DQ0NDQANDQ17IgpdAXsNDQ0NDQ0NAAAADQ0NDQp7DQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0j"
        "DQ0NDQ0NDQ0NDQ0NDQ0NDQ17DQ0NDQ0NDXs="
    )
    path = tmp_path / "corrupt.jsonl"
    path.write_bytes(data)
    with pytest.raises(FormatError, match="compressed file"):
        check_file(path, ReadOptions())
    with pytest.raises(FormatError, match="compressed file"):
        [b for b in read_batches(path, 5)]
