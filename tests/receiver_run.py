"""For tests that feed converted messages to the reference receiver: a ticking creation-time clock, and a run
of one converter (one ledger) whose outputs all go to one receiver."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from gateway.pipeline import Conversion, Converter
from gateway.receiver import Receiver
from gateway.render import RenderSettings


class Clock:
    """Creation time that moves on one second per reading, as a real clock would between messages."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 4, 12, 0, 0)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


class Run:
    """One converter (one ledger) whose outputs all go to one reference receiver, each one accepted."""

    def __init__(self, reference_dir: Path, settings: RenderSettings | None = None) -> None:
        self.folder = reference_dir / "samples" / "iwmo20-xml"
        self.converter = Converter(validate=True, clock=Clock(), settings=settings)
        self.receiver = Receiver()

    def feed(self, name: str, data: bytes | None = None) -> Conversion:
        conversion = self.converter.convert(data if data is not None else (self.folder / name).read_bytes(), name)
        for output in conversion.outputs:
            answer = self.receiver.receive(output.xml, output.soap_action)
            assert answer.accepted, answer.fout
        return conversion
