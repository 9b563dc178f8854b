"""Two-factor authentication (TOTP, RFC 6238) with single-use recovery codes, and step-up for destructive actions.

The secret is stored encrypted (core.crypto); a code is accepted once (the last accepted time step is kept, so a
code seen over someone's shoulder is worthless after use) within ±1 step; wrong codes are throttled per user.
Recovery codes are hashed with Argon2 like passwords and each works once."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

import anyio
import jwt
import pyotp
import segno
from fastapi import Depends, Request
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from axops.auth import audit, security
from axops.auth.deps import CurrentPrincipal, Principal
from axops.auth.models import AuthSession, MfaRecoveryCode, UserTwoFactor
from axops.core import crypto
from axops.core.errors import Conflict, Forbidden, Invalid, NotAuthenticated, TooManyRequests
from axops.core.state import state_of
from axops.core.throttle import FailureWindow

ISSUER_NAME = "axops"
STEP_UP_SECONDS = 300
CHALLENGE_TTL_SECONDS = 300
RECOVERY_CODES = 10
MAX_FAILURES = 5
THROTTLE_WINDOW_SECONDS = 900
_CHALLENGE_TYP = "mfa_challenge"

# Wrong codes per user (shared through Redis like the login throttle when configured): 5 in the window
# lock the user's codes out.
failures = FailureWindow(MAX_FAILURES, THROTTLE_WINDOW_SECONDS, name="mfa")


@dataclass
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret)


def _new_recovery_code() -> str:
    raw = secrets.token_hex(5)  # 40 bits, shown as xxxxx-xxxxx
    return f"{raw[:5]}-{raw[5:]}"


def _normalise(code: str) -> str:
    return "".join(code.split()).lower()


async def _row(session: AsyncSession, user_id: uuid.UUID, lock: bool = False) -> UserTwoFactor | None:
    q = select(UserTwoFactor).where(UserTwoFactor.user_id == user_id)
    return await session.scalar(q.with_for_update() if lock else q)


async def is_enabled(session: AsyncSession, user_id: uuid.UUID) -> bool:
    row = await _row(session, user_id)
    return row is not None and row.enabled_at is not None


async def status(session: AsyncSession, principal: Principal, required: bool) -> dict:
    row = await _row(session, principal.user_id)
    left = await session.scalar(
        select(func.count()).where(MfaRecoveryCode.user_id == principal.user_id, MfaRecoveryCode.used_at.is_(None))
    )
    return {
        "enabled": bool(row and row.enabled_at),
        "enabled_at": row.enabled_at if row else None,
        "recovery_codes_left": left or 0,
        "required": required,
    }


async def begin_enrolment(session: AsyncSession, secret_key: str, principal: Principal) -> Enrolment:
    row = await _row(session, principal.user_id, lock=True)
    if row is not None and row.enabled_at is not None:
        raise Conflict("Two-factor authentication is already on; turn it off first.", code="mfa_already_enabled")
    secret = pyotp.random_base32()
    if row is None:
        session.add(UserTwoFactor(user_id=principal.user_id, secret_encrypted=crypto.encrypt(secret_key, secret)))
    else:
        row.secret_encrypted, row.last_step = crypto.encrypt(secret_key, secret), None
    await session.flush()
    uri = _totp(secret).provisioning_uri(name=principal.username, issuer_name=ISSUER_NAME)
    svg = segno.make(uri, error="m").svg_inline(scale=4, border=2)
    return Enrolment(secret=secret, otpauth_uri=uri, qr_svg=svg)


async def _throttle(user_id: uuid.UUID) -> None:
    wait = await failures.retry_after(str(user_id))
    if wait:
        raise TooManyRequests(
            f"Too many wrong codes. Try again in {wait} s.",
            code="mfa_throttled",
            retry_after=wait,
            headers={"Retry-After": str(wait)},
        )


def _matching_step(secret: str, code: str, last_step: int | None) -> int | None:
    """The time step (now, one before or one after) whose code this is, unless already used."""
    totp = _totp(secret)
    now_step = totp.timecode(datetime.now(UTC))
    for step in (now_step, now_step - 1, now_step + 1):
        if last_step is not None and step <= last_step:
            continue
        if secrets.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def verify_code(
    session: AsyncSession, secret_key: str, user_id: uuid.UUID, code: str, *, pending: bool = False
) -> str:
    """Check a TOTP code (or, once enrolled, a recovery code). Returns "totp" or "recovery"; raises on a wrong,
    replayed or throttled code. `pending`: the enrolment being confirmed (TOTP only)."""
    await _throttle(user_id)
    row = await _row(session, user_id, lock=True)  # serialises two requests with the same code
    if row is None or (row.enabled_at is None) != pending:
        raise Invalid("Two-factor authentication is not set up.", code="mfa_not_enabled")
    code = _normalise(code)
    secret = crypto.decrypt(secret_key, row.secret_encrypted)
    if secret is not None and code.isdigit() and len(code) == 6:
        step = _matching_step(secret, code, row.last_step)
        if step is not None:
            row.last_step = step
            await session.flush()
            await failures.clear(str(user_id))
            return "totp"
    elif not pending and len(code) == 11:
        unused = (
            await session.scalars(
                select(MfaRecoveryCode)
                .where(MfaRecoveryCode.user_id == user_id, MfaRecoveryCode.used_at.is_(None))
                .with_for_update()
            )
        ).all()
        for rc in unused:
            if await anyio.to_thread.run_sync(security.verify_password, rc.code_hash, code):
                rc.used_at = datetime.now(UTC)
                await session.flush()
                await failures.clear(str(user_id))
                audit.record(session, "mfa.recovery_used", resource_type="user", resource_id=user_id)
                return "recovery"
    await failures.fail(str(user_id))
    raise Invalid("The code is wrong or was already used.", code="mfa_invalid_code")


async def confirm_enrolment(session: AsyncSession, secret_key: str, principal: Principal, code: str) -> list[str]:
    await verify_code(session, secret_key, principal.user_id, code, pending=True)
    row = await _row(session, principal.user_id)
    assert row is not None  # verify_code found it
    row.enabled_at = datetime.now(UTC)
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODES)]
    hashes = [await anyio.to_thread.run_sync(security.hash_password, c) for c in codes]
    await session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == principal.user_id))
    session.add_all(MfaRecoveryCode(user_id=principal.user_id, code_hash=h) for h in hashes)
    await _mark_session(session, principal.session_id)
    audit.record(session, "mfa.enable", resource_type="user", resource_id=principal.user_id)
    return codes


async def disable(session: AsyncSession, secret_key: str, principal: Principal, code: str) -> None:
    await verify_code(session, secret_key, principal.user_id, code)
    await session.execute(delete(UserTwoFactor).where(UserTwoFactor.user_id == principal.user_id))
    await session.execute(delete(MfaRecoveryCode).where(MfaRecoveryCode.user_id == principal.user_id))
    audit.record(session, "mfa.disable", resource_type="user", resource_id=principal.user_id)


async def _mark_session(session: AsyncSession, session_id: uuid.UUID | None) -> None:
    if session_id is not None:
        await session.execute(update(AuthSession).where(AuthSession.id == session_id).values(mfa_at=datetime.now(UTC)))


async def step_up(session: AsyncSession, secret_key: str, principal: Principal, code: str) -> None:
    if principal.session_id is None:
        raise Forbidden("Step-up needs a login session, not an API key.", code="mfa_step_up_required")
    kind = await verify_code(session, secret_key, principal.user_id, code)
    await _mark_session(session, principal.session_id)
    audit.record(session, "mfa.step_up", resource_type="user", resource_id=principal.user_id, summary={"via": kind})


# --- login challenge ------------------------------------------------------------------------


def issue_challenge(secret_key: str, user_id: uuid.UUID) -> str:
    now = datetime.now(UTC)
    claims = {
        "iss": security.JWT_ISSUER,
        "sub": str(user_id),
        "typ": _CHALLENGE_TYP,
        "iat": now,
        "exp": now + timedelta(seconds=CHALLENGE_TTL_SECONDS),
    }
    return jwt.encode(claims, secret_key, algorithm=security.JWT_ALGORITHM)


def challenge_user(secret_key: str, challenge: str) -> uuid.UUID:
    try:
        claims = jwt.decode(
            challenge, secret_key, algorithms=[security.JWT_ALGORITHM], issuer=security.JWT_ISSUER,
            options={"require": ["exp", "sub"]},
        )  # fmt: skip
        if claims.get("typ") != _CHALLENGE_TYP:
            raise ValueError
        return uuid.UUID(claims["sub"])
    except (jwt.PyJWTError, ValueError) as exc:
        raise NotAuthenticated(
            "The sign-in challenge is invalid or expired. Log in again.", code="mfa_challenge_invalid"
        ) from exc


# --- step-up dependency -----------------------------------------------------------------------


def required_for(settings, role: str) -> bool:
    return bool(settings.mfa_required_for_admins) and role == "admin"


async def require_recent_mfa(request: Request, principal: CurrentPrincipal) -> Principal:
    """Destructive routes: a user with two-factor on (or an admin when it is required) must have verified a
    code in this session within the last 5 minutes. API keys are separate credentials, limited by their scopes."""
    if principal.auth != "jwt":
        return principal
    state = state_of(request)
    async with state.db.sessionmaker() as session:
        enabled = await is_enabled(session, principal.user_id)
        mfa_at = await session.scalar(select(AuthSession.mfa_at).where(AuthSession.id == principal.session_id))
    if not enabled:
        if required_for(state.settings, principal.role):
            raise Forbidden("Turn on two-factor authentication (your profile) first.", code="mfa_enrolment_required")
        return principal
    if mfa_at is None or datetime.now(UTC) - mfa_at > timedelta(seconds=STEP_UP_SECONDS):
        raise Forbidden("Confirm with a two-factor code first.", code="mfa_step_up_required")
    return principal


RecentMfa = Annotated[Principal, Depends(require_recent_mfa)]
