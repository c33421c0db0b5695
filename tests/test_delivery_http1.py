"""The delivery's own HTTP/1.1 exchange (gateway/deliver/http1.py) against httpcore + h11, which it replaced:
on a real socket (127.0.0.1), each answer below is served to both, and what the downstream received, what the
forwarder is handed (status, headers, body, cut off) or the error it stores (type and text), and whether the
connection is kept for the next delivery must be the same."""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import httpcore
import httptools
import pytest

from gateway.deliver.http1 import _Reader, exchange, prepare
from gateway.deliver.netstream import AsyncioBackend
from gateway.deliver.wire import DEFAULT_HEADERS, OneConnection

CAP = 4096
OK = b"<Bv03Bericht/>"
HEADERS: list[tuple[str, str | bytes]] = [*DEFAULT_HEADERS, ("Content-Type", "text/xml; charset=utf-8"),
                                          ("X-Overstap-Referentienummer", "ref-1"), ("Accept-Encoding", "identity"),
                                          ("SOAPAction", b'"http://www.egem.nl/StUF/sector/zkn/0310/creeerZaak_Lk01"')]


def _answer(head: bytes, body: bytes = OK) -> bytes:
    return head + b"\r\n\r\n" + body


ANSWERS: dict[str, tuple[bytes, bool]] = {
    # name: (what the downstream sends, whether it then closes the connection)
    "content-length": (_answer(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 14"), False),
    "chunked with a trailer": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n<Bv03\r\n9\r\nBericht/>"
                               b"\r\n0\r\nX-Trailer: t\r\n\r\n", False),
    "connection close": (_answer(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 14"), False),
    "http/1.0": (_answer(b"HTTP/1.0 200 OK\r\nContent-Length: 14\r\nConnection: keep-alive"), False),
    "ended by the close": (_answer(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml"), True),
    "interim 100 first": (b"HTTP/1.1 100 Continue\r\n\r\n" + _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 14"),
                          False),
    "nothing": (b"", True),
    "half a head": (b"HTTP/1.1 200 OK\r\nContent-Le", True),
    "body short of its length": (_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 40"), True),
    "chunks cut off": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n<Bv03\r\n", True),
    "not http": (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", True),
    "a control byte in a value": (_answer(b"HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 14"), False),
    "a form feed in a value": (_answer(b"HTTP/1.1 200 OK\r\nX-A: a\x0cb\r\nContent-Length: 14"), False),
    "a space before the colon": (_answer(b"HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 14"), False),
    "gzip then chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", False),
    "two equal lengths": (_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 14\r\nContent-Length: 14"), False),
    "length and chunked": (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                           False),
    "no content": (b"HTTP/1.1 204 No Content\r\n\r\n", False),
    "no reason": (_answer(b"HTTP/1.1 503\r\nRetry-After: 7\r\nContent-Length: 14"), False),
    "status 999": (_answer(b"HTTP/1.1 999 Odd\r\nContent-Length: 14"), False),
    "an empty value, trailing blanks": (_answer(b"HTTP/1.1 200 OK\r\nX-Empty:\r\nX-B: b \t\r\nContent-Length: 14"),
                                        False),
    "a folded line": (_answer(b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 14"), False),
    "bare line feeds": (b"HTTP/1.1 200 OK\nContent-Length: 14\n\n" + OK, False),
    "a head past 100 KiB": (_answer(b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"x" * 120_000 + b"\r\nContent-Length: 14"),
                            False),
    "a body past the cap": (_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 5000", b"y" * 5000), False),
    "a body at the cap": (_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 4096", b"y" * 4096), False),
    "chunks past the cap": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"800\r\n" + b"z" * 2048 +
                            b"\r\n" + b"800\r\n" + b"z" * 2048 + b"\r\n1\r\nz\r\n0\r\n\r\n", False),
    "a second answer after the first": (_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 14") +
                                        _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2", b"no"), False),
    "a status out of range": (_answer(b"HTTP/1.1 20 OK\r\nContent-Length: 14"), True),
    "a vertical tab in the reason": (_answer(b"HTTP/1.1 200 O\x0bK\r\nContent-Length: 14"), True),
}


class Downstream:
    """A socket server that reads one request and sends a canned answer (then closes, if asked)."""

    def __init__(self, answer: bytes, close: bool) -> None:
        self.answer, self.close = answer, close
        self.received: list[bytes] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        self.received.append(head + await reader.readexactly(length))
        writer.write(self.answer)
        await writer.drain()
        if self.close:
            writer.close()
        else:
            await reader.read()  # hold the connection open until the client closes it


async def _served(answer: bytes, close: bool, client: Any) -> tuple[Any, list[bytes]]:
    downstream = Downstream(answer, close)
    server = await asyncio.start_server(downstream.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await asyncio.wait_for(client(port), 10)
    except httpcore.TimeoutException as exc:
        result = ("error", type(exc).__name__, str(exc))
    except Exception as exc:
        result = ("error", type(exc).__name__, str(exc))
    finally:
        server.close()
    return result, [r.replace(b":%d" % port, b":PORT") for r in downstream.received]


async def _old(port: int) -> tuple[Any, ...]:
    """What the forwarder got from httpcore + h11 (the code this replaced), body read up to CAP."""
    url = f"http://127.0.0.1:{port}/zaken"
    stream = await AsyncioBackend().connect_tcp("127.0.0.1", port)
    connection = httpcore.AsyncHTTP11Connection(httpcore.Origin(b"http", b"127.0.0.1", port), stream)
    try:
        async with connection.stream("POST", url, headers=HEADERS, content=b"<a>payload</a>",
                                     extensions={"timeout": {"read": 2, "write": 2}}) as response:
            body, cut = bytearray(), False
            async for chunk in response.aiter_stream():
                body += chunk
                if len(body) > CAP:
                    del body[CAP:]
                    cut = True
                    break
        kept = connection.is_idle() and not connection.has_expired()
        return response.status, response.headers, bytes(body), cut, kept
    finally:
        await connection.aclose()


async def _new(port: int) -> tuple[Any, ...]:
    url = httpcore.URL(f"http://127.0.0.1:{port}/zaken")
    connection = OneConnection(None)
    try:
        answer = await connection.exchange(url.origin, prepare(url, b"127.0.0.1:%d" % port, HEADERS, b"<a>payload</a>"),
                                           {"connect": 2, "read": 2, "write": 2}, CAP)
        kept = connection.stream
        return answer.status, answer.headers, answer.body, answer.cut, kept is not None and not kept.get_extra_info(
            "is_readable")
    finally:
        await connection.aclose()


@pytest.mark.parametrize("name", list(ANSWERS))
def test_each_answer_reads_as_httpcore_and_h11_read_it(name: str) -> None:
    """Why: the stored outcome (delivered, retried with h11's reason, dead) and the connection's reuse must not
    depend on which HTTP client read the downstream's answer; the downstream must receive the same bytes."""
    answer, close = ANSWERS[name]
    old = asyncio.run(_served(answer, close, _old))
    new = asyncio.run(_served(answer, close, _new))
    if name == "a second answer after the first":  # httpcore kept the connection, to read "no" as the next answer
        assert old[0][-1] and not new[0][-1]
        old = ((*old[0][:-1], False), old[1])
    assert new == old


def test_the_ordinary_answers_take_the_fast_path() -> None:
    """Why: the comparison above would also pass if every answer went through the h11 replay."""
    replayed: list[str] = []

    async def client(port: int) -> None:
        url = httpcore.URL(f"http://127.0.0.1:{port}/zaken")
        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port)
        try:
            await exchange(stream, prepare(url, b"h", HEADERS, b"<a/>"), {}, CAP)  # type: ignore[arg-type]
        finally:
            await stream.aclose()

    import gateway.deliver.http1 as http1
    original = http1._replay

    async def noting(*args: Any) -> Any:
        replayed.append("x")
        return await original(*args)

    http1._replay = noting  # type: ignore[assignment]
    try:
        for name in ("content-length", "chunked with a trailer", "connection close", "no content", "no reason",
                     "a body past the cap"):
            asyncio.run(_served(*ANSWERS[name], client))
            assert not replayed, name
    finally:
        http1._replay = original  # type: ignore[assignment]


def test_an_odd_request_header_fails_or_goes_out_as_with_httpcore() -> None:
    """Why: a configured header h11 refuses must fail the attempt with h11's reason, not go on the wire."""
    odd: list[tuple[str, str | bytes]] = [*HEADERS, ("X-Bad", b"a\r\nX-Injected: 1")]
    for headers in (odd, [*HEADERS, ("Host", "elsewhere.example")], [*HEADERS, ("Content-Length", "14")]):
        async def old(port: int, headers: list[tuple[str, str | bytes]] = headers) -> Any:
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port)
            connection = httpcore.AsyncHTTP11Connection(httpcore.Origin(b"http", b"127.0.0.1", port), stream)
            try:
                response = await connection.request("POST", f"http://127.0.0.1:{port}/zaken", headers=headers,
                                                    content=b"<a>payload</a>")
                return response.status, response.headers, response.content
            finally:
                await connection.aclose()

        async def new(port: int, headers: list[tuple[str, str | bytes]] = headers) -> Any:
            url = httpcore.URL(f"http://127.0.0.1:{port}/zaken")
            stream = await AsyncioBackend().connect_tcp("127.0.0.1", port)
            try:
                request = prepare(url, b"127.0.0.1:%d" % port, headers, b"<a>payload</a>")
                answer = await exchange(stream, request, {}, CAP)  # type: ignore[arg-type]
                return answer.status, answer.headers, answer.body
            finally:
                await stream.aclose()

        answer = ANSWERS["content-length"][0]
        assert asyncio.run(_served(answer, False, new)) == asyncio.run(_served(answer, False, old))


def _h11_reads(answer: bytes) -> bool:
    state = h11.Connection(our_role=h11.CLIENT)
    state.send(h11.Request(method=b"POST", target=b"/", headers=[(b"Host", b"h"), (b"Content-Length", b"0")]))
    state.receive_data(answer)
    try:
        while not isinstance(event := state.next_event(), h11.EndOfMessage):
            if event is h11.NEED_DATA:
                return False
    except h11.RemoteProtocolError:
        return False
    return True


def test_what_httptools_accepts_beyond_h11_goes_to_the_replay() -> None:
    """Why: the fast path may only decide an answer h11 would have read too. Every byte in every spot of a
    status line, header, chunk and trailer: llhttp refuses it, or h11 reads it, or the reader marks it odd."""
    spots = (b"HTTP/1.1 200 O%sK\r\n", b"HTTP/1.1 200 OK%s\r\n", b"HTTP/1.1 200%sOK\r\n",
             b"HTTP/1.1 200 OK\r\nX-A: a%sb\r\n", b"HTTP/1.1 200 OK\r\nX-A: a%s\r\n",
             b"HTTP/1.1 200 OK\r\nX-A:%sa\r\n", b"HTTP/1.1 200 OK\r\nX%sA: a\r\n")
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a%sb\r\n\r\n",
               b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1%s\r\na\r\n0\r\n\r\n",
               b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked%s\r\n\r\n0\r\n\r\n")
    answers = [spot + b"Content-Length: 0\r\n\r\n" for spot in spots] + list(chunked)
    for byte in range(256):
        for template in answers:
            answer = template % bytes([byte])
            reader = _Reader()
            try:
                httptools.HttpResponseParser(reader).feed_data(answer)
            except httptools.HttpParserError:
                continue
            assert not reader.done or reader.odd or _h11_reads(answer), answer


def test_a_header_outside_h11s_grammar_is_left_to_the_replay() -> None:
    """Why: today's llhttp refuses such lines itself (above); should a later one hand them over, h11 decides."""
    for name, value in ((b"X-A", b"a\x0bb"), (b"X-A", b"a\x00"), (b"X A", b"a"), (b"X-A", b"a\r\nX-B: b")):
        reader = _Reader()
        reader.on_header(name, value)
        assert reader.odd, (name, value)
    reader = _Reader()
    reader.on_header(b"X-A", b"a b\x80 \t")
    assert not reader.odd and reader.headers == [(b"X-A", b"a b\x80")]


def test_a_downstream_that_never_answers_is_a_read_timeout_as_before() -> None:
    """Why: the read timeout is the lane's; a silent downstream must end the attempt as httpcore's read did."""

    async def both() -> tuple[Any, Any]:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        url = httpcore.URL(f"http://127.0.0.1:{port}/zaken")
        timeouts = {"connect": 1, "read": 0.2, "write": 1}
        outcomes = []
        try:
            for stream_it in (True, False):
                try:
                    if stream_it:
                        stream = await AsyncioBackend().connect_tcp("127.0.0.1", port)
                        connection = httpcore.AsyncHTTP11Connection(url.origin, stream)
                        await connection.request("POST", url, headers=HEADERS, content=b"<a/>",
                                                 extensions={"timeout": timeouts})
                    else:
                        await OneConnection(None).exchange(url.origin, prepare(url, b"h", HEADERS, b"<a/>"), timeouts,
                                                           CAP)
                except httpcore.ReadTimeout as exc:
                    outcomes.append((type(exc).__name__, str(exc)))
        finally:
            server.close()
        return outcomes[0], outcomes[1]

    old, new = asyncio.run(both())
    assert new == old == ("ReadTimeout", "")
