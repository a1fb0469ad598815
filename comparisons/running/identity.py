"""Who a visitor is, decided by the server. A browser's identity is a random id that the server mints on the page's
first load and sends in a signed (itsdangerous), HttpOnly cookie; an unsigned, forged or expired cookie is ignored,
so a value of the right shape no longer makes a new visitor. New identities are rate-limited per client address,
both the cookies minted here and the page sessions an API client opens (comparisons.serving.service.Visitor ranks a
Hugging Face login first, then this cookie, then the session).

The middleware is plain ASGI (no Gradio): `ui.launch` installs it in front of the app.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
import time
from collections import OrderedDict, deque
from pathlib import Path

from comparisons.ground.settings import settings

COOKIE = "tpr_visitor"
MAX_AGE_SECONDS = 30 * 24 * 3600
HOUR = 3600.0
_SALT = "tpr-visitor"
_SECRET: dict[str, str] = {}
_SECRET_LOCK = threading.Lock()


def secret() -> str:
    """TPR_SECRET, else a random key kept beside the runs (mode 0600), so that identities survive a restart."""
    configured = settings().secret
    if configured:
        return configured
    path = Path(settings().runs_dir) / ".visitor-secret"
    key = str(path.resolve())
    with _SECRET_LOCK:
        if key not in _SECRET:
            try:
                _SECRET[key] = path.read_text(encoding="utf-8").strip()
            except OSError:
                _SECRET[key] = ""
            if len(_SECRET[key]) < 32:
                path.parent.mkdir(parents=True, exist_ok=True)
                value = secrets.token_urlsafe(48)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(value)
                _SECRET[key] = value
        return _SECRET[key]


def _serializer():
    from itsdangerous import URLSafeTimedSerializer

    return URLSafeTimedSerializer(secret(), salt=_SALT)


def mint() -> tuple[str, str]:
    """(the cookie's signed value, the raw id it carries)."""
    raw = secrets.token_urlsafe(18)
    return _serializer().dumps(raw), raw


def verify(value: str | None) -> str | None:
    """The raw id of a cookie this server signed within MAX_AGE_SECONDS; None for anything else."""
    if not value or len(value) > 512:
        return None
    from itsdangerous import BadSignature

    try:
        raw = _serializer().loads(value, max_age=MAX_AGE_SECONDS)
    except BadSignature:  # also SignatureExpired
        return None
    return raw if isinstance(raw, str) and 16 <= len(raw) <= 64 else None


def hashed(raw: str) -> str:
    """A one-way id for records and boards: never lets anyone act as its owner."""
    return hashlib.sha256(f"tpr-visitor:{raw}".encode()).hexdigest()[:20]


# ---------------------------------------------------------------- client addresses and rate limits


def client_address(headers, host: str | None, trust_proxy: bool | None = None) -> str:
    """The client's address: the first X-Forwarded-For entry behind a trusted proxy (a Space), else the socket's."""
    trust = settings().trust_proxy if trust_proxy is None else trust_proxy
    if trust and headers is not None:
        forwarded = headers.get("x-forwarded-for") or ""
        first = forwarded.split(",")[0].strip()
        if first:
            return first[:64]
    return (host or "unknown")[:64]


class Window:
    """Events per key within a sliding window (an hour unless said), bounded in keys: a rate limiter."""

    def __init__(self, window: float = HOUR, max_keys: int = 10_000, clock=time.monotonic):
        self.window, self.max_keys, self._clock = window, max_keys, clock
        self._events: OrderedDict[str, deque] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, key: str) -> deque:
        now = self._clock()
        events = self._events.pop(key, None) or deque()
        while events and now - events[0] > self.window:
            events.popleft()
        self._events[key] = events
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)
        return events

    def allow(self, key: str, limit: int) -> bool:
        """Count one event for `key` if fewer than `limit` happened within the window; False (not counted) else."""
        with self._lock:
            events = self._recent(key)
            if limit > 0 and len(events) >= limit:
                return False
            events.append(self._clock())
            return True

    def count(self, key: str) -> int:
        with self._lock:
            return len(self._recent(key))


class Ledger:
    """The identities each client address started within the last hour: a new one beyond the limit is refused
    (cookies minted here, and API sessions, which a client names itself)."""

    def __init__(self, window: float = HOUR, max_keys: int = 10_000, clock=time.monotonic):
        self.window, self.max_keys, self._clock = window, max_keys, clock
        self._seen: OrderedDict[str, OrderedDict] = OrderedDict()  # address -> {identity: first seen}
        self._lock = threading.Lock()

    def admit(self, address: str, identity: str, limit: int) -> bool:
        with self._lock:
            now = self._clock()
            seen = self._seen.pop(address, None) or OrderedDict()
            for old in [k for k, t in seen.items() if now - t > self.window]:
                del seen[old]
            self._seen[address] = seen
            while len(self._seen) > self.max_keys:
                self._seen.popitem(last=False)
            if identity in seen:
                return True
            if limit > 0 and len(seen) >= limit:
                return False
            seen[identity] = now
            return True


MINTED = Window()  # cookies minted per address
IDENTITIES = Ledger()  # identities (cookie or session) first seen per address


# ---------------------------------------------------------------- the middleware


def _cookie_header(value: str, https: bool) -> bytes:
    flags = "; Secure; SameSite=None; Partitioned" if https else "; SameSite=Lax"
    return f"{COOKIE}={value}; Path=/; Max-Age={MAX_AGE_SECONDS}; HttpOnly{flags}".encode("latin-1")


def _cookies(scope) -> dict[str, str]:
    out = {}
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k:
                    out[k] = v
    return out


class VisitorCookies:
    """ASGI middleware: a page load (GET of an HTML page) without a valid visitor cookie gets one, minted and signed
    here, unless its address has minted TPR_NEW_VISITORS_PER_HOUR already (it then stays a page-session visitor)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http" or scope.get("method") != "GET" or not self._is_page(scope):
            return await self.app(scope, receive, send)
        if verify(_cookies(scope).get(COOKIE)) is not None:
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        address = client_address(headers, (scope.get("client") or ("unknown",))[0])
        if not MINTED.allow(address, int(settings().new_visitors_per_hour)):
            return await self.app(scope, receive, send)
        value, _ = mint()
        trust = settings().trust_proxy
        https = scope.get("scheme") == "https" or (trust and headers.get("x-forwarded-proto", "") == "https")

        async def send_with_cookie(message):
            if message.get("type") == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"set-cookie", _cookie_header(value, https))]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    @staticmethod
    def _is_page(scope) -> bool:
        path = scope.get("path", "")
        if "/gradio_api/" in path or "/assets/" in path or "/file=" in path or "." in path.rsplit("/", 1)[-1]:
            return False
        accept = next((v for k, v in scope.get("headers", []) if k == b"accept"), b"").decode("latin-1")
        return "text/html" in accept
