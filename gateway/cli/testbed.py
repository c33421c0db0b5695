"""``overstap testbed``: run the test zaaksysteem that applies canonical zakLk01 with the receiver's rules."""

from __future__ import annotations

import logging

import click

from . import main


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8081, show_default=True)
@click.option("--data-dir", default="data/testbed", show_default=True, envvar="OVERSTAP_TESTBED_DIR",
              help="Folder of the testbed's journal; the zaken it held come back after a restart.")
@click.option("--no-validate", is_flag=True, help="Do not check messages against the StUF-ZKN 3.10 schema.")
def testbed(host: str, port: int, data_dir: str, no_validate: bool) -> None:
    """A StUF-ZKN test zaaksysteem: POST zakLk01 to /soap, see the zaken at /zaken (HTML) and /api/zaken (JSON).

    It applies creeerZaak, updateZaak and actualiseerZaakstatus as docs/reference-receiver.md describes and
    answers Bv03, or a Fo03 in a SOAP Fault naming the StUF rule and element it refused the message by.
    """
    import uvicorn

    from gateway.receiver import Receiver
    from gateway.testbed import Journal, create_app
    from gateway.testbed.ggk import GgkIntake

    receiver = Receiver(validate=not no_validate)
    ggk = GgkIntake(validate=not no_validate)
    journal = Journal(data_dir)
    restored = journal.replay(receiver, ggk)
    log = logging.getLogger("overstap.testbed")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info("testbed on http://%s:%d/soap: %d zaak(en) from %d message(s) in %s", host, port, len(receiver),
             restored, journal.path)
    try:
        uvicorn.Server(uvicorn.Config(create_app(receiver, journal, ggk), host=host, port=port, log_level="warning",
                                      loop="uvloop", http="httptools")).run()
    finally:
        journal.close()
