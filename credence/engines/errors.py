"""Engine errors a user can act on, importable without loading any engine."""

from __future__ import annotations


class SnapshotError(RuntimeError):
    """The batch snapshot is not the ledger: the message says how, and scoring stops."""
