"""Which zakLk01 writer runs: the creeerZaak written into one byte buffer (``_zkn_native.pyx``) where it is
built from the current source, else the Python writer (``zkn_writer``), which it equals output for output.

``make venv`` builds it with the native mapping walk (native/build.py); ``OVERSTAP_NATIVE_WRITER=0`` chooses
the Python writer. :data:`MISSING` says why the native one does not run, for the gateway's ready line.
The native creeerZaak is a port of ``zkn_writer``'s: a change to one is made in the other, and the tests that
compare them output for output (tests/writers.py) fail until it is.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import ModuleType

from . import zkn_writer

ENV = "OVERSTAP_NATIVE_WRITER"
_SOURCE = Path(__file__).with_name("_zkn_native.pyx")


def _load(source: Path = _SOURCE) -> tuple[ModuleType | None, str | None]:
    """The built native writer, or None and why not: switched off, not built, or built from another version of
    its source (a stale build must never run: it would write by rules the Python writer no longer has)."""
    if os.environ.get(ENV, "1") == "0":
        return None, f"{ENV}=0"
    try:
        from . import _zkn_native
    except ImportError:
        return None, "not built (`make venv` builds it where a C compiler is found)"
    except Exception as exc:  # a stale build whose start-up reads a name zkn_writer no longer has
        return None, f"cannot be loaded ({type(exc).__name__}: {exc}); `make venv` rebuilds it"
    if source.is_file() and hashlib.sha256(source.read_bytes()).hexdigest() != _zkn_native.SOURCE:
        return None, "built from another version of _zkn_native.pyx; `make venv` rebuilds it"
    return _zkn_native, None


native, MISSING = _load()
write = native.write if native is not None else zkn_writer.write
"""``zkn_writer.write``'s signature and output; the native one where it runs."""
