"""Identity, masking and bounded reasons in the sidecar (issue 11, item 12 and 7's stored reasons).

Why: a message for another client that reuses an identificatie is not a re-send and must not be
acknowledged as one (it would never be delivered); logs mask BSN-shaped values yet keep references
searchable; an EI file with a wrong field is refused like an XML one (422); what the outbox keeps as
a reason is bounded however long the text it came from.
"""

from __future__ import annotations

import io
import json
import logging
import socketserver
import threading
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from proxy_helpers import Receiver, ServerThread, Start, sample, samples_dir, soap11, variant, wait_for

from gateway.cli import main
from gateway.deliver import outbox
from gateway.proxy.logs import JsonFormatter
from gateway.reference import reference_dir

A02 = "CasusA-02-WMO301_toewijzing.xml"
OTHER_BSN = b"111222333"  # passes the elfproef, like the sample's 123456782


def test_a_reused_identificatie_for_another_client_is_refused_not_acked_as_duplicate(start: Start) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        gw_server, gw = start({"default": {"downstream": ds.url}}, {})
        first = variant(sample(A02), 7)
        other_client = first.replace(b"123456782", OTHER_BSN)
        assert other_client != first
        ok = httpx.post(gw_server.url + "/soap", content=first)
        assert ok.status_code == 200
        clash = httpx.post(gw_server.url + "/soap", content=other_client)
        assert clash.status_code == 500 and b"Bv03Bericht" not in clash.content  # fault_status: soap, the default
        # Tabel 4.1 "Combinatie zender en referentienummer niet uniek" (soort 2,3): StUF016, plek client
        assert b"<StUF:code>StUF016</StUF:code><StUF:plek>client</StUF:plek>" in clash.content
        assert b"already belongs to a different message" in clash.content and OTHER_BSN not in clash.content
        assert "x-overstap-duplicate" not in clash.headers and clash.headers["x-overstap-quarantine"]
        resent = httpx.post(gw_server.url + "/soap", content=soap11(first))  # other bytes, same message
        assert resent.status_code == 200 and resent.headers["x-overstap-duplicate"] == "true"
        assert wait_for(lambda: len(rec.received) == 1)
        assert b"123456782" in rec.received[0].body
        conn = outbox.connect(gw.db_path)
        quarantined = outbox.message_rows(conn, status=outbox.QUARANTINED)
        assert [(m["fault_code"], m["fault_field"]) for m in quarantined] == [("StUF016", "referentienummer")]


def test_log_masking_keeps_references_and_masks_bsns() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("overstap.test-masking")
    log.addHandler(handler)
    try:
        log.warning("client 123456782 (bsn=111222333.) ref REF123456789X, OVS-123456789-1, zaak 1234567890")
    finally:
        log.removeHandler(handler)
    msg = json.loads(stream.getvalue())["msg"]
    assert "123456782" not in msg and "111222333" not in msg
    assert "REF123456789X" in msg and "OVS-123456789-1" in msg and "1234567890" in msg


def test_a_bugs_own_text_in_the_log_tells_what_it_quotes_by_its_shape() -> None:
    """Review s18: a bug is logged with ``exc_info``, and the formatter wrote the exception's text, in which
    Python quotes the value it choked on: a name from the message went into the sidecar's log."""
    try:
        int("Castricum")
    except ValueError as exc:
        record = logging.makeLogRecord({"msg": "conversion failed unexpectedly on route %s: %s",
                                        "args": ("default", "ValueError"), "name": "x", "exc_info": (
                                            type(exc), exc, exc.__traceback__)})
    error = json.loads(JsonFormatter().format(record))["error"]
    assert error == "ValueError: invalid literal for int() with base 10: (9 letters)"


def test_an_ei_file_with_a_wrong_field_gets_422_like_xml(start: Start) -> None:
    samples_dir()
    gw_server, _gw = start({"default": {"downstream": "zs"}}, {"zs": "http://127.0.0.1:9/zs"},
                           require_downstream_ready=False)
    ei = (reference_dir() / "samples" / "iwmo-ei" / "CasusA-02-WMO301_toewijzing.ei").read_bytes()
    lines = ei.split(b"\n")
    lines[1] = lines[1] + b"X"  # one record a character too long
    refused = httpx.post(gw_server.url + "/soap", content=b"\n".join(lines))
    assert refused.status_code == 500, refused.text  # a SOAP 1.1 Fault (fault_status: soap, the default)
    assert b"<StUF:code>StUF055</StUF:code><StUF:plek>client</StUF:plek>" in refused.content
    assert b"Fo03Bericht" in refused.content


def test_a_stored_reason_is_bounded_and_so_is_what_outbox_list_shows(tmp_path: Path) -> None:
    message = outbox.NewMessage("default", "translate", b"<x/>", reason="lang " * 100_000, fault_field="f" * 5000)
    assert message.reason is not None and len(message.reason) == outbox.MAX_REASON
    assert message.fault_field is not None and len(message.fault_field) == 200
    assert outbox.cap("a\nb\tc") == "a b c"
    conn = outbox.connect(outbox.open_db(tmp_path))
    with outbox.transaction(conn):
        outbox.quarantine(conn, message)
        conn.execute("UPDATE message SET reason = ?", ("x" * 50_000,))  # a row from before the cap
    for args in ([], ["--json"]):
        shown = CliRunner().invoke(main, ["outbox", "list", "--quarantine", "--data-dir", str(tmp_path), *args])
        assert shown.exit_code == 0 and len(shown.output) < outbox.MAX_REASON + 1000, len(shown.output)


class NotHttp:
    """A back office that answers every request with a line of text, not HTTP, naming a client (and a BSN)."""

    ANSWER = b"Client Castricum 123456782 niet gevonden\r\n\r\n"

    def __init__(self) -> None:
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/soap"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _handler(self) -> type[socketserver.StreamRequestHandler]:
        answer = self.ANSWER

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                length = 0
                while (line := self.rfile.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                self.rfile.read(length)
                self.wfile.write(answer)

        return Handler

    def __enter__(self) -> NotHttp:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_downstream_answering_no_http_is_logged_in_our_words_only(start: Start,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Review of the sidecar, finding 3: a back office that answers with a line of text instead of HTTP had up to
    200 characters of it logged at every retry (``illegal status line: bytearray(b'Client Castricum *******82 niet
    gevonden')``). The log says what went wrong in our words and the exception's type; the text, scrubbed, is kept
    only in the outbox's reason, shown by the explicit commands."""
    with NotHttp() as ds, caplog.at_level(logging.INFO):
        gw_server, gw = start({"default": {"downstream": "zs"}}, {"zs": {"url": ds.url, "circuit_threshold": 2}})
        assert httpx.post(gw_server.url + "/soap", content=sample(A02)).status_code == 200

        def failures() -> list[str]:
            return [r.getMessage() for r in caplog.records if r.name.startswith("overstap")
                    and ("attempt" in r.getMessage() or "keeps failing" in r.getMessage())]

        assert wait_for(lambda: len(failures()) >= 3 and any("keeps failing" in m for m in failures()))
        seen = failures()  # while the downstream still answers: once it stops, a retry meets a refused connection
        said = "malformed HTTP answer from the downstream: RemoteProtocolError"
        conn = outbox.connect(gw.db_path)
        stored: list[str] = []

        def malformed_reason() -> bool:
            """The delivery's reason now; each attempt and probe writes its own, so it is read while the downstream
            still answers (after, a retry's 'connection error' may be the last; CI saw that once, session 34)."""
            (row,) = outbox.delivery_rows(conn, limit=None)
            stored[:] = [row["reason"] or ""]
            return stored[0].startswith(said + ": ")

        assert wait_for(malformed_reason), stored
    # a probe may also meet the closed socket first: that line is ours too ("connection error: ReadError")
    assert any(said in m for m in seen), seen
    assert all(said in m or "(connection error: ReadError)" in m for m in seen), seen
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("overstap")]
    assert not [m for m in logged if "Castricum" in m or "123456782" in m]
    assert "Castricum *******82" in stored[0] and "123456782" not in stored[0], stored[0]
