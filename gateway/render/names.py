"""Output names made from message values: one file-name component of plain characters, in both profiles.

Why: an output's name carries the message's own Berichtidentificatie (any text of up to 36 characters), and
``overstap convert`` and ``overstap batch`` write outputs under their names: a ``/`` or ``..`` there would
write outside the folder asked for. Everything but ``0-9 A-Z a-z . _ -`` becomes ``_``.
"""

from __future__ import annotations

import re

UNSAFE_NAME = re.compile(r"[^0-9A-Za-z._-]")


def file_name(text: str) -> str:
    """``text`` with every character a file name should not carry as ``_`` (no separator survives)."""
    return UNSAFE_NAME.sub("_", text)
