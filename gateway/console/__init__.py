"""The operator console (issue 15): server-rendered pages over the outbox and the zaak ledger, mounted by
``overstap serve`` under ``/console`` when the config turns it on. A shell beside ``gateway/proxy``: it reads
the same SQLite file and replays through the gateway's own replay path, handed in by the proxy."""
