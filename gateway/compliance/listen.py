"""``compliance --listen``: the testbed receives what a vendor's system sends; then the end state is judged.

The vendor's system converts and sends the scenario chains itself, so what is judged is what the
receiver could make of them: every message applied (nothing refused) and each expected zaak in its state.

The testbed listens behind the same guard as ``overstap testbed`` (:func:`gateway.testbed.limits.guarded_config`,
with its defaults): a vendor's system that sends its headers or body too slowly, opens too many connections or sends
a body past the limit is cut off or refused, as by the sidecar, instead of holding the run or its memory.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from gateway.httpguard.limits import HttpLimits
from gateway.receiver import Receiver
from gateway.testbed import Journal, create_app
from gateway.testbed.limits import Limits, guarded_config, http_limits

from .run import Outcome, check_state
from .scenarios import Scenario

WAIT = 600.0
"""Seconds ``--listen`` waits for the first message by default: time to point the vendor's system at the testbed
and start it, yet a forgotten run does not hold its port (and the operator's terminal) for ever."""


class NoVerdict(Exception):
    """The listening ended before there was anything to judge: nothing arrived within ``wait``, or ``stop`` was
    set (Ctrl-C, SIGTERM). The message says which, at which address; no scenario is judged."""


def listen(scenarios: list[Scenario], host: str, port: int, data_dir: Path, idle: float,
           started: threading.Event | None = None, limits: Limits | None = None,
           http: HttpLimits | None = None, wait: float = WAIT,
           stop: threading.Event | None = None) -> list[Outcome]:
    """Run the testbed until ``idle`` seconds pass without a message (after the first), then judge. Raises
    :class:`NoVerdict` when no message arrives within ``wait`` seconds or ``stop`` is set, the testbed stopped
    either way. ``limits`` and ``http`` are ``overstap testbed``'s defaults unless given (the tests give a short
    header deadline)."""
    import uvicorn

    receiver = Receiver()
    journal = Journal(data_dir)
    limits = limits or Limits()
    app = create_app(receiver, journal, limits=limits)
    server = uvicorn.Server(guarded_config(app, host, port, http or http_limits(limits)))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            time.sleep(0.05)
        if started is not None:
            started.set()
        ended = _received(journal, idle, wait, stop or threading.Event(), thread)
    finally:
        server.should_exit = True
        thread.join(30)
    if ended:
        journal.close()
        raise NoVerdict(ended.format(at=f"http://{host}:{port}/soap") + "; no scenario judged, no report written")
    zaken = list(receiver.snapshot().values())
    refused = [e for e in journal.entries(limit=1_000_000) if not e.accepted]
    journal.close()
    outcomes = []
    for scenario in scenarios:
        outcome = Outcome(scenario)
        if scenario.wrong or (scenario.answers and "Fo03" in scenario.answers):
            outcome.skipped.append("a refusal scenario: only --target sends messages that are wrong on purpose")
        elif not scenario.zaken:
            outcome.skipped.append("no zaak state to check for this scenario")
        else:
            outcome.problems += check_state(scenario.zaken, zaken)
        outcomes.append(outcome)
    everything = Scenario("no-message-refused", "Every message the vendor sent was applied", ())
    outcomes.append(Outcome(everything, problems=[f"{e.operation or 'a message'} {e.referentienummer or ''} refused: "
                                                  f"{e.code} [{e.rule}]" for e in refused]))
    return outcomes


def _received(journal: Journal, idle: float, wait: float, stop: threading.Event, thread: threading.Thread) -> str:
    """Watch the journal until ``idle`` seconds after the last message: '' then (judge), else why there is no
    verdict, ``{at}`` standing for the address. Before the first message only ``wait`` bounds it, so a sender
    that never sends ends the run too."""
    begun = last = time.monotonic()
    seen = 0
    while thread.is_alive():
        if stop.wait(0.2):
            return f"stopped listening at {{at}} after {seen} message(s)"
        count = len(journal.entries(limit=1_000_000))
        now = time.monotonic()
        if count != seen:
            last, seen = now, count
        elif seen and now - last >= idle:
            return ""
        elif not seen and now - begun >= wait:
            return f"nothing arrived at {{at}} within {wait:g} s"
    return ""
