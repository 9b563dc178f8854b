"""Browser-facing defences: the refresh token out of scripts' reach (an httpOnly cookie that only this
origin's pages can spend), security headers on every answer, no markup in metric/param/tag keys
(stored XSS through chart tooltips), and run filters that answer 4xx rather than 500."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.factories import ADMIN_PASSWORD, bearer

XSS = "<img src=x onerror=alert(1)>"
SAME_ORIGIN = {"x-requested-with": "axops"}


def _login(api) -> httpx.Response:
    r = api.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200, r.text
    return r


def _cookie_header(r: httpx.Response) -> str:
    [header] = [v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("axops_refresh=")]
    return header


def _with_cookie(api, path: str, token: str, **headers) -> httpx.Response:
    """A request carrying only the refresh cookie (and the given headers), as a browser would send it."""
    return httpx.post(f"{api.base_url}{path}", headers={"cookie": f"axops_refresh={token}", **headers})


def test_refresh_token_lives_in_an_httponly_cookie_only(api):
    r = _login(api)
    assert "refresh_token" not in r.json() and r.json()["access_token"]
    cookie = _cookie_header(r).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/api/auth" in cookie
    assert "secure" not in cookie.replace("samesite", "")  # plain http here; https requests get Secure
    assert r.headers["cache-control"] == "no-store"
    token = r.cookies["axops_refresh"]

    # A cross-site page can make the browser send the cookie, but not a custom header: refused.
    refused = _with_cookie(api, "/api/auth/refresh", token)
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    assert "x-requested-with" in refused.json()["detail"].lower()
    refused = _with_cookie(api, "/api/auth/refresh", token, **{"x-requested-with": "XMLHttpRequest"})
    assert refused.status_code == 403
    # the refused attempts did not spend the token: the app's own refresh works, and rotates it
    ok = _with_cookie(api, "/api/auth/refresh", token, **SAME_ORIGIN)
    assert ok.status_code == 200, ok.text
    assert "refresh_token" not in ok.json() and "httponly" in _cookie_header(ok).lower()
    rotated = ok.cookies["axops_refresh"]
    assert rotated != token
    assert api.get("/api/user/info", headers=bearer(ok.json()["access_token"])).status_code == 200
    # the body field of old is gone: a refresh token in the body is not accepted
    assert (
        httpx.post(f"{api.base_url}/api/auth/refresh", json={"refresh_token": rotated}, headers=SAME_ORIGIN).status_code
        == 401
    )

    # Logout (here with the cookie alone, as after the access token expired) ends the session and clears the cookie.
    out = _with_cookie(api, "/api/auth/logout", rotated, **SAME_ORIGIN)
    assert out.status_code == 204
    cleared = _cookie_header(out).lower()
    assert cleared.startswith('axops_refresh="";') and "max-age=0" in cleared and "path=/api/auth" in cleared
    assert _with_cookie(api, "/api/auth/refresh", rotated, **SAME_ORIGIN).status_code == 401
    assert api.get("/api/user/info", headers=bearer(ok.json()["access_token"])).status_code == 401
    # Logout needs a session: no bearer and no cookie is 401
    assert httpx.post(f"{api.base_url}/api/auth/logout", headers=SAME_ORIGIN).status_code == 401


def test_secure_cookie_over_https(api):
    # uvicorn trusts X-Forwarded-Proto from a loopback proxy, as behind the usual TLS-terminating proxy
    r = httpx.post(
        f"{api.base_url}/api/auth/login",
        json={"username": "admin", "password": ADMIN_PASSWORD},
        headers={"x-forwarded-proto": "https"},
    )
    assert r.status_code == 200
    assert "; secure" in _cookie_header(r).lower()


@pytest.mark.parametrize("path", ["/", "/experiments", "/api/user/info", "/api/no-such-endpoint", "/api/openapi.json"])
def test_security_headers_on_every_answer(api, admin, path):
    r = api.get(path, headers=admin)
    csp = r.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self';",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "connect-src 'self'",
    ):
        assert directive in csp, (path, directive)
    assert "unsafe-eval" not in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    if path.startswith("/api/"):
        assert r.headers["cache-control"] == "no-store"


def test_api_docs_page_allows_only_swagger_ui(api):
    r = api.get("/api/docs")
    assert r.status_code == 200 and "SwaggerUIBundle" in r.text
    csp = r.headers["content-security-policy"]
    script_src = csp.split("script-src")[1].split(";")[0]
    assert "https://cdn.jsdelivr.net" in script_src and "'sha256-" in script_src
    assert "'unsafe-inline'" not in script_src and "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp


def _run(api, account) -> str:
    r = api.post("/api/experiments/runs", json={"experiment_name": "xss", "name": "r1"}, headers=account.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_markup_in_metric_param_and_tag_keys_is_refused_natively(api, attacker):
    run = _run(api, attacker)
    for body in (
        {"metrics": [{"key": XSS, "value": 1.0}]},
        {"params": {XSS: "1"}},
        {"tags": {XSS: "1"}},
        {"metrics": [{"key": "ok", "value": 1.0}, {"key": "../etc", "value": 1.0}]},
    ):
        r = api.post(f"/api/experiments/runs/{run}/log-batch", json=body, headers=attacker.headers)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", (body, r.text)
    r = api.post(
        "/api/experiments/runs", json={"experiment_name": "xss", "params": {XSS: "1"}}, headers=attacker.headers
    )
    assert r.status_code == 422
    r = api.post("/api/experiments", json={"name": "tagged", "tags": {XSS: "x"}}, headers=attacker.headers)
    assert r.status_code == 422
    # nothing half-written: the run has no metrics, params or tags, and the experiment does not exist
    stored = api.get(f"/api/experiments/runs/{run}", headers=attacker.headers).json()
    assert stored["metrics"] == {} and stored["params"] == {} and stored["tags"] == {}
    assert [e["name"] for e in api.get("/api/experiments", headers=attacker.headers).json()] == ["xss"]

    # MLflow's key alphabet still works: letters (any script), digits, _ - . space : /
    good = {
        "metrics": [{"key": "eval/loss", "value": 0.5}, {"key": "검증 손실", "value": 0.4}],
        "params": {"lora.r": "8", "opt:name": "adamw"},
        "tags": {"mlflow.runName": "r1"},
    }
    r = api.post(f"/api/experiments/runs/{run}/log-batch", json=good, headers=attacker.headers)
    assert r.status_code == 200, r.text
    assert set(api.get(f"/api/experiments/runs/{run}", headers=attacker.headers).json()["metrics"]) == {
        "eval/loss",
        "검증 손실",
    }


def test_markup_in_keys_is_refused_by_the_mlflow_api(api, attacker):
    run = uuid.UUID(_run(api, attacker)).hex
    base = "/api/2.0/mlflow/runs"
    for path, body in (
        (f"{base}/log-metric", {"run_id": run, "key": XSS, "value": 1.0, "timestamp": 0, "step": 0}),
        (f"{base}/log-parameter", {"run_id": run, "key": XSS, "value": "1"}),
        (f"{base}/set-tag", {"run_id": run, "key": XSS, "value": "1"}),
        (f"{base}/log-batch", {"run_id": run, "metrics": [{"key": XSS, "value": 1, "timestamp": 0, "step": 0}]}),
        (f"{base}/log-batch", {"run_id": run, "params": [{"key": "a//b", "value": "1"}]}),
    ):
        r = api.post(path, json=body, headers=attacker.headers)
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", (path, r.text)
    r = api.post(
        f"{base}/log-metric",
        json={"run_id": run, "key": "train/loss", "value": 1.0, "timestamp": 0, "step": 0},
        headers=attacker.headers,
    )
    assert r.status_code == 200, r.text


def test_markup_in_a_sweep_metric_is_refused(api, attacker):
    job = {
        "base_model": "no-such-model",
        "dataset_version_ids": [str(uuid.uuid4())],
        "column_mapping": {"text": "text"},
    }
    sweep = {"name": "s", "job": job, "space": {"hyperparameters.learning_rate": {"values": [0.001, 0.01]}}}
    r = api.post("/api/training/sweep/create", json={**sweep, "metric": XSS}, headers=attacker.headers)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "metric"]]
    # a well-formed metric gets past validation (and fails later, on the made-up model)
    r = api.post("/api/training/sweep/create", json={**sweep, "metric": "eval/loss"}, headers=attacker.headers)
    assert r.status_code != 201 and all(e["loc"] != ["body", "metric"] for e in r.json().get("errors", []))


@pytest.mark.parametrize(
    "search",
    [
        {"filter": "attributes.nope = 'x'"},
        {"filter": "attribute.artifact_uri = 'x'"},
        {"order_by": ["attributes.nope DESC"]},
    ],
)
def test_unknown_run_attribute_is_a_client_error(api, attacker, search):
    _run(api, attacker)
    r = api.post("/api/experiments/runs/search", json=search, headers=attacker.headers)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
    assert "unknown attribute" in r.json()["detail"]
    mlflow = {"filter": search.get("filter", ""), "order_by": search.get("order_by", [])}
    r = api.post("/api/2.0/mlflow/runs/search", json=mlflow, headers=attacker.headers)
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r.text
    # known attributes still work, in either spelling
    for ok in (
        {"filter": "attributes.status = 'RUNNING'"},
        {"order_by": ["attributes.start_time DESC"]},
        {"filter": "attributes.run_name = 'r1'"},
    ):
        r = api.post("/api/experiments/runs/search", json=ok, headers=attacker.headers)
        assert r.status_code == 200 and [x["name"] for x in r.json()["items"]] == ["r1"], (ok, r.text)
