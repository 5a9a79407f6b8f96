"""The witness's one decision: cosign this checkpoint, or refuse and say why.

The checks are those of c2sp.org/tlog-witness add-checkpoint, in its
order: the log's signature and origin, the old size against the size last
cosigned, then the consistency proof from the root last cosigned. The first
checkpoint is trusted on first use: with nothing cosigned yet there is no
history to be consistent with.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from credence.ledger.merkle import empty_root, verify_consistency
from credence.ledger.note import Checkpoint, NoteError, cosign, open_checkpoint
from credence.witness.state import WitnessDir, WitnessState


class Refusal(Exception):
    """The witness will not cosign; the message says why (rollback, fork, bad proof, ...)."""


@dataclass(frozen=True, slots=True)
class Cosigned:
    """What a successful add-checkpoint produced: the note with our line, and our new state."""

    note: str
    state: WitnessState
    previous: WitnessState | None


class Witness:
    """Cosigns checkpoints of one log for one witness directory."""

    def __init__(self, directory: WitnessDir) -> None:
        self.dir = directory

    def add_checkpoint(
        self,
        note_text: str,
        old_size: int | None = None,
        proof: Sequence[bytes] = (),
        now: int | None = None,
    ) -> Cosigned:
        """Check and cosign `note_text`, persisting the new state before returning.

        `old_size` None means "no proof given": accepted for the first
        checkpoint and for re-cosigning the same tree, refused otherwise.
        """
        with self.dir.locked():
            previous = self.dir.state()
            cp = self._checked(note_text, previous, old_size, list(proof))
            timestamp = int(time.time()) if now is None else now
            try:
                cosigned = cosign(note_text, self.dir.key, self.dir.verifier.name, timestamp)
            except NoteError as exc:
                raise Refusal(str(exc)) from None
            state = WitnessState(cp.origin, cp.size, cp.root, timestamp)
            self.dir.save(state, cosigned)
        return Cosigned(cosigned, state, previous)

    def _checked(
        self, note_text: str, last: WitnessState | None, old: int | None, proof: list[bytes]
    ) -> Checkpoint:
        try:
            cp = open_checkpoint(note_text, self.dir.log_key)
        except NoteError as exc:
            raise Refusal(f"checkpoint refused: {exc}") from None
        if cp.size == 0 and cp.root != empty_root():
            raise Refusal("checkpoint refused: a tree of size 0 must have the empty-tree root")
        if last is not None and cp.size < last.size:
            raise Refusal(
                f"rollback refused: checkpoint size {cp.size} is smaller than the size "
                f"{last.size} this witness already cosigned"
            )
        if old is None:
            old = _implied_old_size(cp, last)
        elif old > cp.size:
            raise Refusal(f"proof refused: old size {old} is larger than the checkpoint size")
        last_size = 0 if last is None else last.size
        if old != last_size:
            raise Refusal(
                f"wrong old size {old}: this witness last cosigned size {last_size}, "
                f"so the consistency proof must start there"
            )
        _check_consistency(cp, last, proof)
        return cp


def _implied_old_size(cp: Checkpoint, last: WitnessState | None) -> int:
    """Without a proof only two cases are safe: nothing cosigned yet, or the same size."""
    if last is None:
        return 0
    if cp.size == last.size:
        return last.size
    raise Refusal(
        f"consistency proof needed: this witness last cosigned size {last.size}; "
        f"give a proof from {last.size} to {cp.size} (--proof)"
    )


def _check_consistency(cp: Checkpoint, last: WitnessState | None, proof: list[bytes]) -> None:
    if last is None or last.size == 0:
        if proof:
            raise Refusal("proof refused: a proof from the empty tree must be empty")
        return
    if cp.size == last.size:
        if cp.root != last.root:
            raise Refusal(
                f"fork refused: checkpoint of size {cp.size} has root {cp.root.hex()[:16]}…, "
                f"but this witness cosigned root {last.root.hex()[:16]}… at that size"
            )
        if proof:
            raise Refusal("proof refused: a proof between equal sizes must be empty")
        return
    if not verify_consistency(last.size, cp.size, last.root, cp.root, proof):
        raise Refusal(
            f"fork or bad proof refused: the consistency proof from size {last.size} to "
            f"{cp.size} does not lead from the root this witness cosigned to the new root"
        )
