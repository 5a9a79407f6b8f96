"""Opening CSV and JSONL submissions: gzip, encodings and line length.

A file in the wrong encoding used to fail with a traceback half-way through,
after some batches were already in the ledger. `scan_text` reads the file
once, fast (the decoder and `bytes.find` do the work, a few Python steps per
MiB), and refuses it before anything is written: bytes that are not in the
encoding (with the byte offset and a hint), or a line longer than the limit.
A byte-order mark of UTF-16 or UTF-32 is named, since such files are
usually a spreadsheet's "Unicode text" export.
"""

from __future__ import annotations

import codecs
import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

GZIP_MAGIC = b"\x1f\x8b"
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),  # before UTF-16: it starts with the UTF-16 LE mark
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
_SCAN_CHUNK = 1 << 20


class FormatError(ValueError):
    """A file that cannot be ingested at all (unknown format, missing columns)."""


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How to read a submission: declared encoding and the size limits (from settings)."""

    encoding: str | None = None  # None: UTF-8, with or without a byte-order mark
    max_columns: int = 64
    max_line_bytes: int = 1 << 20
    max_cell_chars: int = 64 << 10


def is_gzip(path: Path) -> bool:
    """Recognised by its magic bytes, whatever the file is called."""
    with path.open("rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def open_binary(path: Path) -> gzip.GzipFile | io.BufferedReader:
    if is_gzip(path):
        return gzip.open(path, "rb")
    return path.open("rb")


def open_text(path: Path, options: ReadOptions, newline: str | None = None) -> io.TextIOWrapper:
    """The file as text in its encoding (strict: scan_text has already vouched for it)."""
    encoding = text_encoding(path, options.encoding)
    return io.TextIOWrapper(open_binary(path), encoding=encoding, newline=newline)


def text_encoding(path: Path, declared: str | None) -> str:
    """The codec to read `path` with; refuses UTF-16/32 unless declared."""
    if declared:
        try:
            return codecs.lookup(declared).name
        except LookupError:
            raise FormatError(f"unknown encoding {declared!r}") from None
    with open_binary(path) as fh:
        head = fh.read(4)
    for bom, name in _BOMS:
        if head.startswith(bom):
            raise FormatError(
                f"{path}: looks like {name} (byte-order mark), not UTF-8; "
                f"save it as UTF-8 or give --encoding {name.lower()}"
            )
    return "utf-8-sig"


def scan_text(path: Path, options: ReadOptions) -> None:
    """Refuse `path` before ingesting if it does not decode or has an over-long line."""
    encoding = text_encoding(path, options.encoding)
    decoder = codecs.getincrementaldecoder(encoding)()
    limit = options.max_line_bytes
    size = min(limit, _SCAN_CHUNK)  # a line inside one chunk is then never too long
    offset = newlines = run = 0
    try:
        with open_binary(path) as fh:
            while chunk := fh.read(size):
                _decode(path, decoder, chunk, offset, newlines, options.encoding)
                first = chunk.find(b"\n")
                run += len(chunk) if first < 0 else first
                if run > limit:
                    raise FormatError(
                        f"{path}: line {newlines + 1:,} is longer than {limit:,} bytes "
                        "(CREDENCE_MAX_LINE_BYTES)"
                    )
                if first >= 0:
                    run = len(chunk) - chunk.rfind(b"\n") - 1
                    newlines += chunk.count(b"\n")
                offset += len(chunk)
            _decode(path, decoder, b"", offset, newlines, options.encoding, final=True)
    except (OSError, EOFError, zlib.error) as exc:  # truncated or corrupt gzip
        raise FormatError(f"{path}: cannot be read: {' '.join(str(exc).split())}") from None


def _decode(
    path: Path,
    decoder: codecs.IncrementalDecoder,
    chunk: bytes,
    offset: int,
    newlines: int,
    declared: str | None,
    *,
    final: bool = False,
) -> None:
    pending = len(decoder.getstate()[0])
    try:
        decoder.decode(chunk, final)
    except UnicodeDecodeError as exc:
        at = max(exc.start - pending, 0)
        line = newlines + chunk.count(b"\n", 0, at) + 1
        where = f"at byte {offset + at:,} (line {line:,})"
        if declared:
            raise FormatError(f"{path}: not valid {declared} {where}") from None
        raise FormatError(
            f"{path}: not UTF-8 {where}; if it is in another encoding, say which, "
            "e.g. --encoding latin-1 or --encoding gb18030"
        ) from None
