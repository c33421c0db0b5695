"""Overstap: a migration gateway from iWmo/iJw vendor dialects to canonical StUF messages.

Flow (imports point down only): ingest -> mapping -> model -> render -> deliver, with the
FastAPI proxy and the click CLI as thin shells on top.
"""

__version__ = "0.1.0"
