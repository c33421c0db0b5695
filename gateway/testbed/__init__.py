"""A StUF-ZKN test zaaksysteem over HTTP, built on the reference receiver: ``overstap testbed`` (issue 17).

It is what ``make run`` delivers to, and what a vendor points its own system at: it applies each zakLk01
with the receiver's rules, answers Bv03 or a Fo03 naming the rule, and shows the zaken it holds.
"""

from .app import create_app
from .journal import Journal

__all__ = ["Journal", "create_app"]
