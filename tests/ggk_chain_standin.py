"""A strict stand-in for the ISD-keten on 127.0.0.1: it takes GGk envelopes as the chain does and keeps a record.

Why strict: a property of whole GGk exchanges (tests/test_ggk_exchange_property.py) must see every rule the chain
holds a sender to, not just answer Bv03. What it enforces, and where the rule comes from:

* every envelope schema-valid by the official GGk XSDs, its stuurgegevens readable, a Du01's crossRefnummer the
  referentienummer of a Di01 it received, travelling back (``gateway.testbed.ggk.GgkIntake``, GGk spec 2.2, 3.3);
* a referentienummer is spent once per zender (IB216, CC08; GGk spec 2.4). StUF 03.01 4.4 has an end node answer
  a message offered again *identically* under a referentienummer it stored with the same Bv03 or Fo03 again, not
  storing it ("omdat het Bv03-bevestigingsbericht of het Fo03-foutbericht verloren is gegaan"); a different one
  under it gets Fo03 StUF016;
* tijdstipBericht strictly rising per zender over the new envelopes it gets (StUF 03.01 4.3.2, Fo03 StUF019).

Besides it answers as the test tells it, one new envelope at a time (or, for envelopes sent at once, by the
vendor message their payload carries: :attr:`StrictChain.planned`): a Bv03, a Fo03 at once, the connection
dropped after the envelope was stored (the answer lost), the Bv03 sent only after the sender's timeout, or HTTP
503 without a StUF answer, the envelope not stored, to every offer of it until :meth:`StrictChain.recover`. A Fo01
later is the test's to send (:meth:`StrictChain.fo01`): it names an envelope the chain took.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from proxy_helpers import BV03, FO03

from gateway.testbed.ggk import GgkIntake

_REF = re.compile(rb"<StUF:referentienummer>([^<]+)</StUF:referentienummer>")
_ZENDER = re.compile(rb"<StUF:zender>\s*<StUF:organisatie>([^<]+)</StUF:organisatie>\s*<StUF:applicatie>([^<]+)<")
_TIJDSTIP = re.compile(rb"<StUF:tijdstipBericht>([^<]+)</StUF:tijdstipBericht>")
_BERICHT = re.compile(rb"<GGK:bericht[^>]*>([^<]+)</GGK:bericht>")
_IDENT = re.compile(rb"<\w+:Identificatie>([^<]+)</\w+:Identificatie>")
_RETOUR = re.compile(rb"<\w+:IdentificatieRetour>([^<]+)</\w+:IdentificatieRetour>")
_CODE = re.compile(rb"<StUF:berichtcode>([^<]+)</StUF:berichtcode>")
_CROSS = re.compile(rb"<StUF:crossRefnummer>([^<]+)</StUF:crossRefnummer>")
_ONTVANGER = re.compile(rb"<StUF:ontvanger>\s*<StUF:organisatie>([^<]+)<")

BV = "Bv03"
LOST = "lost"  # the envelope stored, the connection dropped before any answer
SLOW = "slow"  # the envelope stored, the Bv03 sent after the sender's timeout
HELD = "held"
"""The envelope stored, the answer held until the test sets :attr:`StrictChain.let_go`, then the connection dropped
(as LOST): a test acts while the attempt is on the wire however late it runs, where SLOW's window is the sender's
timeout, a race a loaded machine can lose."""
NOT_STORED = "Fo03 StUF046"  # a transient Fo03: not stored, so the same envelope may come again (4.4.3)
DOWN = "down"  # HTTP 503 without a StUF answer, not stored, to every offer of that envelope until recover()
RETRIED = (LOST, SLOW, NOT_STORED, DOWN)  # not HELD: only a test that lets go may plan it
TAKEN = (LOST, SLOW, HELD)
"""Answers after which the chain holds the envelope as taken (a Bv03 to the same envelope offered again)."""
"""Answers after which the sender may offer the same envelope, byte for byte, under the same UUID again."""


@dataclass(frozen=True)
class Offer:
    """One envelope as the chain got it: references, which vendor message its payload is, and what it answered."""

    zender: str
    ref: str
    tijdstip: str
    digest: str
    identificatie: str
    answer: str  # "Bv03", "Fo03 <code>" (at once), "lost", "slow", "held"
    repeat: bool  # this zender offered this referentienummer before and the chain stored it
    broken: str | None  # the rule the envelope broke (the chain answered a Fo03 for it), None when it kept them
    berichtcode: str = "Di01"
    cross: str = ""  # a Du01's crossRefnummer
    ontvanger: str = ""  # the ontvanger's organisatie: whom a Du01 travels back to
    retour: str = ""  # a Du01's payload's IdentificatieRetour (its Identificatie is the heenbericht's)
    at: float = 0.0  # time.monotonic() when the chain got it and chose its answer (before it was sent)
    body: bytes = field(default=b"", repr=False, compare=False)


@dataclass
class StrictChain:
    """The chain: a real HTTP server on 127.0.0.1 (``url``), the rules above, and its record (``offers``)."""

    slow_seconds: float = 1.5
    offers: list[Offer] = field(default_factory=list)
    refused_later: dict[str, str] = field(default_factory=dict)  # referentienummer -> the Fo01 code
    plan: deque[str] = field(default_factory=deque)  # the answers to the next new envelopes; then Bv03
    planned: dict[tuple[str, str], deque[str]] = field(default_factory=dict)
    """(berichtcode, IdentificatieRetour of a Du01 or Identificatie of a Di01) -> the answers to its next new
    envelopes, before ``plan``: envelopes sent at once reach the chain in any order."""
    _answers: dict[tuple[str, str], str] = field(default_factory=dict)
    _last: dict[str, str] = field(default_factory=dict)
    _down: set[tuple[str, str]] = field(default_factory=set)
    _intake: GgkIntake = field(default_factory=GgkIntake)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    let_go: threading.Event = field(default_factory=threading.Event)
    """Ends the wait of every HELD answer (each then drops its connection)."""
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/isd"

    def take(self, body: bytes) -> tuple[int, bytes] | None:
        """The answer to one POST (status, body), or None to drop the connection; records the offer."""
        ref = _one(_REF, body)
        zender = "/".join(m.decode() for m in (_ZENDER.search(body) or _NONE).groups())
        tijdstip, digest = _one(_TIJDSTIP, body), hashlib.sha256(body).hexdigest()
        payload = base64.b64decode(_one(_BERICHT, body) or "")
        identificatie = (_IDENT.search(payload) or _NONE).group(1).decode()
        code, retour = _one(_CODE, body), (_RETOUR.search(payload) or _NONE).group(1).decode()
        mine = self.planned.get((code, retour if code == "Du01" else identificatie))
        with self._lock:
            before, broken = self._answers.get((zender, ref)), None
            checked = self._intake.receive(body)  # schema, stuurgegevens, StUF016, a Du01's crossRefnummer
            if not checked.accepted:
                assert checked.fout is not None
                answer = f"Fo03 {checked.fout.code}"
                broken = f"{checked.fout.code} {checked.fout.field}"
            elif before is not None:  # the same envelope again (4.4): the answer it got, not stored again
                answer = BV if before in TAKEN else before
            elif (zender, ref) in self._down:
                answer = DOWN
            elif tijdstip <= self._last.get(zender, ""):
                answer = broken = "Fo03 StUF019"  # TijdstipBericht niet groter dan voorgaand
            else:
                answer = mine.popleft() if mine else self.plan.popleft() if self.plan else BV
                if answer == DOWN:
                    self._down.add((zender, ref))
                elif answer != NOT_STORED:
                    self._last[zender] = tijdstip
            if before is None and answer not in (NOT_STORED, DOWN):
                self._answers[(zender, ref)] = answer
            self.offers.append(Offer(zender, ref, tijdstip, digest, identificatie, answer, before is not None,
                                     broken, code, _one(_CROSS, body), _one(_ONTVANGER, body), retour,
                                     time.monotonic(), body))
        if answer == HELD:
            assert self.let_go.wait(60), "the test never let the held answer go"
        if answer in (LOST, HELD):
            return None
        if answer == DOWN:
            return 503, b"service unavailable"
        if answer == SLOW:
            time.sleep(self.slow_seconds)
        if answer in (BV, SLOW):
            return 200, BV03.format(ref=ref).encode()
        code = answer.split(" ", 1)[1]
        return 500, FO03.format(ref=ref, code=code, omschrijving="afgekeurd door de keten").encode()

    def taken(self) -> dict[str, Offer]:
        """referentienummer -> the envelope the chain took (Bv03, or an answer that was lost) and did not refuse
        later in a Fo01: what it holds as delivered."""
        return {ref: o for ref, o in self.took().items() if ref not in self.refused_later}

    def took(self) -> dict[str, Offer]:
        """referentienummer -> every Di01 the chain took, refused later in a Fo01 or not."""
        return {ref: o for ref, o in self.took_all().items() if o.berichtcode == "Di01"}

    def took_all(self) -> dict[str, Offer]:
        """referentienummer -> every envelope the chain took, Di01 or Du01, in the order it took them."""
        with self._lock:
            return {o.ref: o for o in self.offers if not o.repeat and o.answer in (BV, *TAKEN)}

    def answer_for(self, ref: str) -> str | None:
        """The chain's verdict on an envelope: "Bv03", "Fo03 <code>" at once or "Fo01 <code>" later."""
        if ref in self.refused_later:
            return f"Fo01 {self.refused_later[ref]}"
        stored = [o for o in self.offers if o.ref == ref and not o.repeat and o.answer not in (NOT_STORED, DOWN)]
        return None if not stored else BV if stored[0].answer in TAKEN else stored[0].answer

    def recover(self) -> None:
        """The envelopes answered DOWN are taken as any new one from now on (the cause on the chain's side gone)."""
        with self._lock:
            self._down.clear()

    def __enter__(self) -> StrictChain:
        chain = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                answer = chain.take(body)
                if answer is None:
                    self.close_connection = True
                    return
                try:
                    self.send_response(answer[0])
                    self.send_header("Content-Type", "text/xml; charset=utf-8")
                    self.send_header("Content-Length", str(len(answer[1])))
                    self.end_headers()
                    self.wfile.write(answer[1])
                except OSError:  # the sender gave up waiting (SLOW): its retry has the answer
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


class _Nothing:
    def groups(self) -> tuple[bytes, ...]:
        return (b"?", b"?")

    def group(self, _n: int) -> bytes:
        return b"?"


_NONE = _Nothing()


def _one(pattern: re.Pattern[bytes], body: bytes) -> str:
    found = pattern.search(body)
    return found.group(1).decode() if found else ""
