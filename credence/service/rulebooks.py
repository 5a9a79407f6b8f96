"""Publishing rulebooks: which rules the service applies, each change a ledger entry.

A publication keeps the rulebook's YAML exactly as published, so the rules
in force on any day can be read back and re-hashed; the ledger's `rulebook`
entry commits to the rulebook's content hash (the one every assessment
carries), so anyone can tie a published answer to the rules that made it.
The latest publication is live; until the first, `gov-default` is.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from credence.core.rulebook import (
    Rulebook,
    RulebookError,
    load_rulebook,
    load_rulebook_text,
    preset_names,
    read_rulebook_text,
    resolve_rulebook_path,
)
from credence.ledger.entries import rulebook_entry
from credence.store.database import utc_now, write_transaction
from credence.store.registry import Registry
from credence.store.schema import publications
from credence.store.sealing import append_entries

DEFAULT = "gov-default"  # live until a rulebook is published


@dataclass(frozen=True)
class Publication:
    """A published rulebook (or the implicit default: `seq` and `published_at` None).

    `already_live` is set only by `publish`, when the same content was
    live already and nothing was written.
    """

    name: str
    sha256: str  # hex of the rulebook's content hash (RFC 8785 JSON), as in the ledger
    seq: int | None
    published_at: str | None
    live: bool
    already_live: bool = False


def publish(registry: Registry, name_or_file: str) -> Publication:
    """Validate a preset or YAML file against the catalogue and make it the live rulebook."""
    path = resolve_rulebook_path(name_or_file)
    text = read_rulebook_text(path)
    rb = load_rulebook_text(text, registry.catalogue, str(path))
    sha = _hex(rb)
    key = registry.signing_key()
    with write_transaction(registry.engine) as conn:
        latest = conn.execute(_rows().limit(1)).first()
        if latest is not None and latest.sha256 == sha:
            return _publication(latest, live=True, already_live=True)
        at = utc_now()
        (seq,), _ = append_entries(conn, key, [lambda seq: rulebook_entry(seq, rb.name, sha)])
        conn.execute(
            sa.insert(publications).values(
                seq=seq, name=rb.name, sha256=sha, body=text, published_at=at
            )
        )
    return Publication(rb.name, sha, seq, at, live=True)


def published(registry: Registry) -> list[Publication]:
    """Every publication, oldest first, the last one live (or the implicit default alone)."""
    with registry.engine.connect() as conn:
        rows = list(conn.execute(_rows()))
    if not rows:
        return [Publication(DEFAULT, _hex(_default(registry)), None, None, live=True)]
    return [_publication(row, live=i == 0) for i, row in enumerate(rows)][::-1]


# The parsed live rulebook per database, tagged with its publication's seq: parsing YAML
# costs milliseconds, looking up the latest seq one indexed query.
_live: dict[str, tuple[int | None, Rulebook]] = {}


def live(registry: Registry) -> Rulebook:
    """The rulebook in force: the latest published, or `gov-default` when none is."""
    url = registry.settings.database_url
    with registry.engine.connect() as conn:
        seq = conn.execute(sa.select(sa.func.max(publications.c.seq))).scalar()
        cached = _live.get(url)
        if cached is not None and cached[0] == seq:
            return cached[1]
        if seq is None:
            rb = _default(registry)
        else:
            body = conn.execute(
                sa.select(publications.c.body).where(publications.c.seq == seq)
            ).scalar_one()
            rb = _parse(registry, body, int(seq))
    _live[url] = (seq, rb)
    return rb


def known_purposes(registry: Registry) -> set[str]:
    """Purposes some measure serves, in a shipped preset or a published rulebook."""
    books: list[Rulebook] = []
    for name in preset_names():
        try:
            books.append(load_rulebook(resolve_rulebook_path(name), registry.catalogue))
        except RulebookError:
            continue  # a preset written for another catalogue than this registry's
    with registry.engine.connect() as conn:
        for seq, body in conn.execute(sa.select(publications.c.seq, publications.c.body)):
            books.append(_parse(registry, body, seq))
    return {p for rb in books for m in rb.measures.values() for p in m.purposes}


def _rows() -> sa.Select[tuple[int, str, str, str]]:
    """Publications, newest first."""
    cols = publications.c
    return sa.select(cols.seq, cols.name, cols.sha256, cols.published_at).order_by(cols.seq.desc())


def _publication(row: sa.Row[tuple[int, str, str, str]], **flags: bool) -> Publication:
    return Publication(row.name, row.sha256, row.seq, row.published_at, **flags)


def _parse(registry: Registry, body: str, seq: int) -> Rulebook:
    return load_rulebook_text(body, registry.catalogue, f"<publication #{seq}>")


def _default(registry: Registry) -> Rulebook:
    return load_rulebook(resolve_rulebook_path(DEFAULT), registry.catalogue)


def _hex(rb: Rulebook) -> str:
    return rb.content_hash.removeprefix("sha256:")


# --- what the API shows --------------------------------------------------------------------


def assessed_rulebooks(registry: Registry) -> list[tuple[Rulebook, bool]]:
    """Each published rulebook (its latest publication per name) and whether it is live.

    A subject's file shows their assessment under each: the live one decides
    checks, the others show what an earlier or proposed rulebook concludes.
    """
    current = live(registry)
    found: list[tuple[Rulebook, bool]] = [(current, True)]
    names = {current.name}
    with registry.engine.connect() as conn:
        rows = conn.execute(
            sa.select(publications.c.seq, publications.c.name, publications.c.body).order_by(
                publications.c.seq.desc()
            )
        ).all()
    for seq, name, body in rows:
        if name not in names:
            names.add(name)
            found.append((_parse(registry, body, int(seq)), False))
    return found


def published_view(registry: Registry) -> list[dict[str, object]]:
    return [
        {
            "name": p.name,
            "sha256": p.sha256,
            "seq": p.seq,
            "published_at": p.published_at,
            "live": p.live,
        }
        for p in published(registry)
    ]


def published_text(registry: Registry, name: str) -> str | None:
    """The YAML of the latest publication of `name` (the default preset's file if implicit)."""
    with registry.engine.connect() as conn:
        body = conn.execute(
            sa.select(publications.c.body)
            .where(publications.c.name == name)
            .order_by(publications.c.seq.desc())
            .limit(1)
        ).scalar()
        any_published = conn.execute(sa.select(publications.c.seq).limit(1)).first()
    if body is not None:
        return str(body)
    if name == DEFAULT and any_published is None:
        return read_rulebook_text(resolve_rulebook_path(DEFAULT))
    return None


def publish_view(registry: Registry, name_or_file: str) -> dict[str, object]:
    """Publish a preset (the API publishes presets by name only, never a server path)."""
    from credence.service.errors import Invalid

    if name_or_file not in preset_names():
        raise Invalid(
            f"must be a preset: {', '.join(preset_names())} (publish files with the CLI)",
            field="rulebook",
        )
    try:
        done = publish(registry, name_or_file)
    except RulebookError as exc:
        raise Invalid(str(exc), field="rulebook") from None
    return {
        "name": done.name,
        "sha256": done.sha256,
        "seq": done.seq,
        "published_at": done.published_at,
        "already_live": done.already_live,
    }


def publication_body(registry: Registry, seq: int | None) -> str | None:
    """The YAML of publication `seq` (None: the implicit default, while nothing is published)."""
    if seq is None:
        with registry.engine.connect() as conn:
            if conn.execute(sa.select(publications.c.seq).limit(1)).first() is not None:
                return None
        return read_rulebook_text(resolve_rulebook_path(DEFAULT))
    with registry.engine.connect() as conn:
        body = conn.execute(
            sa.select(publications.c.body).where(publications.c.seq == seq)
        ).scalar()
    return None if body is None else str(body)
