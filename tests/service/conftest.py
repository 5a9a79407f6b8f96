"""An API over a small registry: a court, a police source, people and an organisation.

Expected decisions below are written from the gov-default rulebook's text
(docs/rulebooks) by hand: a person listed as a judgment defaulter may not
fly (`no-flights`, purpose flight-booking); nobody else is restricted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from credence.api.app import create_app
from credence.engines.store import StoreEngine
from credence.service.keys import issue_key
from credence.service.state import Service
from credence.settings import Settings
from credence.store.registry import Registry
from tests.conftest import ORG, PERSON, PERSON_2

TODAY = dt.date(2026, 6, 1)


@dataclass
class World:
    client: TestClient
    service: Service
    registry: Registry
    keys: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def submit(self, *records: dict[str, object]) -> dict[str, object]:
        body = {"records": list(records)}
        got = self.client.post("/v1/records", json=body, headers=self.auth("court"))
        assert got.status_code == 201, got.text
        return got.json()  # type: ignore[no-any-return]

    def check(self, subject: str, purpose: str = "flight-booking", who: str = "airline") -> dict:
        got = self.client.post(
            "/v1/checks", json={"subject": subject, "purpose": purpose}, headers=self.auth(who)
        )
        assert got.status_code == 200, got.text
        return got.json()  # type: ignore[no-any-return]

    def set_today(self, day: dt.date) -> None:
        self.service.settings.today = day


def listed(subject: str = PERSON, reference: str = "C-1", day: str = "2026-03-05") -> dict:
    return {
        "reference": reference,
        "item": "judicial.defaulter-listed",
        "subject": subject,
        "occurred_on": day,
        "decided_on": day,
        "attributes": {"case_number": "(2026)京0105执1号", "ground": 1},
    }


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def world(tmp_path, request) -> Iterator[World]:  # type: ignore[no-untyped-def]
    """The same API over SQLite (default tier) and over the real PostgreSQL (-m postgres)."""
    db_url = request.getfixturevalue("pg_url") if request.param == "postgresql" else ""
    settings = Settings(data_dir=tmp_path / "data", batch_size=1000, today=TODAY, db_url=db_url)
    registry, _ = Registry.init(settings)
    registry.add_source("court", ["judicial.*"])
    registry.add_source("police", ["administrative.traffic-*", "administrative.drunk-driving"])
    keys = {
        "admin": issue_key(registry, "admin", "ops")[0],
        "court": issue_key(registry, "source", "court-api", source="court")[0],
        "police": issue_key(registry, "source", "police-api", source="police")[0],
        "airline": issue_key(registry, "relying-party", "airline", purposes=("flight-booking",))[0],
        "railway": issue_key(registry, "relying-party", "railway", purposes=("train-ticketing",))[
            0
        ],
        "person": issue_key(registry, "subject", "person-1", subject=PERSON)[0],
        "person2": issue_key(registry, "subject", "person-2", subject=PERSON_2)[0],
        "org": issue_key(registry, "subject", "org-1", subject=ORG)[0],
        "auditor": issue_key(registry, "auditor", "inspector")[0],
    }
    service = Service(registry, settings)
    app = create_app(service, sweep_seconds=None)
    with TestClient(app) as client:
        yield World(client, service, registry, keys)
    service.close()
    registry.close()


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The subjects the store engine assesses, in order."""
    calls: list[str] = []
    assess = StoreEngine.assess

    def counting(self, subject, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(subject)
        return assess(self, subject, *args, **kwargs)

    monkeypatch.setattr(StoreEngine, "assess", counting)
    yield calls
