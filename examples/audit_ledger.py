#!/usr/bin/env python3
"""Check a credence record or log growth yourself, without credence's code.

The point of a public ledger is that nobody has to take the registry's word
for it. This script is written from the published documents only (RFC 9162,
RFC 8785, C2SP signed-note / tlog-checkpoint / tlog-proof / tlog-witness and
docs/ledger.md) and imports nothing from credence: Python's standard library
and the `cryptography` package for Ed25519. Copy it anywhere and run:

    python audit_ledger.py record RECORD.json PROOF.tlog-proof --log-key VKEY
    python audit_ledger.py consistency OLD.note PROOF --log-key VKEY

RECORD.json holds the record as disclosed to you: {"content": {...record
fields...}, "salt": hex, "seq": n, and "subject_hash": hex or "subject_key":
hex}. PROOF.tlog-proof is c2sp.org/tlog-proof@v1; PROOF for `consistency`
is a tlog-witness add-checkpoint body ("old N", hashes, blank line, the new
checkpoint). VKEY is the log's verifier key, inline or in a file. Exit 0 when
everything checks, 1 with the reason otherwise.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

OPTIONAL = ("decided_on", "attributes", "corrects")
REQUIRED = ("source", "reference", "item", "subject", "occurred_on")


class AuditError(Exception):
    """Something does not check out; the message says what."""


# --- RFC 8785 canonical JSON (the value types a record uses) -------------------


def es_number(x: float) -> str:
    """ECMAScript Number::toString, which RFC 8785 §3.2.2.3 prescribes for numbers."""
    if x == 0:
        return "0"
    if x < 0:
        return "-" + es_number(-x)
    digits_t, exp = Decimal(repr(x)).normalize().as_tuple()[1:]
    digits = "".join(map(str, digits_t))
    k, n = len(digits), len(digits) + int(exp)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * -n + digits
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"


def es_string(s: str) -> str:
    """JSON string escaping of RFC 8785 §3.2.2.2: only '"', '\\' and controls are escaped."""
    short = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r"}
    short["\t"] = "\\t"
    out = []
    for ch in s:
        if ch in short:
            out.append(short[ch])
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def canonical(value: Any) -> str:
    """RFC 8785 text: sorted keys (by UTF-16 code units), no whitespace."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return es_number(value)
    if isinstance(value, str):
        return es_string(value)
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(f"{es_string(k)}:{canonical(value[k])}" for k in keys) + "}"
    raise AuditError(f"cannot canonicalise a {type(value).__name__}")


# --- record -> leaf (docs/ledger.md "Record content", "Leaf bytes") -----------


def record_content(fields: dict[str, Any]) -> bytes:
    missing = [k for k in REQUIRED if not fields.get(k)]
    if missing:
        raise AuditError(f"record content lacks {', '.join(missing)}")
    unknown = set(fields) - set(REQUIRED) - set(OPTIONAL)
    if unknown:
        raise AuditError(f"record content has unknown fields {sorted(unknown)}")
    present = {k: v for k, v in fields.items() if v is not None and v != {}}
    return canonical(present).encode("utf-8")


def leaf_bytes(disclosed: dict[str, Any]) -> bytes:
    """The ledger leaf a disclosed record must have produced."""
    fields = disclosed["content"]
    salt = bytes.fromhex(disclosed["salt"])
    rec_hash = hashlib.sha256(salt + record_content(fields)).hexdigest()
    subject_hash = disclosed.get("subject_hash")
    if "subject_key" in disclosed:
        key = bytes.fromhex(disclosed["subject_key"])
        computed = hmac.new(key, fields["subject"].encode("utf-8"), hashlib.sha256).hexdigest()
        if subject_hash is not None and subject_hash != computed:
            raise AuditError("subject_hash does not match HMAC(subject_key, subject)")
        subject_hash = computed
    if not isinstance(subject_hash, str):
        raise AuditError("the record file needs subject_hash or subject_key")
    leaf = {
        "decided_on": fields.get("decided_on"),
        "item": fields["item"],
        "kind": "record",
        "occurred_on": fields["occurred_on"],
        "record_hash": rec_hash,
        "seq": disclosed["seq"],
        "source": fields["source"],
        "subject_hash": subject_hash,
        "v": 1,
    }
    return canonical(leaf).encode("utf-8")


# --- RFC 9162 Merkle verification ---------------------------------------------


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def node(left: bytes, right: bytes) -> bytes:
    return sha(b"\x01" + left + right)


def verify_inclusion(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2, from the leaf hash up to the root."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(m: int, n: int, old: bytes, new: bytes, path: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2, with m == n (same root, empty proof) and m == 0 (empty proof)."""
    if m > n:
        return False
    if m == n:
        return not path and old == new
    if m == 0:
        return not path
    if not path:
        return False
    if m & (m - 1) == 0:
        path = [old, *path]
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old and sr == new and sn == 0


# --- signed notes and checkpoints (C2SP) --------------------------------------


def b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise AuditError(f"{text[:40]!r} is not base64") from None


def parse_vkey(text: str) -> tuple[str, bytes, int, Ed25519PublicKey]:
    name, key_id, blob = text.strip().split("+", 2)
    raw = b64(blob)
    if len(raw) != 33 or sha(name.encode() + b"\n" + raw)[:4].hex() != key_id:
        raise AuditError("the vkey is malformed or its key hash does not match")
    return name, bytes.fromhex(key_id), raw[0], Ed25519PublicKey.from_public_bytes(raw[1:])


def open_checkpoint(note: str, vkey: str) -> tuple[str, int, bytes]:
    """(origin, size, root) of a checkpoint note signed by the log key `vkey`."""
    name, key_id, kind, key = parse_vkey(vkey)
    body, sep, sigs = note.rpartition("\n\n")
    if not sep or not note.endswith("\n") or kind != 1:
        raise AuditError("malformed checkpoint note (or the vkey is not a 0x01 log key)")
    body += "\n"
    mine = [b64(line.split(" ")[2]) for line in sigs.splitlines() if line.split(" ")[1:2] == [name]]
    mine = [sig for sig in mine if sig[:4] == key_id]
    if len(mine) != 1:
        raise AuditError(f"the checkpoint has {len(mine)} signatures by the log key {name}")
    try:
        key.verify(mine[0][4:], body.encode("utf-8"))
    except InvalidSignature:
        raise AuditError(f"the checkpoint signature by {name} does not verify") from None
    origin, size, root = body.split("\n")[:3]
    if origin != name or not size.isdigit() or len(b64(root)) != 32:
        raise AuditError("the checkpoint body is malformed or not for this log's origin")
    return origin, int(size), b64(root)


def split_proof(lines: list[str]) -> tuple[list[bytes], str]:
    """Hash lines up to the blank line, and the checkpoint note after it."""
    blank = lines.index("")
    return [b64(h) for h in lines[:blank]], "\n".join(lines[blank + 1 :])


# --- commands -----------------------------------------------------------------


def check_record(record_file: Path, proof_file: Path, vkey: str) -> str:
    disclosed = json.loads(record_file.read_text(encoding="utf-8"))
    lines = proof_file.read_text(encoding="utf-8").split("\n")
    if lines[0] != "c2sp.org/tlog-proof@v1":
        raise AuditError("the proof is not a c2sp.org/tlog-proof@v1 file")
    at = 2 if lines[1].startswith("extra ") else 1
    if not lines[at].startswith("index "):
        raise AuditError("the proof has no index line")
    index = int(lines[at][6:])
    path, note = split_proof(lines[at + 1 :])
    origin, size, root = open_checkpoint(note, vkey)
    if index != disclosed["seq"]:
        raise AuditError(f"the proof is for entry {index}, the record says seq {disclosed['seq']}")
    leaf_hash = sha(b"\x00" + leaf_bytes(disclosed))
    if not verify_inclusion(leaf_hash, index, size, path, root):
        raise AuditError("the record's leaf is not in the checkpoint's tree (inclusion fails)")
    return f"ok: record at seq {index} is in {origin} at size {size} (root {root.hex()})"


def check_consistency(old_file: Path, proof_file: Path, vkey: str) -> str:
    _, old_size, old_root = open_checkpoint(old_file.read_text(encoding="utf-8"), vkey)
    lines = proof_file.read_text(encoding="utf-8").split("\n")
    if not lines[0].startswith("old ") or int(lines[0][4:]) != old_size:
        raise AuditError(f"the proof does not start with 'old {old_size}'")
    path, note = split_proof(lines[1:])
    origin, size, root = open_checkpoint(note, vkey)
    if not verify_consistency(old_size, size, old_root, root, path):
        raise AuditError(f"{origin} at size {size} does not extend the old checkpoint")
    return f"ok: {origin} grew from size {old_size} to {size} without rewriting history"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["record", "consistency"])
    parser.add_argument("first", type=Path, help="RECORD.json, or the old checkpoint note")
    parser.add_argument("proof", type=Path, help="tlog-proof file, or add-checkpoint body")
    parser.add_argument("--log-key", required=True, help="the log's vkey, or a file holding it")
    args = parser.parse_args(argv)
    vkey = Path(args.log_key).read_text() if Path(args.log_key).is_file() else args.log_key
    check = check_record if args.command == "record" else check_consistency
    try:
        print(check(args.first, args.proof, vkey))
    except (AuditError, ValueError, KeyError, IndexError, OSError) as exc:
        print(f"FAIL: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
