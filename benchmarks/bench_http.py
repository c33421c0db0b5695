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
