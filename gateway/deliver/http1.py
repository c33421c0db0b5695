"""The delivery POST as one plain HTTP/1.1 exchange on a netstream connection, without h11 and httpcore's
connection (their event objects, state machine and two lock round-trips cost ~0.15 ms of the sidecar's CPU a
delivery: docs/performance.md, issue 13).

What a downstream sees and what is stored stay as they were, by construction rather than by imitation:

* The request head is written as h11 wrote it (request line, Host first, the headers in order, Content-Length
  last). A header set h11 would have refused or treated specially (a Host, Content-Length or
  Transfer-Encoding of the delivery's own, a name or value outside h11's grammar, a non-ASCII ``str``) is built
  by httpcore's and h11's own code, so it fails or goes out exactly as before.
* The answer is parsed by httptools (llhttp) only while it is an ordinary one: a final status, Content-Length
  or chunked, every header line within h11's grammar. Anything else (an interim 1xx, a body ending at the
  close, a parse error, an end of stream before the end, a head past httpcore's 100 KiB) is *replayed*: the
  bytes read so far, in the same pieces, go through h11 exactly as httpcore drove it, and the exchange goes
  on from there with h11. The stored reasons (``Server disconnected without sending a response.``, h11's
  texts) are therefore h11's own. After a replay the connection is kept if h11 saw the answer end cleanly.
* One difference, on purpose: bytes a downstream sends after its answer close the connection (httpcore left
  them in h11's buffer, to be read as the answer to the next delivery).
"""

from __future__ import annotations

import re
from typing import Any

import h11
import httpcore
import httptools
from httpcore._models import enforce_headers, include_request_headers

from .netstream import Stream

READ_BYTES = 64 * 1024
"""What one read asks for (httpcore's ``READ_NUM_BYTES``)."""
MAX_INCOMPLETE = 100 * 1024
"""The most an unfinished response head may grow to (httpcore's ``MAX_INCOMPLETE_EVENT_SIZE``)."""
DISCONNECTED = "Server disconnected without sending a response."
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_VALUE = re.compile(r"(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?")
_BTOKEN = re.compile(_TOKEN.pattern.encode("ascii"))
_BVALUE = re.compile(_VALUE.pattern.encode("ascii"))
_REASON = re.compile(rb"(?:[ \t]|[^\x00\s])*")
"""h11's grammar (h11/_abnf.py): a header name is a token, a value has no NUL and no inner line break."""
_SPECIAL = frozenset({"host", "content-length", "transfer-encoding"})
_TARGET = re.compile(rb"[\x21-\x7e]+")


class Prepared:
    """A delivery POST ready to go: its head bytes and the header list h11 would have been given; or, for an
    odd header set, httpcore's request, written by h11 once the connection is there (as httpcore did)."""

    __slots__ = ("close", "head", "headers", "odd", "payload", "target")

    def __init__(self, head: bytes, headers: list[tuple[bytes, bytes]], target: bytes, payload: bytes,
                 odd: httpcore.Request | None = None) -> None:
        self.head = head
        self.headers = headers
        self.target = target
        self.payload = payload
        self.odd = odd
        self.close = any(name.lower() == b"connection" and b"close" in _comma(value) for name, value in headers)

    def by_h11(self) -> None:
        """Write the odd request with h11 (its errors, its bytes), mapped as httpcore mapped them."""
        request, self.odd = self.odd, None
        assert request is not None
        with httpcore._exceptions.map_exceptions({h11.LocalProtocolError: httpcore.LocalProtocolError}):
            event = h11.Request(method=b"POST", target=self.target, headers=request.headers)
        writer = h11.Connection(our_role=h11.CLIENT)
        head = writer.send(event) or b""
        body = (writer.send(h11.Data(data=self.payload)) or b"") + (writer.send(h11.EndOfMessage()) or b"")
        self.head, self.payload = head + body, b""


def _comma(value: bytes) -> list[bytes]:
    """A comma header's items as h11's ``get_comma_header`` reads them: stripped, lower case."""
    return [item.strip().lower() for item in value.split(b",")]


def prepare(url: httpcore.URL, host: bytes, wire: list[tuple[str, str | bytes]], payload: bytes) -> Prepared:
    """The request as httpcore + h11 would have written it (see the module doc)."""
    headers: list[tuple[bytes, bytes]] = [(b"Host", host)]
    target = url.target
    if not _TARGET.fullmatch(target):
        return _odd(url, wire, payload)
    for name, value in wire:
        if name.lower() in _SPECIAL or not _TOKEN.fullmatch(name):
            return _odd(url, wire, payload)
        if isinstance(value, str):
            if not value.isascii() or not _VALUE.fullmatch(value):
                return _odd(url, wire, payload)
            value = value.encode("ascii")
        elif not _BVALUE.fullmatch(value):
            return _odd(url, wire, payload)
        headers.append((name.encode("ascii"), value))
    headers.append((b"Content-Length", str(len(payload)).encode("ascii")))
    head = b"".join([b"POST ", target, b" HTTP/1.1\r\n", *(b"%s: %s\r\n" % pair for pair in headers), b"\r\n"])
    return Prepared(head, headers, target, payload)


def _odd(url: httpcore.URL, wire: list[tuple[str, str | bytes]], payload: bytes) -> Prepared:
    """httpcore's request model for an odd header set: its ``TypeError`` now, h11's part in ``by_h11``."""
    headers = include_request_headers(enforce_headers(wire, name="headers"), url=url, content=payload)
    return Prepared(b"", headers, url.target, payload, httpcore.Request("POST", url, headers=headers, content=payload))


class Answer:
    """The downstream's answer: status, raw headers, the body up to the cap, whether it was cut there, and
    whether the connection may carry the next delivery."""

    __slots__ = ("body", "cut", "headers", "keep", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes, cut: bool, keep: bool) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.cut = cut
        self.keep = keep


class _Reader:
    """httptools callbacks for one answer; ``odd`` marks what only the h11 replay may judge."""

    def __init__(self) -> None:
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = self.done = self.odd = self.extra = self.framed = self.close = False
        self.body: list[bytes] = []
        self.size = self.messages = 0

    def on_message_begin(self) -> None:
        self.messages += 1
        if self.messages > 1:
            self.extra = True

    def on_status(self, piece: bytes) -> None:
        self.reason += piece

    def on_header(self, name: bytes, value: bytes) -> None:
        value = value.rstrip(b" \t")
        if not _BTOKEN.fullmatch(name) or not _BVALUE.fullmatch(value):
            self.odd = True
        if self.head_done:  # a chunked answer's trailer: checked, not kept (as h11)
            return
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            if self.framed or value.lower() != b"chunked":
                self.odd = True
            self.framed = True
        elif lowered == b"content-length":
            self.framed = True
        elif lowered == b"connection" and b"close" in _comma(value):
            self.close = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.messages == 1:
            self.head_done = True
            if not _REASON.fullmatch(self.reason):
                self.odd = True

    def on_body(self, piece: bytes) -> None:
        if self.messages == 1:
            self.body.append(piece)
            self.size += len(piece)

    def on_message_complete(self) -> None:
        if self.messages == 1:
            self.done = True


async def exchange(stream: Stream, request: Prepared, timeouts: dict[str, Any], cap: int) -> Answer:
    """Send ``request`` and read the answer, its body up to ``cap`` bytes (one more byte is a cut)."""
    write, read = timeouts.get("write"), timeouts.get("read")
    if request.odd is not None:
        request.by_h11()
    try:
        await stream.write(request.head, timeout=write)
        await stream.write(request.payload, timeout=write)
    except httpcore.WriteError:  # as httpcore: the downstream may have answered before it hung up
        pass
    reader = _Reader()
    parser = httptools.HttpResponseParser(reader)
    seen: list[bytes] = []
    received = 0
    while True:
        data = await stream.read(READ_BYTES, timeout=read)
        seen.append(data)
        if not data:
            if not received:
                raise httpcore.RemoteProtocolError(DISCONNECTED)
            return await _replay(stream, request, seen, read, cap)
        received += len(data)
        try:
            parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            return await _replay(stream, request, seen, read, cap)
        if reader.odd or (reader.head_done and not _ordinary(parser, reader)):
            return await _replay(stream, request, seen, read, cap)
        if not reader.head_done and received > MAX_INCOMPLETE:
            return await _replay(stream, request, seen, read, cap)
        if reader.size > cap:
            return Answer(parser.get_status_code(), reader.headers, b"".join(reader.body)[:cap], True, False)
        if reader.done:
            keep = not (request.close or reader.close or reader.extra) and parser.get_http_version() == "1.1"
            return Answer(parser.get_status_code(), reader.headers, b"".join(reader.body), False, keep)


def _ordinary(parser: httptools.HttpResponseParser, reader: _Reader) -> bool:
    """A final answer whose body is framed by Content-Length or chunks (or has none by its status)."""
    status = parser.get_status_code()
    return status >= 200 and (reader.framed or status in (204, 304))


async def _replay(stream: Stream, request: Prepared, seen: list[bytes], timeout: float | None, cap: int) -> Answer:
    """The answer read as httpcore read it with h11, from its first byte (see the module doc)."""
    state = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=MAX_INCOMPLETE)
    state.send(h11.Request(method=b"POST", target=request.target, headers=request.headers))
    pending = list(reversed(seen))

    async def next_event() -> Any:
        while True:
            try:
                event = state.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpcore.RemoteProtocolError(exc) from exc
            if event is not h11.NEED_DATA:
                return event
            data = pending.pop() if pending else await stream.read(READ_BYTES, timeout=timeout)
            if data == b"" and state.their_state == h11.SEND_RESPONSE:
                raise httpcore.RemoteProtocolError(DISCONNECTED)
            state.receive_data(data)

    while True:
        event = await next_event()
        if isinstance(event, h11.Response) or (isinstance(event, h11.InformationalResponse)
                                               and event.status_code == 101):
            break
    body = bytearray()
    while True:
        part = await next_event()
        if isinstance(part, h11.Data):
            body += part.data
            if len(body) > cap:
                return Answer(event.status_code, event.headers.raw_items(), bytes(body[:cap]), True, False)
        elif isinstance(part, h11.EndOfMessage) or part is h11.PAUSED:
            keep = state.their_state is h11.DONE and not request.close and not state.trailing_data[0]
            return Answer(event.status_code, event.headers.raw_items(), bytes(body), False, keep)
