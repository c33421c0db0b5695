"""A flood of logins cannot hold up the sidecar's own work (red-team review of the HTTP surface, session 24).

Why: each login is PBKDF2, CPU on purpose, and anyone who reaches the login page may ask for one. The checks ran on
the event loop's shared thread pool, where ``/readyz`` checks the downstreams and a SOAP message's header blocks are
read: with 300 connections posting wrong passwords, ``/readyz`` took 34–49 s (an orchestrator takes the sidecar out
of service) and a SOAP message with a header block 33–43 s (its sender times out and sends again). Now the checks
run on a thread of their own, a few at a time, and a login beyond them is answered 503 at once, unchecked.
The checks are held while ``/readyz`` is asked, so it is shown not to wait for them on a host of any speed (a bound of
1 s on its answer beside real PBKDF2 checks failed under CPU load with the checks on their own thread).
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from console_helpers import CSRF, login
from proxy_helpers import Receiver, ServerThread, Start, wait_for

from gateway.console.auth import check_login
from gateway.console.logins import WAITING
from gateway.console.pages import signin
from gateway.console.settings import hash_password

LOGINS = 40
ROUNDS = 400_000
"""Twice the default: each check holds a core for a good part of a second on the test machine."""


def test_readiness_answers_at_once_while_logins_flood_and_the_excess_is_told_to_retry(
        start: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = Receiver()
    with ServerThread(rec.app()) as ds:
        server, _ = start({"default": {"downstream": "zs"}}, {"zs": ds.url + "/zs"}, console={
            "enabled": True, "secret": "test-secret", "secure_cookies": "never",
            "users": {"anna": {"password": hash_password("juist-wachtwoord", iterations=ROUNDS), "role": "viewer"}}})
        first = httpx.Client(base_url=server.url, timeout=120)
        token = CSRF.search(first.get("/console/login").text)
        assert token is not None
        answers: list[httpx.Response] = []
        lock = threading.Lock()
        checking, go = threading.Event(), threading.Event()

        def held(*args: Any) -> Any:  # a check in progress until the test has asked /readyz
            checking.set()
            go.wait(60)
            return check_login(*args)

        monkeypatch.setattr(signin, "check_login", held)

        def guess(n: int) -> None:
            r = httpx.post(server.url + "/console/login", cookies=first.cookies, timeout=120,
                           data={"csrf": token.group(1), "user": "anna", "password": f"gok-{n}"})
            with lock:
                answers.append(r)

        threads = [threading.Thread(target=guess, args=(n,)) for n in range(LOGINS)]
        for thread in threads:
            thread.start()
        try:  # the first checks are held (running or queued), the rest told to retry, as many as the fix lets
            assert wait_for(lambda: checking.is_set() and len(answers) >= LOGINS - WAITING, timeout=60), \
                f"{len(answers)} of {LOGINS} logins answered while the checks were held: the excess was not refused"
            ready = httpx.get(server.url + "/readyz", timeout=30)
            assert ready.status_code == 200 and checking.is_set() and not go.is_set(), "/readyz waited for logins"
        finally:
            go.set()
        for thread in threads:
            thread.join(120)
        statuses = sorted(r.status_code for r in answers)
        busy = [r for r in answers if r.status_code == 503]
        assert len(answers) == LOGINS and set(statuses) == {401, 503}
        assert len(busy) >= LOGINS - 3 * WAITING, statuses  # a few may come after the first ones were checked
        assert all(r.headers["Retry-After"] == "5" and "too many logins at once: try again in a few seconds"
                   in r.text for r in busy)
        assert login(server.url, "anna", "juist-wachtwoord").get("/console/messages").status_code == 200
