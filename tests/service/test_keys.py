"""Parties' API keys: hashed at rest, validated per role, revocable, in the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from credence.core.ids import InvalidSubject
from credence.service import keys
from credence.service.keys import authenticate, issue_key, list_keys, revoke_key
from credence.store.database import StoreError
from credence.store.registry import Registry
from credence.store.schema import entries
from tests.conftest import GOVERNANCE, PERSON


def _db_bytes(registry: Registry) -> bytes:
    """The database file and its WAL, as a thief with a copy would read them."""
    data = registry.settings.data_dir
    return b"".join(p.read_bytes() for p in data.glob("credence.db*"))


def test_key_is_shown_once_and_stored_only_as_its_hash(registry: Registry) -> None:
    key, party = issue_key(registry, "relying-party", "air-china", ["flight-booking"])
    assert key.startswith("cred_rp_") and len(key) >= len("cred_rp_") + 43
    assert party.prefix == key[: len(party.prefix)] and 12 <= len(party.prefix) <= 16
    assert key.encode() not in _db_bytes(registry)
    assert key[len(party.prefix) :].encode() not in _db_bytes(registry)
    with registry.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT key_hash, prefix FROM api_keys")).one()
    assert bytes(stored[0]) == keys.key_hash(key) and stored[1] == party.prefix


@pytest.mark.parametrize(
    ("role", "start"),
    [
        ("source", "cred_src_"),
        ("relying-party", "cred_rp_"),
        ("subject", "cred_sub_"),
        ("auditor", "cred_aud_"),
        ("admin", "cred_adm_"),
    ],
)
def test_each_role_has_its_prefix(registry: Registry, role: str, start: str) -> None:
    binding: dict[str, object] = {
        "source": {"source": "court"},
        "relying-party": {"purposes": ["train-ticketing"]},
        "subject": {"subject": PERSON.lower()},
    }.get(role, {})  # type: ignore[assignment]
    key, party = issue_key(registry, role, "party-x", **binding)  # type: ignore[arg-type]
    assert key.startswith(start) and party.role == role
    assert authenticate(registry, key) == party
    if role == "subject":
        assert party.subject == PERSON  # canonical form
    if role == "source":
        assert party.source == "court" and party.source_id == registry.source("court").id


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("boss", "x-y", {}), "role must be one of source, relying-party, subject, auditor, admin"),
        (("admin", "X", {}), "party name 'X' must be"),
        (("relying-party", "air", {}), "needs at least one purpose; purposes: "),
        (
            ("relying-party", "air", {"purposes": ["spying"]}),
            "no measure serves the purpose 'spying'",
        ),
        (("subject", "me", {}), "needs the subject it belongs to"),
        (("source", "feed", {}), "needs the registered source"),
        (("source", "feed", {"source": "nope"}), "no source named 'nope'"),
        (("auditor", "aud", {"purposes": ["flight-booking"]}), "auditor keys take no purposes"),
        (("admin", "adm", {"source": "court"}), "admin keys take no source"),
        (("relying-party", "air", {"subject": PERSON}), "relying-party keys take no subject"),
    ],
)
def test_requests_a_role_does_not_allow_are_refused(
    registry: Registry, args: tuple[str, str, dict[str, object]], message: str
) -> None:
    role, name, extra = args
    with pytest.raises(StoreError, match=message.replace("(", r"\(")):
        issue_key(registry, role, name, **extra)  # type: ignore[arg-type]
    assert list_keys(registry) == []


def test_unknown_purpose_lists_the_known_ones(registry: Registry) -> None:
    with pytest.raises(StoreError) as exc:
        issue_key(registry, "relying-party", "air", ["spying"])
    assert "flight-booking" in str(exc.value) and "train-ticketing" in str(exc.value)


def test_invalid_subject_is_refused(registry: Registry) -> None:
    with pytest.raises(InvalidSubject):
        issue_key(registry, "subject", "me", subject="ric:123")


def test_issue_and_revoke_are_ledger_entries_without_the_key_or_subject(
    registry: Registry,
) -> None:
    key, party = issue_key(registry, "subject", "me", subject=PERSON)
    revoked = revoke_key(registry, party.prefix)
    assert revoked.revoked_at is not None and revoked.id == party.id
    with registry.engine.connect() as conn:
        bodies = [
            json.loads(bytes(b))
            for b in conn.execute(
                sa.select(entries.c.body).where(entries.c.kind == "access")
            ).scalars()
        ]
    assert [b["action"] for b in bodies] == ["issue", "revoke"]
    assert {b["key_sha256"] for b in bodies} == {keys.key_hash(key).hex()}
    text = json.dumps(bodies)
    assert key not in text and PERSON.split(":")[1] not in text
    assert registry.ledger_size() == GOVERNANCE + 2


def test_revoke_by_id_twice_or_unknown_is_an_error(registry: Registry) -> None:
    _, party = issue_key(registry, "auditor", "audit-office")
    revoke_key(registry, str(party.id))
    with pytest.raises(StoreError, match="was revoked at"):
        revoke_key(registry, str(party.id))
    with pytest.raises(StoreError, match="no key 'cred_adm_zzzzzz'"):
        revoke_key(registry, "cred_adm_zzzzzz")
    with pytest.raises(StoreError, match="no key '99'"):
        revoke_key(registry, "99")


def test_revoke_by_the_whole_key(registry: Registry) -> None:
    key, party = issue_key(registry, "admin", "ops")
    assert revoke_key(registry, key).id == party.id


def test_authenticate_refuses_a_revoked_key_within_the_ttl(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, party = issue_key(registry, "auditor", "audit-office")
    assert authenticate(registry, key) == party  # cached now
    # Another process revokes it: this one's cache is not cleared.
    with registry.engine.begin() as conn:
        conn.execute(sa.text("UPDATE api_keys SET revoked_at = 'now'"))
    assert authenticate(registry, key) == party  # still within the TTL
    clock = [keys.time.monotonic() + keys.CACHE_SECONDS + 0.01]
    monkeypatch.setattr(keys.time, "monotonic", lambda: clock[0])
    assert authenticate(registry, key) is None


def test_revoking_in_this_process_takes_effect_at_once(registry: Registry) -> None:
    key, party = issue_key(registry, "admin", "ops")
    assert authenticate(registry, key) == party
    revoke_key(registry, party.prefix)
    assert authenticate(registry, key) is None


def test_authenticate_refuses_garbage(registry: Registry) -> None:
    assert authenticate(registry, "") is None
    assert authenticate(registry, "cred_rp_" + "x" * 43) is None
    assert authenticate(registry, "Bearer nonsense") is None
    assert authenticate(registry, "cred_" + "x" * 500) is None


def test_list_keys_names_no_key(registry: Registry, tmp_path: Path) -> None:
    issue_key(registry, "relying-party", "air-china", ["flight-booking", "train-ticketing"])
    issue_key(registry, "source", "court-feed", source="court")
    listed = list_keys(registry)
    assert [p.name for p in listed] == ["air-china", "court-feed"]
    assert listed[0].purposes == {"flight-booking", "train-ticketing"}
    assert PERSON not in repr(issue_key(registry, "subject", "me", subject=PERSON)[1])
