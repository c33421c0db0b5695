"""Where and how patiently to deliver: a downstream's address, limits and retry policy.

Plain data, kept apart from the forwarder so configuration can be read without loading the HTTP client.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter and a bound on attempts."""

    max_attempts: int = 12
    base_delay: float = 1.0
    max_delay: float = 300.0
    jitter: float = 0.5
    """Fraction of each delay that is randomised away, so retries of many messages spread out."""

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        raw = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return raw * (1.0 - self.jitter * (rng or random).random())


@dataclass(frozen=True, slots=True)
class Downstream:
    """Where one target's messages go, and how patiently."""

    name: str
    url: str
    timeout: float = 30.0
    connect_timeout: float = 5.0
    concurrency: int = 8
    expect_bv: bool = True
    """A 2xx without a StUF Bv counts as refused (a StUF receiver always answers Bv03 or Fo03)."""
    headers: dict[str, str] = field(default_factory=dict)
    verify: bool | str = True
    client_cert: str | None = None
    client_key: str | None = None
    soap_action: str | None = None
    """Send this SOAPAction instead of the message's own (``<namespace>/<element>``, or the sender's)."""
    soap_actions: str | dict[str, str] = "zds"
    """How a delivery's own SOAPAction is sent: ``zds`` as stored (ZDS: one per operation), ``none``: no
    SOAPAction header, or ``{operation: action}`` (``creeerZaak``, ``updateZaak``, ``actualiseerZaakstatus``)
    for a receiver that routes on its own names (unlisted operations keep theirs)."""
    circuit_threshold: int = 5
    retry: RetryPolicy = RetryPolicy()
    order: str = "zaak"
    """``zaak``: deliveries about one zaak go in the order they were made, and a retry holds back only its zaak;
    ``created``: all of a route's deliveries to this downstream go one at a time in the order they were made, a
    retry holding back every later one: for a zaaksysteem that refuses a tijdstipBericht not after the zender's
    last (StUF 03.01 StUF019), which a later message overtaking a retried one would otherwise meet."""


ORDERS = ("zaak", "created")


def operation_of(action: str | None) -> str:
    """The ZDS operation a stored SOAPAction names: ``.../updateZaak_Lk01`` -> ``updateZaak``."""
    return (action or "").rstrip("/").rpartition("/")[2].removesuffix("_Lk01")


def action_for(downstream: Downstream, stored: str | None) -> str | None:
    """The SOAPAction to send a delivery with, after the downstream's ``soap_action``/``soap_actions``."""
    if downstream.soap_action:
        return downstream.soap_action
    if downstream.soap_actions == "none":
        return None
    if isinstance(downstream.soap_actions, dict):
        return downstream.soap_actions.get(operation_of(stored), stored)
    return stored
