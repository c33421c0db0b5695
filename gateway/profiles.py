"""The canonical profiles a route renders: StUF-ZKN zakLk01 (``zkn``) or the StUF-GGk envelope (``ggk``).

Here, not in gateway/pipeline.py, so a command that only names them (``overstap outbox``'s ``--profile``) need not
import the pipeline and the renderers (~0.4 s of CPU a run); so are the GGk envelope's names, which a replay reads a
stored envelope by (gateway/deliver/restamp.py: ``overstap outbox replay`` of a dead letter renders nothing).
"""

PROFILES = ("zkn", "ggk")
GGK_NS = "http://www.stufstandaarden.nl/sectormodel/ggk/0210"
STUF_NS = "http://www.egem.nl/StUF/StUF0301"
DI01 = "envelopHeenbericht-ggk_Di01"
DU01 = "envelopRetourbericht-ggk_Du01"
