"""HTTP routes of two-factor authentication: the login's second step, enrolment, step-up."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from axops.auth import service, two_factor
from axops.auth.deps import CurrentPrincipal, Session
from axops.auth.router import _policy, _tokens
from axops.auth.schemas import TokenPair
from axops.core.state import State

router = APIRouter(prefix="/api")

Code = Field(min_length=6, max_length=32)


class MfaLogin(BaseModel):
    challenge: str = Field(min_length=1, max_length=2000)
    code: str = Code


class CodeIn(BaseModel):
    code: str = Code


class TwoFactorStatus(BaseModel):
    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int
    required: bool  # an admin while AXOPS_MFA_REQUIRED_FOR_ADMINS is on


class TwoFactorEnrolment(BaseModel):
    """Shown once, to the user enrolling: the secret (for typing into an app) and its QR code."""

    secret: str
    otpauth_uri: str
    qr_svg: str


class RecoveryCodes(BaseModel):
    recovery_codes: list[str]


@router.post("/auth/login/mfa", tags=["auth"], responses={401: {}, 422: {}, 429: {}})
async def login_mfa(body: MfaLogin, request: Request, response: Response, session: Session, state: State) -> TokenPair:
    issued = await service.login_mfa(session, state.db.sessionmaker, _policy(state), body.challenge, body.code)
    return _tokens(request, response, state, issued)


@router.post("/auth/mfa/step-up", tags=["auth"], status_code=204, responses={422: {}, 429: {}})
async def step_up(body: CodeIn, principal: CurrentPrincipal, session: Session, state: State) -> None:
    """Confirm with a code: destructive actions are allowed in this session for the next 5 minutes."""
    await two_factor.step_up(session, state.secret_key, principal, body.code)


@router.get("/user/2fa", tags=["user"])
async def status(principal: CurrentPrincipal, session: Session, state: State) -> TwoFactorStatus:
    required = two_factor.required_for(state.settings, principal.role)
    return TwoFactorStatus(**await two_factor.status(session, principal, required))


@router.post("/user/2fa/enrol", tags=["user"], responses={409: {}})
async def enrol(principal: CurrentPrincipal, session: Session, state: State) -> TwoFactorEnrolment:
    e = await two_factor.begin_enrolment(session, state.secret_key, principal)
    return TwoFactorEnrolment(secret=e.secret, otpauth_uri=e.otpauth_uri, qr_svg=e.qr_svg)


@router.post("/user/2fa/confirm", tags=["user"], responses={422: {}, 429: {}})
async def confirm(body: CodeIn, principal: CurrentPrincipal, session: Session, state: State) -> RecoveryCodes:
    """Turn two-factor on with a first code; the recovery codes are answered this once."""
    return RecoveryCodes(
        recovery_codes=await two_factor.confirm_enrolment(session, state.secret_key, principal, body.code)
    )


@router.post("/user/2fa/disable", tags=["user"], status_code=204, responses={422: {}, 429: {}})
async def disable(body: CodeIn, principal: CurrentPrincipal, session: Session, state: State) -> None:
    await two_factor.disable(session, state.secret_key, principal, body.code)
