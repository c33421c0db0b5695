"""For tests that feed converted messages to the reference receiver: a run
of one converter (one ledger) whose outputs all go to one receiver."""

from __future__ import annotations

from pathlib import Path

from clocks import StepClock

from gateway.pipeline import Conversion, Converter
from gateway.receiver import Receiver
from gateway.render import RenderSettings


class Run:
    """One converter (one ledger) whose outputs all go to one reference receiver, each one accepted."""

    def __init__(self, reference_dir: Path, settings: RenderSettings | None = None) -> None:
        self.folder = reference_dir / "samples" / "iwmo20-xml"
        self.converter = Converter(validate=True, clock=StepClock(), settings=settings)
        self.receiver = Receiver()

    def feed(self, name: str, data: bytes | None = None) -> Conversion:
        conversion = self.converter.convert(data if data is not None else (self.folder / name).read_bytes(), name)
        for output in conversion.outputs:
            answer = self.receiver.receive(output.xml, output.soap_action)
            assert answer.accepted, answer.fout
        return conversion
