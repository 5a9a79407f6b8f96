"""Parties' API keys: who may reach the service, in which role, for what.

A key is shown once, when issued, and kept only as its SHA-256: a copy of
the database lets no one act as a party. Its first characters (`prefix`)
name it in lists and logs. Issuing and revoking are ledger entries
(`access`), so who was allowed what, and since when, is public and signed;
a subject's key does not name its subject in the ledger.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import sqlalchemy as sa

from credence.core.ids import parse_subject
from credence.ledger.entries import ROLES, access_entry
from credence.store.database import StoreError, utc_now, write_transaction
from credence.store.registry import Registry
from credence.store.schema import api_keys, sources
from credence.store.sealing import append_entries

# A key says its role at a glance (in a config file, a leaked log line, a secret scanner).
KEY_PREFIXES = {
    "source": "cred_src_",
    "relying-party": "cred_rp_",
    "subject": "cred_sub_",
    "auditor": "cred_aud_",
    "admin": "cred_adm_",
}
KEY_BYTES = 32  # of randomness, URL-safe base64: 43 characters after the role prefix
SHOWN = 6  # random characters kept in `prefix`: enough to tell a party's keys apart
CACHE_SECONDS = 1.0  # how long `authenticate` trusts a lookup: a revocation's delay at most
_NAME = re.compile(r"^[a-z][a-z0-9-]{1,63}$")


@dataclass(frozen=True)
class Party:
    """Who holds a key: role, name, and what the role is bound to."""

    id: int
    prefix: str
    role: str
    name: str
    purposes: frozenset[str]  # relying parties: what they may check subjects for
    subject: str | None = field(repr=False)  # subject keys: whose file (kept out of logs)
    source_id: int | None  # source keys: which registered source
    source: str | None
    created_at: str
    revoked_at: str | None = None


def issue_key(
    registry: Registry,
    role: str,
    name: str,
    purposes: Iterable[str] = (),
    subject: str | None = None,
    source: str | None = None,
) -> tuple[str, Party]:
    """Issue a key to a party; return the key (shown once, never kept) and the party."""
    wanted = sorted(set(purposes))
    _check_request(registry, role, name, wanted, subject, source)
    canonical = str(parse_subject(subject)) if subject is not None else None
    source_id = registry.source(source).id if source is not None else None
    key = KEY_PREFIXES[role] + secrets.token_urlsafe(KEY_BYTES)
    digest = key_hash(key)
    created = utc_now()
    signing = registry.signing_key()
    prefix = key_prefix(key)
    with write_transaction(registry.engine) as conn:
        (seq,), _ = append_entries(
            conn,
            signing,
            [lambda seq: access_entry(seq, "issue", role, name, digest, wanted, source)],
        )
        key_id = conn.execute(
            sa.insert(api_keys)
            .values(
                prefix=prefix,
                key_hash=digest,
                role=role,
                name=name,
                purposes=json.dumps(wanted),
                subject=canonical,
                source_id=source_id,
                created_at=created,
                entry_seq=seq,
            )
            .returning(api_keys.c.id)
        ).scalar_one()
    party = Party(
        key_id, prefix, role, name, frozenset(wanted), canonical, source_id, source, created
    )
    return key, party


def list_keys(registry: Registry) -> list[Party]:
    """Every key issued, revoked ones included, oldest first."""
    with registry.engine.connect() as conn:
        return [_party(row) for row in conn.execute(_parties().order_by(api_keys.c.id))]


def revoke_key(registry: Registry, prefix_or_id: str) -> Party:
    """Revoke a key named by its id, its prefix or the key itself; ledger entry `revoke`."""
    signing = registry.signing_key()
    with write_transaction(registry.engine) as conn:
        party = _find(conn, prefix_or_id.strip())
        if party.revoked_at is not None:
            raise StoreError(f"key {party.prefix} (#{party.id}) was revoked at {party.revoked_at}")
        digest = conn.execute(
            sa.select(api_keys.c.key_hash).where(api_keys.c.id == party.id)
        ).scalar_one()
        append_entries(
            conn,
            signing,
            [
                lambda seq: access_entry(
                    seq, "revoke", party.role, party.name, bytes(digest), [], party.source
                )
            ],
        )
        at = utc_now()
        conn.execute(sa.update(api_keys).where(api_keys.c.id == party.id).values(revoked_at=at))
    _cache.clear()  # this process stops accepting it at once; others within CACHE_SECONDS
    return replace(party, revoked_at=at)


# Recent lookups of valid keys: (database, key hash) -> (expiry on the monotonic clock, party).
# Only valid keys are kept, so unknown keys cannot grow it beyond the parties there are.
_cache: dict[tuple[object, bytes], tuple[float, Party]] = {}


def authenticate(registry: Registry, key: str) -> Party | None:
    """The party holding `key` if it is valid and not revoked: one indexed lookup, cached 1 s."""
    if not key.startswith("cred_") or len(key) > 128:
        return None
    digest = key_hash(key)
    slot = (registry.engine, digest)
    now = time.monotonic()
    hit = _cache.get(slot)
    if hit is not None and hit[0] > now:
        return hit[1]
    with registry.engine.connect() as conn:
        row = conn.execute(
            _parties().where(api_keys.c.key_hash == digest, api_keys.c.revoked_at.is_(None))
        ).first()
    if row is None:
        _cache.pop(slot, None)
        return None
    party = _party(row)
    _cache[slot] = (now + CACHE_SECONDS, party)
    return party


def key_hash(key: str) -> bytes:
    """What the store keeps of a key: its SHA-256 (keys are random: no salt needed)."""
    return hashlib.sha256(key.encode("utf-8")).digest()


def key_prefix(key: str) -> str:
    """The part of a key shown in lists and logs: its role prefix and a few characters."""
    role_prefix = key[: key.index("_", len("cred_")) + 1]
    return key[: len(role_prefix) + SHOWN]


def _check_request(
    registry: Registry,
    role: str,
    name: str,
    purposes: list[str],
    subject: str | None,
    source: str | None,
) -> None:
    """Refuse a request the role does not allow, saying what it needs instead."""
    if role not in ROLES:
        raise StoreError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if not _NAME.match(name):
        raise StoreError(
            f"party name {name!r} must be 2-64 lower-case letters, digits and -, "
            "starting with a letter"
        )
    given = {"purposes": bool(purposes), "subject": subject is not None, "source": bool(source)}
    allowed = {"relying-party": "purposes", "subject": "subject", "source": "source"}.get(role)
    for what, present in given.items():
        if present and what != allowed:
            raise StoreError(f"{role} keys take no {what}")
    if role == "relying-party":
        _check_purposes(registry, purposes)
    elif role == "subject" and subject is None:
        raise StoreError("a subject key needs the subject it belongs to (e.g. ric:...)")
    elif role == "source" and not source:
        raise StoreError("a source key needs the registered source it submits for")


def _check_purposes(registry: Registry, purposes: list[str]) -> None:
    from credence.service.rulebooks import known_purposes

    known = known_purposes(registry)
    if not purposes:
        raise StoreError(
            "a relying-party key needs at least one purpose; purposes: " + ", ".join(sorted(known))
        )
    unknown = [p for p in purposes if p not in known]
    if unknown:
        raise StoreError(
            f"no measure serves the purpose {unknown[0]!r}; purposes: " + ", ".join(sorted(known))
        )


def _parties() -> sa.Select[tuple[object, ...]]:
    """Keys with their source's name: one query, the source joined by primary key."""
    return sa.select(
        api_keys.c.id,
        api_keys.c.prefix,
        api_keys.c.role,
        api_keys.c.name,
        api_keys.c.purposes,
        api_keys.c.subject,
        api_keys.c.source_id,
        sources.c.name.label("source"),
        api_keys.c.created_at,
        api_keys.c.revoked_at,
    ).select_from(api_keys.outerjoin(sources, sources.c.id == api_keys.c.source_id))


def _party(row: sa.Row[tuple[object, ...]]) -> Party:
    m = row._mapping
    return Party(
        id=int(m["id"]),
        prefix=str(m["prefix"]),
        role=str(m["role"]),
        name=str(m["name"]),
        purposes=frozenset(json.loads(str(m["purposes"]))),
        subject=m["subject"],
        source_id=m["source_id"],
        source=m["source"],
        created_at=str(m["created_at"]),
        revoked_at=m["revoked_at"],
    )


def _find(conn: sa.Connection, ref: str) -> Party:
    """The key named by `ref`: an id (digits), a key prefix, or the whole key."""
    if ref.isdigit():
        where = api_keys.c.id == int(ref)
    elif len(ref) > len("cred_adm_") + SHOWN:
        where = api_keys.c.key_hash == key_hash(ref)
    else:
        where = api_keys.c.prefix == ref
    rows = list(conn.execute(_parties().where(where)))
    if not rows:
        raise StoreError(f"no key {ref!r}: `credence key list` shows ids and prefixes")
    if len(rows) > 1:
        ids = ", ".join(str(r._mapping["id"]) for r in rows)
        raise StoreError(f"prefix {ref!r} names several keys ({ids}): revoke by id")
    return _party(rows[0])
