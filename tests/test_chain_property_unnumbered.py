"""The chain property (test_chain_property.py) with 2.1 301 lines without a ToewijzingNummer besides 305/307 lines
without one, while two toewijzingen share the 2.x product key (200001 and 200002: one client, beschikking, product
and Ingangsdatum). The oracle (chain_oracle.py, from docs/canonical-spec.md 1) says which toewijzing such a line
belongs to, or that it is refused, and which candidates a warning names; the run checks every zaak as before.

A 301 without a number for a product key no toewijzing named yet makes a zaak without a ToewijzingNummer, which
the check (by number) cannot find: such an event is sent with its number instead (a plain test covers the kind).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from chain_messages import FIRST_DAY, LAST_DAY, message_301_unnumbered
from chain_oracle import ENDING, ymd
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st
from test_chain_property import (
    EVENTS,
    NOT_ENDING,
    TOEWIJZINGEN,
    TS,
    Offered,
    Run,
    Start,
    Step,
    Stop,
    Toewijs,
)


@dataclass(frozen=True)
class Unnumbered:
    """A 301 line without a ToewijzingNummer for toewijzing ``t``'s beschikking and product (Toewijs's fields)."""

    t: int
    einde: int | str
    volume: int
    reden: str | None
    ingang: int = 0


@dataclass
class UnnumberedRun(Run):
    """A :class:`~test_chain_property.Run` that also builds :class:`Unnumbered` events."""

    def build(self, event: object) -> Offered:  # type: ignore[override]
        if not isinstance(event, Unnumbered):
            return super().build(event)  # type: ignore[arg-type]
        t = TOEWIJZINGEN[event.t]
        ingang = FIRST_DAY + dt.timedelta(days=event.ingang)
        if not self.oracle.shared.get((t.beschikking, t.code, ymd(ingang))):  # see the module's docstring
            return super().build(Toewijs(event.t, event.einde, event.volume, event.reden, ingang=event.ingang))
        self.count += 1
        day, ident, dag = self.day, f"prop{self.count:08d}", ymd(self.day)
        einde = ingang if event.einde == "ingang" else LAST_DAY if event.einde == "jaar" else max(
            FIRST_DAY, day + dt.timedelta(days=int(event.einde)))
        moment = dt.datetime.combine(day, dt.time(8)) + dt.timedelta(seconds=self.count)
        at = moment.strftime("%Y%m%d%H%M%S")
        xml = message_301_unnumbered([t], ident, day, moment, einde, event.volume, event.reden, None, ingang)
        return Offered(f"#{self.count} unnumbered {t.beschikking[-3:]}", xml, lambda o: o.message([
            lambda: o.toewijs_without_number(t, dag, at, ymd(einde), str(event.volume), event.reden, ymd(ingang))]))


UNNUMBERED = st.builds(Unnumbered, TS, st.sampled_from([-3, 0, 14, "ingang", "jaar"]), st.sampled_from([22500, 12000]),
                       st.sampled_from(NOT_ENDING + ENDING), st.sampled_from([0, -7]))


@st.composite
def chains(draw: st.DrawFn, max_size: int) -> list[Step]:
    """Both toewijzingen of the shared key created first, then any events, a 301 without a number among them."""
    later = draw(st.lists(st.builds(Step, st.integers(0, 3), st.one_of(UNNUMBERED, EVENTS)), min_size=1,
                          max_size=max_size))
    return [Step(0, Toewijs(0, "jaar", 22500, None)), Step(1, Toewijs(1, "jaar", 18000, None)), *later]


def run_chain(steps: list[Step]) -> UnnumberedRun:
    run = UnnumberedRun(say=note)
    for step in steps:
        run.step(step)
    return run


SHARED = [Step(0, Toewijs(0, "jaar", 22500, None)), Step(1, Toewijs(1, "jaar", 18000, None)),
          Step(1, Toewijs(0, "ingang", 22500, "01")), Step(1, Start(0, 0, False, by_product=True)),
          Step(0, Start(0, -5, True, by_product=True)), Step(1, Unnumbered(0, "jaar", 12000, None)),
          Step(0, Toewijs(2, "jaar", 22500, None)), Step(1, Unnumbered(2, 14, 12000, "05")),
          Step(1, Stop(1, 0, "02", by_product=True))]
"""200001 ends on its Ingangsdatum and names the key last: a start without a number goes to 200002 (its period holds
the Begindatum), one whose Begindatum both hold goes to the one named last with a warning; a 301 without a number
for the shared key is refused, for another client's key it corrects 200003; a stop goes by its Begindatum."""


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=chains(12))
@example(steps=SHARED)
def test_chains_with_lines_without_a_number_end_in_the_state_their_events_describe(reference_dir: object,
                                                                                   steps: list[Step]) -> None:
    run_chain(steps)
