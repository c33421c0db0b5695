"""One exchange with a downstream: the POST, its answer read up to ``MAX_REPLY_BYTES`` and classified.

Apart from the forwarder (gateway/deliver/forwarder.py), which decides when a delivery is tried and what its outcome
does: this is how one attempt goes over the wire, on a worker's own connection (gateway/deliver/wire.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from .downstream import Downstream
from .lanes import Client
from .outcome import Outcome, classify
from .replies import MAX_REPLY_BYTES
from .wire import Direct, Reply


async def _read_capped(chunks: AsyncIterator[bytes]) -> tuple[bytes, bool]:
    """The answer's bytes up to ``MAX_REPLY_BYTES``, and whether it was cut off there."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > MAX_REPLY_BYTES:
            del body[MAX_REPLY_BYTES:]
            return bytes(body), True
    return bytes(body), False


async def exchange(client: Client, downstream: Downstream, payload: bytes,
                   headers: dict[str, str | bytes]) -> Outcome:
    """POST and read the answer up to ``MAX_REPLY_BYTES``: a huge reply is cut off, not held in memory."""
    if isinstance(client, Direct):
        answer = await client.exchange(payload, headers, MAX_REPLY_BYTES)
        body, cut = answer.body, answer.cut
        reply = Reply(answer.status, answer.headers)
        outcome = classify(reply.status_code, body, reply.header("content-type"), downstream.expect_bv,
                           reply.header("retry-after"))
    else:
        async with client.stream("POST", downstream.url, content=payload, headers=headers) as response:
            body, cut = await _read_capped(response.aiter_raw())
            outcome = classify(response.status_code, body, response.headers.get("content-type"),
                               downstream.expect_bv, response.headers.get("retry-after"))
    if cut:
        outcome.reason = (outcome.reason + "; " if outcome.reason else "") + \
            f"reply cut off after {MAX_REPLY_BYTES} bytes"
    return outcome
