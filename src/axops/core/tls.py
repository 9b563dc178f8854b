"""HTTPS for `axops up`: the certificate and key are checked before the server starts (a wrong path
or a key that doesn't match the certificate is a one-line error, not a traceback from a worker), and
the context uvicorn builds refuses anything older than TLS 1.2."""

from __future__ import annotations

import ssl
from pathlib import Path

# Forward-secret AEAD suites for TLS 1.2 (TLS 1.3's suites are OpenSSL's fixed, all-good set).
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS:!SHA1"


class TlsError(ValueError):
    pass


def harden(context: ssl.SSLContext) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    return context


def context_factory(config, default_factory) -> ssl.SSLContext:
    """uvicorn's `ssl_context_factory` (module level: worker processes unpickle it)."""
    return harden(default_factory())


def check(cert: Path | None, key: Path | None) -> None:
    """Raise TlsError with a message fit for one line when the pair can't serve HTTPS."""
    if (cert is None) != (key is None):
        raise TlsError("give both a TLS certificate and its key (--tls-cert and --tls-key), or neither")
    if cert is None or key is None:
        return
    for what, path in (("certificate", cert), ("key", key)):
        if not path.is_file():
            raise TlsError(f"TLS {what} file not found: {path}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key, password=lambda: b"")  # an encrypted key fails, never prompts
    except ssl.SSLError as exc:
        reason = "not a PEM certificate and unencrypted private key" if exc.reason in (None, "PEM lib") else exc.reason
        if "KEY_VALUES_MISMATCH" in str(exc) or "key values mismatch" in str(exc):
            raise TlsError(f"the TLS key {key} does not match the certificate {cert}") from None
        raise TlsError(f"cannot use TLS certificate {cert} with key {key}: {reason}") from None
    except (OSError, ValueError) as exc:
        raise TlsError(f"cannot read TLS certificate {cert} or key {key}: {exc.__class__.__name__}") from None
