"""A witness: a separate identity that cosigns only checkpoints that extend what it saw.

A log that shows one history to one reader and another to someone else
(a split view) can be caught only by someone who compares. A witness
compares for everyone: it keeps the last checkpoint it cosigned and adds
its cosignature (c2sp.org/tlog-cosignature) to a new one only with a
consistency proof from that one. Readers who require a witness's
cosignature therefore see the same append-only history as the witness.
"""

from credence.witness.cosigner import Refusal, Witness
from credence.witness.state import WitnessDir, WitnessError, WitnessState

__all__ = ["Refusal", "Witness", "WitnessDir", "WitnessError", "WitnessState"]
