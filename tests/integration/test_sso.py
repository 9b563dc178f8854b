"""Single sign-on against a real OpenID Connect provider the test starts: discovery, authorize (auto-consent),
token (PKCE checked, RS256 ID token), JWKS. The browser is httpx, following the redirects by hand."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from axops.auth import sso
from tests.factories import PASSWORD, free_port, make_team, make_user
from tests.live import LiveServer

CLIENT_ID = "axops-test"
CLIENT_SECRET = "idp-client-secret"


class Provider:
    """A small, strict IdP. `user` is who "logs in" next; `tamper` forges the next ID token."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "good"})
        self.evil = RSAKey.generate_key(2048, parameters={"kid": "good"})  # same kid, other key
        self.codes: dict[str, dict] = {}
        self.user: dict = {}
        self.tamper: str | None = None
        self.url = ""
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/authorize", self.authorize),
                Route("/token", self.token, methods=["POST"]),
                Route("/jwks", self.jwks),
            ]
        )

    async def discovery(self, request: Request):
        return JSONResponse(
            {
                "issuer": self.url,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }
        )

    async def authorize(self, request: Request):
        q = request.query_params
        assert q["client_id"] == CLIENT_ID and q["response_type"] == "code"
        assert q["code_challenge_method"] == "S256" and "openid" in q["scope"].split()
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": q["nonce"], "challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"]}
        return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

    async def token(self, request: Request):
        form = await request.form()
        auth = request.headers.get("authorization", "")
        sent = base64.b64decode(auth.removeprefix("Basic ")).decode() if auth.startswith("Basic ") else ""
        if sent != f"{CLIENT_ID}:{CLIENT_SECRET}" and form.get("client_secret") != CLIENT_SECRET:
            return JSONResponse({"error": "invalid_client"}, 401)
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return JSONResponse({"error": "invalid_grant"}, 400)
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if digest != grant["challenge"]:
            return JSONResponse({"error": "invalid_grant", "error_description": "PKCE"}, 400)
        now = int(time.time())
        claims = {
            "iss": self.url,
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": grant["nonce"],
            **self.user,
        }
        key = self.key
        if self.tamper == "wrong_key":
            key = self.evil
        elif self.tamper == "wrong_aud":
            claims["aud"] = "someone-else"
        elif self.tamper == "expired":
            claims["iat"], claims["exp"] = now - 900, now - 600
        elif self.tamper == "nonce":
            claims["nonce"] = "another-nonce"
        elif self.tamper == "wrong_iss":
            claims["iss"] = "https://evil.example"
        id_token = jwt.encode({"alg": "RS256", "kid": "good"}, claims, key)
        return JSONResponse({"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": id_token})

    async def jwks(self, request: Request):
        return JSONResponse(KeySet([self.key]).as_dict(private=False))


@pytest.fixture(scope="module")
def provider():
    idp = Provider()
    port = free_port()
    idp.url = f"http://127.0.0.1:{port}"
    server = LiveServer(idp.app, port)
    server.start()
    yield idp
    server.stop()


@pytest.fixture
def oidc(api, live_server, provider):
    settings = live_server.app.state.axops.settings
    saved = {k: getattr(settings, k) for k in ("oidc_issuer", "oidc_client_id", "oidc_client_secret", "oidc_group_map")}
    settings.oidc_issuer, settings.oidc_client_id, settings.oidc_client_secret = provider.url, CLIENT_ID, CLIENT_SECRET
    settings.oidc_group_map = (
        '{"axops-admins": {"role": "admin"}, "ml-team": {"team": "ml"}, "ops": {"role": "operator"}}'
    )
    sso._discovery.clear()
    provider.tamper = None
    provider.user = {"sub": "u-1001", "preferred_username": "Kim.Minji", "name": "김민지", "email": "minji@example.com"}
    yield provider
    for k, v in saved.items():
        setattr(settings, k, v)


def sso_login(api) -> tuple[httpx.Client, httpx.Response]:
    """A browser signing in: axops → IdP → axops callback. The client (its cookie jar) and the callback's answer."""
    browser = httpx.Client(base_url=api.base_url, timeout=30)
    to_idp = browser.get("/api/auth/sso/login")
    assert to_idp.status_code == 302, to_idp.text
    back = browser.get(to_idp.headers["location"])
    assert back.status_code == 302
    return browser, browser.get(back.headers["location"])


def signed_in(browser: httpx.Client) -> dict:
    r = browser.post("/api/auth/refresh", headers={"x-requested-with": "axops"})
    assert r.status_code == 200, r.text
    return r.json()["user"]


def test_config_off_and_on(api, live_server, provider):
    assert api.get("/api/auth/sso/config").json() == {"enabled": False, "login_url": None}
    assert api.get("/api/auth/sso/login").json()["type"].endswith("/sso_not_configured")


def test_full_sign_in_creates_user_and_maps_groups(api, admin, oidc):
    assert api.get("/api/auth/sso/config").json() == {"enabled": True, "login_url": "/api/auth/sso/login"}
    make_team(api, admin, "ml")
    oidc.user["groups"] = ["ml-team", "unknown-group"]
    browser, done = sso_login(api)
    assert done.status_code == 302 and done.headers["location"] == "/"
    user = signed_in(browser)
    assert user["username"] == "kim.minji" and user["display_name"] == "김민지" and user["role"] == "viewer"
    assert [t["name"] for t in user["teams"]] == ["ml"]
    assert "axops_sso" not in browser.cookies

    # Next sign-in: the IdP's groups rule again; same account (by issuer + subject), now an admin.
    oidc.user["groups"] = ["axops-admins", "ops"]
    browser2, done = sso_login(api)
    again = signed_in(browser2)
    assert again["id"] == user["id"] and again["role"] == "admin"
    assert [t["name"] for t in again["teams"]] == ["default"]

    # No password login for an SSO-only account.
    r = api.post("/api/auth/login", json={"username": "kim.minji", "password": "!sso"})
    assert r.status_code == 401
    actions = [e["action"] for e in api.get("/api/audit/logs", params={"limit": 100}, headers=admin).json()["items"]]
    assert "user.create" in actions and "auth.login" in actions and "user.update" in actions


@pytest.mark.parametrize("tamper", ["wrong_key", "wrong_aud", "expired", "nonce", "wrong_iss"])
def test_forged_id_tokens_are_refused(api, admin, oidc, tamper):
    oidc.tamper = tamper
    browser, done = sso_login(api)
    assert done.status_code == 302 and done.headers["location"] == "/login?sso_error=token_invalid"
    assert "axops_refresh" not in browser.cookies
    assert browser.post("/api/auth/refresh", headers={"x-requested-with": "axops"}).status_code == 401
    users = api.get("/api/users", headers=admin).json()["items"]
    assert [u["username"] for u in users] == ["admin"]
    failed = api.get("/api/audit/logs", params={"action": "auth.sso_failed"}, headers=admin).json()["items"]
    assert failed and failed[0]["summary"]["reason"] == "token_invalid"


def test_state_mismatch_and_missing_cookie_are_refused(api, admin, oidc):
    browser = httpx.Client(base_url=api.base_url, timeout=30)
    to_idp = browser.get("/api/auth/sso/login")
    back = browser.get(to_idp.headers["location"]).headers["location"]
    q = parse_qs(urlparse(back).query)
    forged = browser.get("/api/auth/sso/callback", params={"code": q["code"][0], "state": "attacker-state"})
    assert forged.headers["location"] == "/login?sso_error=state_mismatch"
    # A code fixated into another browser (no flow cookie there) is refused too.
    victim = httpx.Client(base_url=api.base_url, timeout=30)
    r = victim.get("/api/auth/sso/callback", params={"code": q["code"][0], "state": q["state"][0]})
    assert r.headers["location"] == "/login?sso_error=state_mismatch"
    assert "axops_refresh" not in victim.cookies and "axops_refresh" not in browser.cookies


def test_no_takeover_of_a_local_account(api, admin, oidc):
    make_user(api, admin, "mina")
    oidc.user = {"sub": "other-person", "preferred_username": "mina"}
    browser, done = sso_login(api)
    assert done.headers["location"] == "/login?sso_error=account_conflict"
    assert "axops_refresh" not in browser.cookies
    assert api.post("/api/auth/login", json={"username": "mina", "password": PASSWORD}).status_code == 200
