"""Signed notes, checkpoints, cosignatures and proof texts against the C2SP specs.

Known answers come from the specs and from the reference implementations'
own tests: the example key and note of c2sp.org/signed-note, the
PeterNeumann key and note of golang.org/x/mod/sumdb/note (note_test.go),
and a native 0x04 vkey and a cosignature timestamp from
transparency-dev/formats (note/note_cosigv1_test.go). Ed25519 is
deterministic, so signing the Go note with the Go key must give its bytes.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credence.ledger import merkle
from credence.ledger.note import (
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    Checkpoint,
    NoteError,
    SignedNote,
    Verifier,
    cosign,
    cosignature_time,
    format_consistency_request,
    format_inclusion_proof,
    log_verifier,
    open_checkpoint,
    open_note,
    parse_consistency_request,
    parse_inclusion_proof,
    sign_checkpoint,
    sign_note,
    witness_verifier,
)

GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfq"
    "dngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWL"
    "ox33WWd1RvMc+QQ=\n"
)
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXpp"
    "zi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
ORIGIN = "registry.example/credence"


def go_private_key() -> Ed25519PrivateKey:
    raw = base64.b64decode(GO_SKEY.split("+", 4)[-1])
    assert raw[0] == SIG_ED25519
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


# --- known answers ------------------------------------------------------------


def test_go_reference_note_opens_and_signing_reproduces_it() -> None:
    verifier = Verifier.from_vkey(GO_VKEY)
    note, signed = open_note(GO_TEXT + "\n" + GO_SIG, [verifier])
    assert note.body == GO_TEXT and signed == [verifier]
    assert sign_note(GO_TEXT, go_private_key(), "PeterNeumann") == GO_TEXT + "\n" + GO_SIG
    assert log_verifier("PeterNeumann", go_private_key().public_key()).vkey() == GO_VKEY


def test_c2sp_example_note_opens() -> None:
    verifier = Verifier.from_vkey(C2SP_VKEY)
    assert verifier.key_hash.hex() == "530d903a" and verifier.vkey() == C2SP_VKEY
    note, _ = open_note(C2SP_NOTE, [verifier])
    assert note.body == "This is an example message.\n"


def test_key_hash_of_a_native_cosignature_vkey() -> None:
    """transparency-dev/formats' native 0x04 vkey: the hash covers the 0x04 type byte."""
    vkey = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"
    verifier = Verifier.from_vkey(vkey)
    assert verifier.sig_type == SIG_COSIGNATURE_V1 and verifier.vkey() == vkey
    data = b"remora.n621.de\n\x04" + verifier.key
    assert hashlib.sha256(data).digest()[:4].hex() == "da77ade7"


def test_cosignature_blob_layout_matches_reference_timestamp() -> None:
    """transparency-dev/formats TestCosignatureTimestamp: keyhash(4) || u64 BE time || sig."""
    blob = "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA=="  # noqa: E501
    note = SignedNote.parse(f"{ORIGIN}\n1\n{'A' * 43}=\n\n— w {blob}\n")
    sig = note.signatures[0]
    assert len(sig.signature) == 8 + 64
    assert int.from_bytes(sig.signature[:8], "big") == 1727964367


def test_mangled_vkeys_are_refused() -> None:
    """Port of Go's TestNewVerifier: every proper substring and every bumped byte fails."""
    for i in range(len(GO_VKEY)):
        for j in range(i + 1, len(GO_VKEY) + 1):
            if (i, j) != (0, len(GO_VKEY)):
                with pytest.raises(NoteError):
                    Verifier.from_vkey(GO_VKEY[i:j])
    for i, ch in enumerate(GO_VKEY):
        with pytest.raises(NoteError):
            Verifier.from_vkey(GO_VKEY[:i] + chr(ord(ch) + 1) + GO_VKEY[i + 1 :])


def test_vkey_of_unknown_type_is_refused() -> None:
    with pytest.raises(NoteError, match="unsupported signature type"):
        Verifier.from_vkey("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


# --- opening notes ------------------------------------------------------------


def test_unknown_keys_are_ignored_but_a_known_key_is_required() -> None:
    peter = Verifier.from_vkey(GO_VKEY)
    note, signed = open_note(GO_TEXT + "\n" + GO_SIG + ENOCH_SIG, [peter])
    assert signed == [peter] and len(note.signatures) == 2
    other = log_verifier("someone", Ed25519PrivateKey.generate().public_key())
    with pytest.raises(NoteError, match="not signed by someone"):
        open_note(GO_TEXT + "\n" + GO_SIG, [other])


def test_same_name_other_key_hash_is_named() -> None:
    impostor = log_verifier("PeterNeumann", Ed25519PrivateKey.generate().public_key())
    with pytest.raises(NoteError, match="key hash c74f20a3"):
        open_note(GO_TEXT + "\n" + GO_SIG, [impostor])


def test_bad_signature_from_known_key_rejects_the_note() -> None:
    peter = Verifier.from_vkey(GO_VKEY)
    bad = GO_SIG[:60] + "ABCD" + GO_SIG[60:]
    with pytest.raises(NoteError, match=r"invalid signature for key PeterNeumann\+c74f20a3"):
        open_note(GO_TEXT + "\n" + bad, [peter])
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(GO_TEXT.replace("answer", "Answer") + "\n" + GO_SIG, [peter])


def test_duplicate_lines_for_a_known_key_are_refused() -> None:
    with pytest.raises(NoteError, match="two signature lines"):
        open_note(GO_TEXT + "\n" + GO_SIG + GO_SIG, [Verifier.from_vkey(GO_VKEY)])


@pytest.mark.parametrize(
    "text",
    [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + GO_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + GO_SIG,
        GO_TEXT + "\n" + GO_SIG.replace("PeterNeumann", "Bad Name"),
        GO_TEXT + "\n" + GO_SIG + "Unexpected line.\n",
        GO_TEXT + "\n" + GO_SIG * 101,
        GO_TEXT + "\n" + GO_SIG.replace("x08go", "x08g*"),
        GO_TEXT + "\n" + "— PeterNeumann AAAA\n",
    ],
)
def test_malformed_notes_are_refused(text: str) -> None:
    with pytest.raises(NoteError, match="malformed"):
        open_note(text, [Verifier.from_vkey(GO_VKEY)])


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(NoteError, match="UTF-8"):
        SignedNote.parse(b"\xff" + (GO_TEXT + "\n" + GO_SIG).encode())


def test_parse_and_format_round_trip() -> None:
    text = GO_TEXT + "\n" + GO_SIG + ENOCH_SIG
    assert SignedNote.parse(text).format() == text


# --- checkpoints --------------------------------------------------------------


def test_checkpoint_body_matches_spec_example() -> None:
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    cp = Checkpoint.parse_body(body)
    assert (cp.origin, cp.size, len(cp.root)) == ("example.com/behind-the-sofa", 20852163, 32)
    assert cp.body() == body
    with_ext = Checkpoint(cp.origin, cp.size, cp.root, ("ext one",))
    assert Checkpoint.parse_body(with_ext.body()) == with_ext


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("log\n012\n" + "A" * 43 + "=\n", "leading zeroes"),
        ("log\n-1\n" + "A" * 43 + "=\n", "decimal"),
        ("log\n1\nAAAA\n", "32 bytes"),
        ("log\n1\n" + "A" * 43 + "=\n\n", "extension"),
        ("log\n1\n", "origin, size and root"),
        ("\n1\n" + "A" * 43 + "=\n", "origin"),
        ("log\n1\n" + "A" * 43 + "=", "newline"),
    ],
)
def test_bad_checkpoint_bodies_are_refused(body: str, why: str) -> None:
    with pytest.raises(NoteError, match=why):
        Checkpoint.parse_body(body)


def test_sign_and_open_checkpoint() -> None:
    key = Ed25519PrivateKey.generate()
    cp = Checkpoint(ORIGIN, 5, merkle.root([b"a", b"b", b"c", b"d", b"e"]))
    text = sign_checkpoint(cp, key, ORIGIN)
    log = log_verifier(ORIGIN, key.public_key())
    assert open_checkpoint(text, log) == cp
    with pytest.raises(NoteError, match="origin"):
        open_checkpoint(text, log, origin="elsewhere.example/log")
    with pytest.raises(NoteError, match="not a log key"):
        open_checkpoint(text, witness_verifier(ORIGIN, key.public_key()))
    other = log_verifier(ORIGIN, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(NoteError, match="not signed"):
        open_checkpoint(text, other)


# --- cosignatures -------------------------------------------------------------


def test_cosign_and_read_the_time() -> None:
    log_key, w_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, merkle.root([b"x"])), log_key, ORIGIN)
    witness = witness_verifier("witness.example/w1", w_key.public_key())
    cosigned = cosign(note, w_key, witness.name, 1679315147)
    assert cosigned.startswith(note)
    assert cosignature_time(cosigned, witness) == 1679315147
    assert open_checkpoint(cosigned, log_verifier(ORIGIN, log_key.public_key())).size == 1
    # The signed message is exactly the one of the spec.
    sig = SignedNote.parse(cosigned).signatures[-1]
    message = b"cosignature/v1\ntime 1679315147\n" + SignedNote.parse(note).body.encode()
    w_key.public_key().verify(sig.signature[8:], message)
    # Re-cosigning replaces the witness's own line rather than adding a second.
    again = cosign(cosigned, w_key, witness.name, 1679315200)
    assert len(SignedNote.parse(again).signatures) == 2
    assert cosignature_time(again, witness) == 1679315200


def test_cosignature_checks() -> None:
    log_key, w_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    note = sign_checkpoint(Checkpoint(ORIGIN, 1, merkle.root([b"x"])), log_key, ORIGIN)
    witness = witness_verifier("w", w_key.public_key())
    with pytest.raises(NoteError, match="not signed by w"):
        cosignature_time(note, witness)
    cosigned = cosign(note, w_key, "w", 100)
    # A 0x01 verifier of the same key and name does not accept a 0x04 line.
    with pytest.raises(NoteError):
        open_note(cosigned, [log_verifier("w", w_key.public_key())])
    # The timestamp is signed: changing it breaks the cosignature.
    parsed = SignedNote.parse(cosigned)
    mine = parsed.signatures[-1]
    moved = type(mine)(mine.name, mine.key_hash, (101).to_bytes(8, "big") + mine.signature[8:])
    forged = SignedNote(parsed.body, (*parsed.signatures[:-1], moved)).format()
    with pytest.raises(NoteError, match="invalid signature"):
        cosignature_time(forged, witness)
    with pytest.raises(NoteError, match="timestamp"):
        cosign(note, w_key, "w", 0)
    with pytest.raises(NoteError, match="checkpoint"):
        cosign(GO_TEXT + "\n" + GO_SIG, w_key, "w", 100)


# --- proof texts --------------------------------------------------------------

SPEC_REQUEST = """old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
"""  # noqa: E501


def test_spec_add_checkpoint_body_round_trips() -> None:
    req = parse_consistency_request(SPEC_REQUEST)
    assert req.old_size == 20852014 and len(req.proof) == 4
    assert Checkpoint.parse_body(SignedNote.parse(req.note).body).size == 20852163
    assert format_consistency_request(*req) == SPEC_REQUEST


def test_consistency_request_proves_a_real_tree() -> None:
    leaves = [bytes([i]) for i in range(11)]
    key = Ed25519PrivateKey.generate()
    note = sign_checkpoint(Checkpoint(ORIGIN, 11, merkle.root(leaves)), key, ORIGIN)
    text = format_consistency_request(6, merkle.consistency_proof(leaves, 6), note)
    old, proof, back = parse_consistency_request(text)
    cp = open_checkpoint(back, log_verifier(ORIGIN, key.public_key()))
    assert merkle.verify_consistency(old, cp.size, merkle.root(leaves[:6]), cp.root, proof)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("old 01\n\nnote\n", "leading zeroes"),
        ("new 1\n\nnote\n", "old <size>"),
        ("old 1\nAAAA\n\nnote\n", "32 bytes"),
        ("old 1\n" + "A" * 43 + "=", "blank line"),
        ("old 1\n" + "A" * 43 + "=\n", "checkpoint is missing"),
        ("old 1\n\n", "checkpoint is missing"),
        ("old 1\n" + ("A" * 43 + "=\n") * 64 + "\nnote\n", "63"),
    ],
)
def test_bad_consistency_requests_are_refused(text: str, why: str) -> None:
    with pytest.raises(NoteError, match=why):
        parse_consistency_request(text)


def test_inclusion_proof_text_round_trips_and_verifies() -> None:
    leaves = [f"leaf {i}".encode() for i in range(7)]
    key = Ed25519PrivateKey.generate()
    note = sign_checkpoint(Checkpoint(ORIGIN, 7, merkle.root(leaves)), key, ORIGIN)
    text = format_inclusion_proof(3, merkle.inclusion_proof(leaves, 3), note, extra=b"ctx")
    assert text.startswith("c2sp.org/tlog-proof@v1\nextra Y3R4\nindex 3\n")
    parsed = parse_inclusion_proof(text)
    assert (parsed.index, parsed.extra, parsed.note) == (3, b"ctx", note)
    cp = open_checkpoint(parsed.note, log_verifier(ORIGIN, key.public_key()))
    assert merkle.verify_inclusion(leaves[3], 3, cp.size, parsed.proof, cp.root)
    assert parse_inclusion_proof(format_inclusion_proof(0, [], note)).extra is None


def test_spec_tlog_proof_example_parses() -> None:
    example = (
        "c2sp.org/tlog-proof@v1\nextra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ\n"
        "index 73894\ngSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=\n"
        "B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=\n\nexample.com/fancylog\n109482\n"
        "sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=\n\n— example.com/fancylog hI2DJw=\n"
    )
    parsed = parse_inclusion_proof(example)
    assert parsed.index == 73894 and len(parsed.proof) == 2
    assert parsed.extra is not None and parsed.extra.startswith(b"age-v1.2.1")


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("c2sp.org/tlog-proof@v2\nindex 1\n\nnote\n", "first line"),
        ("c2sp.org/tlog-proof@v1\n\nnote\n", "index"),
        ("c2sp.org/tlog-proof@v1\nindex x\n\nnote\n", "decimal"),
        ("c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\nnote\n", "base64"),
    ],
)
def test_bad_tlog_proofs_are_refused(text: str, why: str) -> None:
    with pytest.raises(NoteError, match=why):
        parse_inclusion_proof(text)
