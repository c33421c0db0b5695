"""Shared test fixtures: where the official reference material is, or a clear skip when it is not here.

The reference folder (official XSDs, public samples) is never part of the repository, so every test
that needs it asks for ``reference_dir`` and is skipped, saying why, on a checkout without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from proxy_helpers import Start, gateways, samples_dir

from gateway import reference
from gateway.mapping import Registry


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The reference folder with the official schemas and samples; skips the test when it is absent."""
    found = reference.reference_dir()
    if not reference.available() or not (found / "samples" / "iwmo20-xml").is_dir():
        pytest.skip(f"reference material not found at {found} (set {reference.ENV} to the shared reference folder)")
    return found



@pytest.fixture(scope="module")
def registry() -> Registry:
    """All mappings (dialects/ and mappings/); skips where the reference samples are absent."""
    samples_dir()
    return Registry()


@pytest.fixture
def start(tmp_path: Path, registry: Registry) -> Iterator[Start]:
    """Start sidecar gateways in this test (uvicorn threads on 127.0.0.1); all are stopped after it."""
    with gateways(tmp_path, registry) as run:
        yield run
