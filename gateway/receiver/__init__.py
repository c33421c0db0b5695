"""Reference receiver: a model StUF-ZKN 3.10 zaaksysteem that applies zakLk01 and refuses what StUF forbids.

Product code: the tests use it to prove the canonical profile can be applied, and the vendor testbed
(issue 17) serves it over SOAP. Imports only ingest (safe parsing) and reference (official schemas).
"""

from .message import OPERATIONS, Refusal, Zender
from .receiver import Answer, Receiver

__all__ = ["OPERATIONS", "Answer", "Receiver", "Refusal", "Zender"]
