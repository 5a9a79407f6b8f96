"""Request bodies (documented in the OpenAPI schema); records are free-form JSON."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CheckRequest(_Body):
    subject: str = Field(description="ric:<resident ID> or uscc:<USCC>", max_length=64)
    purpose: str = Field(description="What the check is for, e.g. flight-booking", max_length=64)


class DisputeRequest(_Body):
    seq: int = Field(ge=0, description="The record's ledger sequence number, from your file")
    reason: str = Field(min_length=10, max_length=2000, description="Why the record is wrong")


class MatchReason(_Body):
    reason: str = Field(
        min_length=10, max_length=2000, description="Why (kept; hashed in the ledger)"
    )


class RepairRequest(_Body):
    seq: int = Field(ge=0, description="The record to repair")
    statement: str = Field(min_length=10, max_length=2000, description="What was rectified")


class DisputeAnswer(_Body):
    outcome: Literal["confirmed", "corrected", "withdrawn"]
    answer: str = Field(min_length=10, max_length=2000, description="The source's explanation")
    by: int | None = Field(
        default=None, ge=0, description="Corrected or withdrawn: the seq of your correction"
    )


class RepairAnswer(_Body):
    outcome: Literal["rectified", "refused"]
    answer: str = Field(min_length=10, max_length=2000)


class SourceRequest(_Body):
    name: str = Field(max_length=64)
    items: list[str] = Field(min_length=1, description="Catalogue item patterns, e.g. judicial.*")


class KeyRequest(_Body):
    role: Literal["source", "relying-party", "subject", "auditor", "admin"]
    name: str = Field(max_length=64)
    purposes: list[str] = Field(default_factory=list)
    subject: str | None = Field(default=None, max_length=64)
    source: str | None = Field(default=None, max_length=64)


class PublishRequest(_Body):
    rulebook: str = Field(max_length=64, description="A preset name, e.g. gov-default")
