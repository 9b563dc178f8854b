"""Secrets at rest (gateway provider keys, deployments' runtime keys): Fernet (AES-128-CBC + HMAC)
under a key derived from the server's secret. Decrypted only in memory, where they are used."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


def _fernet(secret: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(b"axops-provider-credentials:" + secret.encode()).digest()))


def encrypt(secret: str, value: str) -> str:
    return _fernet(secret).encrypt(value.encode()).decode()


def decrypt(secret: str, token: str) -> str | None:
    """None when the token was made under another key (the secret changed): the provider needs its key again."""
    try:
        return _fernet(secret).decrypt(token.encode()).decode()
    except InvalidToken:
        return None
