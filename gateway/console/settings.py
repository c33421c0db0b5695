"""The ``console:`` block of the serve config: who may log in, with which role, and where views are audited.

Kept apart from the proxy's config module so the proxy only has to hand over the parsed block; a mistake
here stops the start with a :class:`ValueError` naming the key, like every other config error.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROLES = ("viewer", "operator")
"""``viewer`` may look (lists, health, payloads on the message page); ``operator`` may also replay."""
PBKDF2_ITERATIONS = 200_000
ITERATIONS_RANGE = (1, 10_000_000)
"""A stored hash's iterations: more make each login (and each unknown-name attempt, which does the same work) hold
a thread for many seconds; `python -m gateway.console.settings` writes 200,000 (tests use fewer, for speed)."""
_HASH = re.compile(r"pbkdf2_sha256\$([0-9]{1,9})\$([!-#%-~]{1,128})\$([0-9a-f]{64})")
"""What :func:`hash_password` writes: ASCII iterations, a salt without ``$`` or spaces, a SHA-256 hex digest."""
SECURE_COOKIES = ("auto", "always", "never")
"""When the console's cookies get ``Secure``: ``auto`` unless a request comes in plain http from 127.0.0.1 or ::1."""


AUDIT_FILE = "console-audit.jsonl"
"""The audit log's file in data_dir unless ``audit_log`` names another (on a PostgreSQL store: before 0010)."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    password: str
    """``pbkdf2_sha256$iterations$salt$hexdigest`` (see :func:`hash_password`); never the password itself."""


@dataclass(slots=True)
class ConsoleSettings:
    enabled: bool = False
    users: dict[str, User] = field(default_factory=dict)
    secret: str = ""
    """Signs session cookies; empty: a random one per start (everyone logs in again after a restart)."""
    session_minutes: int = 480
    audit_log: str = AUDIT_FILE
    """Relative to ``data_dir``: one JSON line per view of personal data (user, time, message id; never data)."""
    page_size: int = 50
    admin_role: str = "operator"
    """The role of someone who logs in with the sidecar's admin key (user name ``admin``)."""
    secure_cookies: str = "auto"
    """One of :data:`SECURE_COOKIES`; ``auto`` because the scheme alone misleads behind a TLS proxy on another
    host (uvicorn trusts ``X-Forwarded-Proto`` from 127.0.0.1 only), and ``make run`` on http://127.0.0.1 must work."""

    def audit_path(self, data_dir: Path) -> Path:
        """The audit file: ``audit_log`` in ``data_dir`` (an absolute name as it is). One function for the console,
        which writes it (on a PostgreSQL store: wrote it, before 0010), and ``import-audit``, which reads it."""
        return data_dir / self.audit_log


KEYS = {"enabled", "users", "secret", "session_minutes", "audit_log", "page_size", "admin_role", "secure_cookies"}


def hash_password(password: str, salt: str | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """The stored form of a password: PBKDF2-SHA256 from the standard library, so no new dependency."""
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations).hex()
    return f"pbkdf2_sha256${iterations}${salt}${digest}"


def verify_password(stored: str, offered: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$", 3)
    except ValueError:
        return False
    if scheme != "pbkdf2_sha256":
        return False
    again = hashlib.pbkdf2_hmac("sha256", offered.encode(), salt.encode(), int(iterations)).hex()
    return hmac.compare_digest(again, digest)


def parse(doc: Any) -> ConsoleSettings:
    """The settings from the YAML block (None or absent: the console is off)."""
    if doc is None:
        return ConsoleSettings()
    if not isinstance(doc, dict):
        raise ValueError("console: expected a mapping")
    unknown = set(doc) - KEYS
    if unknown:
        raise ValueError(f"console: unknown key(s) {', '.join(sorted(unknown))} (known: {', '.join(sorted(KEYS))})")
    out = ConsoleSettings(enabled=bool(doc.get("enabled", False)), secret=str(doc.get("secret") or ""),
                          session_minutes=int(doc.get("session_minutes", 480)),
                          audit_log=str(doc.get("audit_log", AUDIT_FILE)),
                          page_size=max(1, min(500, int(doc.get("page_size", 50)))),
                          admin_role=str(doc.get("admin_role", "operator")),
                          secure_cookies=str(doc.get("secure_cookies", "auto")))
    if out.admin_role not in ROLES:
        raise ValueError(f"console.admin_role: {out.admin_role!r} is not one of {', '.join(ROLES)}")
    if out.secure_cookies not in SECURE_COOKIES:
        raise ValueError(f"console.secure_cookies: {out.secure_cookies!r} is not one of {', '.join(SECURE_COOKIES)}")
    users = doc.get("users") or {}
    if not isinstance(users, dict):
        raise ValueError("console.users: expected a mapping of user name to {password, role}")
    for name, entry in users.items():
        if not isinstance(entry, dict) or not entry.get("password") or entry.get("role") not in ROLES:
            raise ValueError(f"console.users.{name}: needs password (a hash from `python -m gateway.console."
                             f"settings`) and role ({' or '.join(ROLES)})")
        if not str(entry["password"]).startswith("pbkdf2_sha256$"):
            raise ValueError(f"console.users.{name}.password: expected a pbkdf2_sha256$... hash, not a password")
        shape = _HASH.fullmatch(str(entry["password"]))
        low, high = ITERATIONS_RANGE
        if shape is None or not low <= int(shape.group(1)) <= high:
            raise ValueError(f"console.users.{name}.password: expected pbkdf2_sha256$<iterations {low:,} to "
                             f"{high:,}>$<salt>$<64 hex digits>, as `python -m gateway.console.settings` prints it")
        out.users[str(name)] = User(str(name), str(entry["role"]), str(entry["password"]))
    return out


if __name__ == "__main__":  # prints the hash to put in console.users.<name>.password
    import getpass

    print(hash_password(getpass.getpass("console password: ")))
