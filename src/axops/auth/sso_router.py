"""HTTP routes of single sign-on (OIDC): the login page's config, the redirect to the IdP, the callback."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from axops.auth import audit, service, sso
from axops.auth.deps import Session
from axops.auth.router import _policy, _tokens
from axops.core.state import State

router = APIRouter(prefix="/api/auth/sso", tags=["auth"])


class SsoConfigOut(BaseModel):
    enabled: bool
    login_url: str | None = None


def _flow_cookie(response, request: Request, value: str | None) -> None:
    secure = request.url.scheme == "https"
    if value is None:
        response.delete_cookie(sso.FLOW_COOKIE, path=sso.FLOW_COOKIE_PATH, secure=secure, httponly=True, samesite="lax")
        return
    # Lax, not Strict: the IdP's redirect back is a cross-site top-level GET, which Lax cookies ride along.
    response.set_cookie(
        sso.FLOW_COOKIE,
        value,
        max_age=sso.FLOW_TTL_SECONDS,
        path=sso.FLOW_COOKIE_PATH,
        secure=secure,
        httponly=True,
        samesite="lax",
    )


@router.get("/config")
async def sso_config(state: State) -> SsoConfigOut:
    """Whether the login page shows "Sign in with SSO" (no secrets: only whether it is on)."""
    on = sso.config(state.settings) is not None
    return SsoConfigOut(enabled=on, login_url="/api/auth/sso/login" if on else None)


@router.get("/login", status_code=302, responses={404: {}})
async def sso_login(request: Request, state: State) -> RedirectResponse:
    cfg = sso.required(state.settings)
    try:
        url, flow = await sso.start(cfg, state.secret_key)
    except Exception as exc:  # the IdP is down or misconfigured: back to the login page, with a reason
        sso.log.warning("sso.discovery_failed", extra={"error": type(exc).__name__})
        return RedirectResponse("/login?sso_error=idp_error", status_code=302)
    response = RedirectResponse(url, status_code=302)
    _flow_cookie(response, request, flow)
    return response


@router.get("/callback", status_code=302, responses={404: {}})
async def sso_callback(
    request: Request,
    session: Session,
    state: State,
    code: str | None = None,
    error: str | None = None,
) -> RedirectResponse:
    """The IdP's redirect back: on success a session (the refresh cookie, as a password login sets it) and the
    app; otherwise the login page with `sso_error=<reason>`."""
    cfg = sso.required(state.settings)
    flow_state = request.query_params.get("state")  # `state` names the app state here
    try:
        if error:
            raise sso.SsoFailed("idp_error", "the IdP answered an error")
        claims = await sso.finish(cfg, state.secret_key, request.cookies.get(sso.FLOW_COOKIE), flow_state, code)
        user = await sso.sign_in_user(session, cfg, claims)
        issued = await service.start_session(session, user, _policy(state), sso=True)
    except sso.SsoFailed as exc:
        await session.rollback()
        await audit.record_now(
            state.db.sessionmaker,
            "auth.sso_failed",
            resource_type="user",
            outcome="failure",
            summary={"reason": exc.reason, "detail": str(exc)[:200]},
            actor_name="anonymous",
        )
        response = RedirectResponse(f"/login?sso_error={quote(exc.reason)}", status_code=302)
        _flow_cookie(response, request, None)
        return response
    response = RedirectResponse("/", status_code=302)
    _tokens(request, response, state, issued)
    _flow_cookie(response, request, None)
    return response
