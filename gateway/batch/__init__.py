"""Batch conversion of message archives (``overstap batch``): stream, convert in parallel, resume.

Modules, one job each: ``inputs`` streams members of folders and archives, ``keys`` names them,
``shard`` partitions them, ``budget`` bounds the quarantine, ``work`` converts chunks in worker
processes, ``pool`` runs the workers with bounded, ordered work in flight, ``sinks`` writes folders
and archives, ``zipformat`` is the ZIP container, ``journal`` makes runs resumable, ``outlock`` keeps
them one at a time in an OUT, ``report`` counts and summarises, ``progress`` shows it, and ``runner`` ties one
run together. docs/batch.md describes the design.
"""

from __future__ import annotations

from .budget import Limits
from .runner import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTGROWN,
    EXIT_USAGE,
    BatchOptions,
    BatchUsageError,
    Outcome,
    run,
)
from .shard import Shard

__all__ = ["EXIT_FAILED", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_OUTGROWN", "EXIT_USAGE",
           "BatchOptions", "BatchUsageError", "Limits", "Outcome", "Shard", "run"]
