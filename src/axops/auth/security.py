"""Password hashing (Argon2id), access JWTs, and opaque secrets (refresh tokens, API keys)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile
# Verified against when the user does not exist, so both paths cost the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

API_KEY_PREFIX = "axk_"
JWT_ALGORITHM = "HS256"
JWT_ISSUER = "axops"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _refresh_mac(secret: str, nonce: str) -> str:
    mac = hmac.new(hashlib.sha256(b"axops-refresh:" + secret.encode()).digest(), nonce.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:18]).decode()


def new_refresh_token(secret: str) -> str:
    """A random token MACed with the server's key: rotating the key ends every session's refresh."""
    nonce = secrets.token_urlsafe(32)
    return f"{nonce}.{_refresh_mac(secret, nonce)}"


def refresh_token_signed(secret: str, token: str) -> bool:
    nonce, _, mac = token.rpartition(".")
    return bool(nonce) and hmac.compare_digest(mac, _refresh_mac(secret, nonce))


def new_api_key() -> tuple[str, str]:
    """Returns (full secret, visible prefix). Only the SHA-256 of the secret is stored."""
    prefix = API_KEY_PREFIX + secrets.token_hex(4)
    return f"{prefix}_{secrets.token_urlsafe(32)}", prefix


def issue_access_token(secret: str, user_id: uuid.UUID, session_id: uuid.UUID, ttl_seconds: int) -> str:
    now = datetime.now(UTC)
    claims = {
        "iss": JWT_ISSUER,
        "sub": str(user_id),
        "sid": str(session_id),
        "typ": "access",
        "iat": now,
        "exp": now + timedelta(seconds=ttl_seconds),
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def decode_access_token(secret: str, token: str) -> dict | None:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[JWT_ALGORITHM], issuer=JWT_ISSUER, options={"require": ["exp", "sub", "sid"]}
        )
    except jwt.PyJWTError:
        return None
    return claims if claims.get("typ") == "access" else None
