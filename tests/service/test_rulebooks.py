"""Publishing rulebooks: validated, kept verbatim, a ledger entry each, the latest live."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from credence.core.rulebook import RulebookError, load_rulebook_text, resolve_rulebook_path
from credence.service import rulebooks
from credence.service.rulebooks import live, publish, published
from credence.store.registry import Registry
from credence.store.schema import entries, publications
from tests.conftest import GOVERNANCE


def test_gov_default_is_live_until_something_is_published(registry: Registry) -> None:
    assert live(registry).name == "gov-default"
    (only,) = published(registry)
    assert only.name == "gov-default" and only.live and only.seq is None
    assert only.sha256 == live(registry).content_hash.removeprefix("sha256:")


def test_publish_makes_it_live_and_writes_a_ledger_entry(registry: Registry) -> None:
    book = publish(registry, "sesame-style")
    assert book.seq == GOVERNANCE and book.live and not book.already_live
    assert live(registry).name == "sesame-style"
    with registry.engine.connect() as conn:
        body = conn.execute(sa.select(entries.c.body).where(entries.c.seq == book.seq)).scalar()
        text = conn.execute(sa.select(publications.c.body)).scalar_one()
    assert json.loads(bytes(body)) == {
        "kind": "rulebook",
        "name": "sesame-style",
        "seq": book.seq,
        "sha256": book.sha256,
        "v": 1,
    }
    assert text == resolve_rulebook_path("sesame-style").read_text(encoding="utf-8")
    assert live(registry).content_hash == "sha256:" + book.sha256


def test_republishing_the_live_content_is_a_noop(registry: Registry) -> None:
    first = publish(registry, "suining-2010")
    again = publish(registry, "suining-2010")
    assert again.already_live and again.seq == first.seq
    assert registry.ledger_size() == GOVERNANCE + 1


def test_published_lists_every_publication_the_latest_live(registry: Registry) -> None:
    publish(registry, "sesame-style")
    publish(registry, "gov-default")
    publish(registry, "sesame-style")  # back again: a new publication, live
    books = published(registry)
    assert [(b.name, b.live) for b in books] == [
        ("sesame-style", False),
        ("gov-default", False),
        ("sesame-style", True),
    ]
    assert [b.seq for b in books] == [GOVERNANCE, GOVERNANCE + 1, GOVERNANCE + 2]
    assert live(registry).name == "sesame-style"


def test_live_is_cached_by_publication(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(registry, "sesame-style")
    first = live(registry)
    calls: list[str] = []
    monkeypatch.setattr(rulebooks, "_parse", lambda *a: calls.append("parse"))
    assert live(registry) is first and calls == []


def test_publish_refuses_an_invalid_file_with_the_reason(
    registry: Registry, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rulebook: bad\nversion: 1\ntitle: Bad rules\nscore:\n  subjects: [person]\n"
        "  min: 0\n  max: 1000\n  base: 1000\n  points:\n"
        "    - {item: social.volunteer-service, points: 5, categories: [religion]}\n"
        "  grades:\n    - {grade: A}\n"
    )
    with pytest.raises(RulebookError, match=r"bad.yaml:10.*religion or belief"):
        publish(registry, str(bad))
    assert published(registry)[0].seq is None
    assert registry.ledger_size() == GOVERNANCE


def test_a_published_file_is_kept_verbatim(registry: Registry, tmp_path: Path) -> None:
    text = resolve_rulebook_path("gov-default").read_text(encoding="utf-8")
    mine = tmp_path / "mine.yaml"
    mine.write_text("# our copy, with a comment\n" + text, encoding="utf-8")
    book = publish(registry, str(mine))
    with registry.engine.connect() as conn:
        assert conn.execute(sa.select(publications.c.body)).scalar_one().startswith("# our copy")
    assert book.name == "gov-default"  # comments do not change the content hash


def test_rulebook_text_errors_name_the_publication() -> None:
    from credence.core.catalogue import default_catalogue_path, load_catalogue

    catalogue = load_catalogue(default_catalogue_path())
    with pytest.raises(RulebookError, match=r"^<publication #7>:2: "):
        load_rulebook_text("rulebook: x\n  bad: [", catalogue, "<publication #7>")
