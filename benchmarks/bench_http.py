"""The sidecar benchmark's HTTP senders and its readings of the gateway's /metrics (a sibling module of
``proxy_bench.py``, kept apart so that file stays readable)."""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlsplit

import httpx


class RawClient:
    """One keep-alive HTTP/1.1 connection on asyncio streams: a POST and its answer, nothing else.

    The lean sender (``--client raw``, the default): httpx costs about a millisecond of CPU a request on
    this kind of machine, taken from the cores the gateway runs on. Answers must carry a Content-Length
    (uvicorn's do); a connection the server closed is opened again for the next request.
    """

    def __init__(self) -> None:
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, url: str, content: bytes, headers: dict[str, str]) -> int:
        """POST ``content`` to ``url``; the answer's status (its body is read and dropped)."""
        parts = urlsplit(url)
        if self.streams is None:
            self.streams = await asyncio.open_connection(parts.hostname, parts.port)
        reader, writer = self.streams
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}Content-Length: "
                     f"{len(content)}\r\n\r\n".encode() + content)
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        await reader.readexactly(int(fields["content-length"]))
        if fields.get("connection", "").lower() == "close":
            await self.aclose()
        return int(lines[0].split(" ", 2)[1])

    async def aclose(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


class HttpxClient:
    """The httpx sender (``--client httpx``): one client of one connection, as before the lean one."""

    def __init__(self) -> None:
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self.client = httpx.AsyncClient(timeout=60.0, limits=one)

    async def post(self, url: str, content: bytes, headers: dict[str, str]) -> int:
        return (await self.client.post(url, content=content, headers=headers)).status_code

    async def aclose(self) -> None:
        await self.client.aclose()


def commits(gw_url: str) -> tuple[float, float, float]:
    """(outbox COMMITs so far, writes they carried, their seconds) from the gateway's /metrics: how the group
    commit groups."""
    text = httpx.get(gw_url + "/metrics").text
    found = dict(re.findall(r"^overstap_outbox_commit_(batch_count|batch_sum|seconds_sum) (\S+)$", text, re.MULTILINE))
    return tuple(float(found.get(k, 0)) for k in ("batch_count", "batch_sum", "seconds_sum"))  # type: ignore[return-value]


def commit_line(before: tuple[float, float, float], after: tuple[float, float, float], seconds: float) -> str:
    n, writes, spent = (a - b for a, b in zip(after, before, strict=True))
    return (f"outbox: {n / seconds:.0f} COMMITs/s, {writes / n if n else 0:.1f} writes a COMMIT (a message's rows, "
            f"a delivery's outcome, a read: one write each), {spent / n * 1000 if n else 0:.1f} ms a COMMIT")


class Bv03Protocol(asyncio.Protocol):
    """The lean downstream (``--stub raw``, the default): answers every POST with the fixed Bv03 and ``GET
    /count`` with how many POSTs it answered, on httptools' parser (keep-alive, Content-Length or chunked).

    The FastAPI stub (``--stub fastapi``) costs ~0.15 ms of CPU a message on the cores the gateway runs on;
    this one a fraction of that, so the gateway's figures are less the harness's.
    """

    posts = 0

    def __init__(self, answer: bytes) -> None:
        import httptools

        self.answer = (b"HTTP/1.1 200 OK\r\ncontent-type: text/xml\r\ncontent-length: " + str(len(answer)).encode()
                       + b"\r\n\r\n" + answer)
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        import httptools

        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            self.transport.close()

    def on_message_complete(self) -> None:
        """httptools' callback: one whole request read; answer it (the body is not needed)."""
        assert self.transport is not None
        if self.parser.get_method() == b"POST":
            Bv03Protocol.posts += 1
            self.transport.write(self.answer)
        else:
            body = b'{"n": %d}' % Bv03Protocol.posts
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                                 + str(len(body)).encode() + b"\r\n\r\n" + body)
        if not self.parser.should_keep_alive():
            self.transport.close()


def serve_bv03(port: int, answer: bytes) -> None:
    """Run the lean Bv03 downstream on ``port`` until killed (uvloop, as the other processes)."""
    import uvloop

    async def run() -> None:
        server = await asyncio.get_running_loop().create_server(lambda: Bv03Protocol(answer), "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(run())
