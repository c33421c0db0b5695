"""The canonical profiles a route renders: StUF-ZKN zakLk01 (``zkn``) or the StUF-GGk envelope (``ggk``).

Here, not in gateway/pipeline.py, so a command that only names them (``overstap outbox``'s ``--profile``) need not
import the pipeline and the renderers (~0.4 s of CPU a run).
"""

PROFILES = ("zkn", "ggk")
