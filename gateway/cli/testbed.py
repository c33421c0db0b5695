"""``overstap testbed``: run the test zaaksysteem that applies canonical zakLk01 with the receiver's rules."""

from __future__ import annotations

import logging

import click

from . import main


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=8081, show_default=True)  # else modulo 65536
@click.option("--data-dir", default="data/testbed", show_default=True, envvar="OVERSTAP_TESTBED_DIR",
              help="Folder of the testbed's journal; the zaken it held come back after a restart.")
@click.option("--no-validate", is_flag=True, help="Do not check messages against the StUF-ZKN 3.10 schema.")
@click.option("--header-timeout", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True,
              help="Seconds a client may take to send its request headers.")
@click.option("--body-timeout", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True,
              help="Seconds a client may take to send its request body (then 408, Fo03 StUF058).")
@click.option("--min-body-rate", type=click.IntRange(min=0), default=8 * 1024, show_default=True,
              help="Bytes a second a body must arrive at, judged over 5 s windows (0: not judged).")
@click.option("--max-body-buffer", type=click.IntRange(min=10 * 1024 * 1024), default=64 * 1024 * 1024,
              show_default=True, help="Bytes of request bodies held at once; beyond it 503, Fo03 StUF046.")
@click.option("--max-connections", type=click.IntRange(min=8), default=256, show_default=True,
              help="Open connections at most; beyond it the oldest idle one is closed.")
@click.option("--accept-replay-differences", is_flag=True,
              help="Start even when messages the journal holds as accepted are refused on the replay (they are "
                   "logged by journal row and referentienummer); without it the testbed does not start.")
def testbed(host: str, port: int, data_dir: str, no_validate: bool, header_timeout: float, body_timeout: float,
            min_body_rate: int, max_body_buffer: int, max_connections: int, accept_replay_differences: bool) -> None:
    """A StUF-ZKN test zaaksysteem: POST zakLk01 to /soap, see the zaken at /zaken (HTML) and /api/zaken (JSON).

    It applies creeerZaak, updateZaak and actualiseerZaakstatus as docs/reference-receiver.md describes and
    answers Bv03, or a Fo03 in a SOAP Fault naming the StUF rule and element it refused the message by.

    A request is read within the sidecar's limits (docs/testbed.md): headers within --header-timeout, a body within
    --body-timeout and at --min-body-rate, all bodies together within --max-body-buffer, so stalled uploads cannot
    hold the testbed's memory or every connection.
    """
    import uvicorn

    from gateway.receiver import Receiver
    from gateway.testbed import Journal, create_app
    from gateway.testbed.ggk import GgkIntake
    from gateway.testbed.limits import Limits, guarded_config, http_limits

    receiver = Receiver(validate=not no_validate)
    ggk = GgkIntake(validate=not no_validate)
    journal = Journal(data_dir)
    restored = journal.replay(receiver, ggk, accept_differences=accept_replay_differences)
    log = logging.getLogger("overstap.testbed")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("testbed on http://%s:%d/soap: %d zaak(en) from %d message(s) in %s", host, port, len(receiver),
             restored, journal.path)
    try:
        limits = Limits(body_timeout=body_timeout, max_body_buffer_bytes=max_body_buffer)
        http = http_limits(limits, header_timeout, min_body_rate, max_connections)
        uvicorn.Server(guarded_config(create_app(receiver, journal, ggk, limits), host, port, http)).run()
    finally:
        journal.close()
