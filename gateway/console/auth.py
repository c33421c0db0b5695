"""Who is looking: signed session cookies, the CSRF token bound to a session, and the role check.

The cookie holds only the account name, its role, an expiry and a random nonce (no personal data), signed
with HMAC-SHA256; it is HttpOnly and SameSite=Strict. The CSRF token every form carries is an HMAC of the
nonce, so it cannot be guessed without the secret and needs no server-side store. Before login a short-lived
``pre`` cookie plays the nonce's part, so the login form is protected the same way.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from hashlib import sha256

from .settings import ConsoleSettings, verify_password

COOKIE = "overstap_console"
PRE_COOKIE = "overstap_console_pre"
ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    role: str
    expires: float
    nonce: str

    @property
    def operator(self) -> bool:
        return self.role == "operator"


class Signer:
    """Signs and checks cookie values and CSRF tokens with one secret."""

    def __init__(self, secret: str) -> None:
        self.key = (secret or secrets.token_hex(32)).encode()

    def _mac(self, data: bytes) -> str:
        return hmac.new(self.key, data, sha256).hexdigest()

    def dump(self, session: Session) -> str:
        body = base64.urlsafe_b64encode(json.dumps([session.user, session.role, session.expires, session.nonce])
                                        .encode()).decode()
        return f"{body}.{self._mac(body.encode())}"

    def load(self, value: str | None, now: float | None = None) -> Session | None:
        if not value or "." not in value:
            return None
        body, mac = value.rsplit(".", 1)
        if not hmac.compare_digest(mac.encode(), self._mac(body.encode()).encode()):  # bytes: str must be ASCII
            return None
        try:
            user, role, expires, nonce = json.loads(base64.urlsafe_b64decode(body.encode()))
        except (ValueError, TypeError):
            return None
        if float(expires) < (time.time() if now is None else now):
            return None
        return Session(str(user), str(role), float(expires), str(nonce))

    def csrf(self, nonce: str) -> str:
        return self._mac(b"csrf|" + nonce.encode())

    def csrf_ok(self, nonce: str | None, offered: str | None) -> bool:
        """Compared as bytes: ``compare_digest`` raises on a str that is not ASCII, and both come from the client."""
        return bool(nonce) and bool(offered) and hmac.compare_digest(self.csrf(nonce or "").encode(),
                                                                     (offered or "").encode())

    def fingerprint(self, user: str, role: str, credential: str) -> str:
        """A keyed hash of an account as it logged in (name, role, password hash or admin key), kept with its
        session so a changed account ends it; keyed, so the stored value gives away nothing of the admin key."""
        return self._mac(b"account|" + json.dumps([user, role, credential]).encode())


def new_session(user: str, role: str, minutes: int) -> Session:
    return Session(user, role, time.time() + minutes * 60, secrets.token_urlsafe(16))


def account(settings: ConsoleSettings, admin_key: str | None, user: str) -> tuple[str, str] | None:
    """(role, credential) of the account ``user`` names under these settings: ``admin`` with the admin key while
    one is set, else a configured user with its password hash; None when there is no such account."""
    if user == ADMIN and admin_key:
        return settings.admin_role, admin_key
    found = settings.users.get(user)
    return (found.role, found.password) if found is not None else None


def account_fingerprint(signer: Signer, settings: ConsoleSettings, admin_key: str | None, user: str,
                        role: str) -> str | None:
    """The fingerprint of ``user`` as these settings have it, None when the account is gone or has another role."""
    found = account(settings, admin_key, user)
    if found is None or found[0] != role:
        return None
    return signer.fingerprint(user, role, found[1])


def check_login(settings: ConsoleSettings, admin_key: str | None, user: str, password: str) -> Session | None:
    """A session for a configured user with the right password, or for ``admin`` with the admin key."""
    found = account(settings, admin_key, user)
    if found is None:
        verify_password("pbkdf2_sha256$200000$x$00", password)  # same work for an unknown name: no user probing
        return None
    role, credential = found
    if user == ADMIN and admin_key:
        ok = hmac.compare_digest(password.encode(), credential.encode())
    else:
        ok = verify_password(credential, password)
    return new_session(user, role, settings.session_minutes) if ok else None
