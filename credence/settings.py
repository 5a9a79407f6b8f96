"""One settings object, read from CREDENCE_* environment variables.

Invalid values fail at start-up with the variable's name, not later in the
middle of an ingest. Every setting is listed in docs/settings.md (a test
checks this).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """credence's configuration."""

    model_config = SettingsConfigDict(env_prefix="CREDENCE_", extra="ignore")

    # Directory holding the SQLite registry, signing key and subject-hash key;
    # relative to the working directory, so separate directories hold separate registries.
    data_dir: Path = Path("credence-data")
    # Directory holding the tree-head signing key (and its published public key);
    # empty means the data directory. Keep it elsewhere so that whoever holds a copy
    # of the database cannot re-sign it (docs/security.md).
    key_dir: Path | None = None
    # The log's origin line in checkpoints (C2SP tlog-checkpoint), e.g.
    # "credit.example.gov/registry"; empty means "credence/<first 16 hex of the key id>".
    log_origin: str = ""
    # SQLAlchemy database URL; empty means SQLite at <data_dir>/credence.db.
    db_url: str = ""
    # Catalogue YAML file; empty means the shipped default catalogue.
    catalogue: str = ""
    # Records written per ledger transaction (each ends with a signed tree head).
    batch_size: int = Field(default=50_000, ge=1, le=1_000_000)
    # Hash buckets of subjects for batch scoring: each bucket is scored on its own, so
    # memory is bounded by the largest bucket, not by the registry.
    score_buckets: int = Field(default=16, ge=1, le=4096)
    # Memory DuckDB may use for batch scoring before it spills to disk.
    duckdb_memory_limit: str = "3GB"
    # Spark master for `credence score --engine spark` and `credence identity resolve
    # --engine spark`: local[*] runs Spark in this process on every core;
    # spark://host:7077 (or yarn, k8s://...) a cluster, whose workers need credence
    # installed and, for scoring, must read the snapshot (`credence export`).
    spark_master: str = "local[*]"
    # Memory of the Spark driver (spark.driver.memory), which in local mode also runs
    # every task; beyond it Spark spills to disk. A cluster sizes its executors itself.
    spark_driver_memory: str = "2g"
    # Seconds a write waits for another process's write lock on the registry before
    # the command stops with "the registry is locked by another process".
    lock_timeout: float = Field(default=30.0, gt=0, le=86_400)
    # When true, a failing command also prints its traceback (as `credence --debug`);
    # SQL parameter values, resident IDs, salts and keys are still left out.
    debug: bool = False
    # Most columns a submitted file may have (CSV header, Parquet schema); the record
    # format has 7, so more is refused with the count, never the names.
    max_columns: int = Field(default=64, ge=7, le=4096)
    # Longest line of a CSV or JSONL file, in bytes (after gzip); a longer line refuses
    # the file before anything is written.
    max_line_bytes: int = Field(default=1 << 20, ge=1024, le=1 << 30)
    # Longest CSV field, in characters; a longer one rejects its row.
    max_cell_chars: int = Field(default=64 << 10, ge=256, le=1 << 30)
    # Subjects in the synthetic city that `make demo` builds.
    demo_subjects: int = Field(default=100_000, ge=100, le=10_000_000)
    # When true, `make demo` builds, reports and exits instead of serving.
    demo_no_serve: bool = False
    # Address and port `credence serve` listens on (loopback by default: put a TLS
    # reverse proxy in front before exposing it).
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65_535)
    # The day the service takes as today (YYYY-MM-DD), for drills and demos: dispute
    # deadlines, publicity and list durations are measured from it. Empty: the real date.
    today: dt.date | None = None
    # Days a source has to answer a dispute before the record is suppressed.
    dispute_days: int = Field(default=30, ge=1, le=365)
    # Hours an Idempotency-Key is kept from its first use (then it is a new request).
    idempotency_hours: int = Field(default=24, ge=1, le=24 * 365)
    # `credence serve` assesses every subject with the batch engine at start-up (and when
    # the day turns or another rulebook goes live), so a first check is a lookup; under
    # 1 KiB of memory per subject held. False: every first check is computed on the store.
    prepare_answers: bool = True

    def service_today(self) -> dt.date:
        """The service's today: CREDENCE_TODAY if set, else the UTC date."""
        return self.today or dt.datetime.now(dt.UTC).date()

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'credence.db'}"

    @property
    def snapshot_dir(self) -> Path:
        """Parquet copy of the records for the batch engine, appended as the ledger grows."""
        return self.data_dir / "snapshot"

    @property
    def signing_key_path(self) -> Path:
        return (self.key_dir or self.data_dir) / "signing-key.pem"

    @property
    def public_key_path(self) -> Path:
        """The log's public key as a C2SP vkey line: what auditors and witnesses pin."""
        return (self.key_dir or self.data_dir) / "log.vkey"

    @property
    def subject_key_path(self) -> Path:
        return self.data_dir / "subject-key"


class SettingsError(ValueError):
    """A CREDENCE_* variable with an invalid value."""


def load_settings() -> Settings:
    """Read the environment; raise SettingsError naming the bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = "CREDENCE_" + str(err["loc"][0]).upper()
        raise SettingsError(f"{name}: {err['msg']}") from None
