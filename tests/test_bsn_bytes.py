"""The BSN 11-proef weighs an ASCII BSN's bytes instead of an int() per digit (issue 13, tenth session): each
byte is its digit plus 48, which adds 48 x (sum of the weights) to the sum, 7 mod 11. Why this test: that
shortcut must accept exactly the numbers the 11-proef accepts, for every digit string and near miss."""

from __future__ import annotations

import random

from gateway.model import bsn_is_valid

WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def _proef(value: str) -> bool:
    """The 11-proef as written down: nine digits, not all zeros, weighted sum divisible by 11."""
    if len(value) != 9 or not value.isdigit() or value == "000000000":
        return False
    return sum(int(d) * w for d, w in zip(value, WEIGHTS, strict=True)) % 11 == 0


def test_the_byte_sum_accepts_what_the_11_proef_accepts() -> None:
    rng = random.Random(13)
    values = [f"{rng.randrange(10**9):09d}" for _ in range(50_000)]
    valid = [v for v in values if _proef(v)]
    assert len(valid) > 3000
    for value in valid[:300]:  # every one-digit change of a valid number, and swaps of two neighbours
        for i in range(9):
            for d in "0123456789":
                values.append(value[:i] + d + value[i + 1:])
            if i < 8:
                values.append(value[:i] + value[i + 1] + value[i] + value[i + 2:])
    values += ["000000000", "00000000", "0000000000", "12345678a", "١٢٣٤٥٦٧٨٢", "12345678٢", "1234567 2", ""]
    for value in values:
        assert bsn_is_valid(value) is _proef(value), value
