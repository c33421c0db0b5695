"""Shared by the console tests: a gateway with the console on, two accounts, the A/B sample chains posted."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
from proxy_helpers import Receiver, ServerThread, Start, sample, soap11, wait_for

from gateway.console.settings import hash_password

CHAINS = ("CasusA-01-WMO315_verzoek.xml", "CasusA-02-WMO301_toewijzing.xml", "CasusA-04-WMO301_intrekking.xml",
          "CasusB-01-WMO301_toewijzing.xml", "CasusB-02-WMO305_start.xml", "CasusB-04-WMO307_stop.xml")
BSN = "123456782"
"""The client of every public sample: it must never appear in full outside a payload view."""
ADMIN_KEY = "console-admin-key"
USERS = {"vera": ("kijken-mag", "viewer"), "otto": ("herstellen-mag", "operator")}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def console_config() -> dict[str, object]:
    """Cheap hashes (1000 rounds) keep the tests fast; production hashes use the default 200,000."""
    return {"enabled": True, "secret": "test-secret",
            "users": {n: {"password": hash_password(p, iterations=1000), "role": r} for n, (p, r) in USERS.items()}}


@dataclass
class Running:
    gateway: ServerThread
    downstream: ServerThread
    receiver: Receiver

    @property
    def console(self) -> str:
        return self.gateway.url + "/console"


def start_with_chains(start: Start, receiver: Receiver, downstream: ServerThread) -> Running:
    """A gateway (profile zkn v2, ledger on) whose downstream answers as ``receiver`` says; A and B posted."""
    server, _gw = start({"default": {"downstream": downstream.url + "/zs"}}, {}, admin_key=ADMIN_KEY,
                        console=console_config())
    for name in CHAINS:
        r = httpx.post(server.url + "/soap", content=soap11(sample(name)),
                       headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=30)
        assert r.status_code == 200, r.text
    return Running(server, downstream, receiver)


@contextmanager
def failing_chains(start: Start) -> Iterator[Running]:
    """The chains posted while the downstream refuses everything with a Fo03: every delivery a dead letter."""
    rec = Receiver(behaviour="fo")
    with ServerThread(rec.app()) as ds:
        running = start_with_chains(start, rec, ds)
        wait_settled(running)
        yield running


def settled(running: Running) -> bool:
    """True when no delivery is pending any more (all delivered or dead)."""
    r = httpx.get(running.gateway.url + "/admin/outbox", headers={"X-Admin-Key": ADMIN_KEY}, timeout=10)
    return not any(d["status"] == "pending" and d["count"] for d in r.json()["deliveries"])


def wait_settled(running: Running) -> None:
    assert wait_for(lambda: settled(running), timeout=60)


def login(base: str, user: str, password: str | None = None) -> httpx.Client:
    """A client with a session cookie for ``user`` (the login form, CSRF token and all)."""
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    page = client.get("/console/login")
    token = CSRF.search(page.text)
    assert token, page.text
    secret = password if password is not None else USERS[user][0]
    r = client.post("/console/login", data={"csrf": token.group(1), "user": user, "password": secret})
    assert r.status_code == 303, r.text
    return client


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, html
    return found.group(1)
