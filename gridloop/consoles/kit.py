"""What the three consoles share: signing in with a credential, the session cookie, CSRF, templates and assets.

A console signs a person in with the same credential the API takes (a worker's, a clerk's or an operator's
token, pasted once). The token is then kept in an HttpOnly, Secure, SameSite=Strict cookie scoped to the
console's path; every request verifies it exactly as the API does (signature, expiry, revocation, role), so a
revoked credential is out of every console at the next click. Nothing personal goes into a URL.

Every form and every script's POST carries a CSRF token, an HMAC of the credential's id with the signing key
(no server-side state), and a POST whose `Origin` is another site is refused.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations built in sign_in_router.

import hmac
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from gridloop.auth.tokens import InvalidCredentials, Principal, TokenIssuer

log = logging.getLogger(__name__)

KIT_DIR = Path(__file__).parent
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# Pages show work data: never cached, never framed, no referrer, scripts and styles from the service only.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",  # no-referrer would make browsers send `Origin: null`
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob: http: https:; script-src 'self'; style-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}
ROLE_NAMES_ZH = {"worker": "网格员", "department": "部门工作人员", "operator": "区级值班员"}
# A department's work item status, as the clerk desk and the operator console show it.
WORK_STATUS_ZH = {
    "dispatched": "待签收",
    "signed": "已签收",
    "in_progress": "办理中",
    "resolved": "已办结",
    "returned": "已退单",
    "linked": "重复件",
}


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in person: who (as the API sees them), the credential (forwarded by the operator console to the
    departments API) and the CSRF token their forms carry."""

    principal: Principal
    token: str
    csrf: str


class SignInRequired(Exception):
    """No valid session on a console page: answered with a redirect to the sign-in page."""

    def __init__(self, location: str) -> None:
        self.location = location


@dataclass(frozen=True)
class Console:
    """One console: its path prefix, who may sign in, its cookie and templates."""

    prefix: str  # "/app", "/desk", "/ops"
    title: str  # shown in the header
    role: str  # the role its credential must carry
    templates_dir: Path  # the service's own templates (the kit's base.html and login.html are found too)
    static_dir: Path | None = None  # the service's own scripts, served under {prefix}/static
    secure_cookie: bool = True
    person_required: bool = False  # a department credential must name its clerk

    @property
    def cookie(self) -> str:
        return f"gridloop_{self.prefix.strip('/')}"

    @property
    def login_path(self) -> str:
        return f"{self.prefix}/login"

    def templates(self) -> Jinja2Templates:
        templates = Jinja2Templates(directory=[self.templates_dir, KIT_DIR / "templates"])
        templates.env.globals.update(console=self, role_names=ROLE_NAMES_ZH)
        return templates

    def mount(self, app: FastAPI) -> None:
        """The kit's stylesheet under {prefix}/kit, the service's scripts under {prefix}/static."""
        app.mount(f"{self.prefix}/kit", StaticFiles(directory=KIT_DIR / "static"), name=f"{self.prefix}-kit")
        if self.static_dir is not None:
            app.mount(f"{self.prefix}/static", StaticFiles(directory=self.static_dir), name=f"{self.prefix}-static")
        app.add_exception_handler(SignInRequired, _to_sign_in)


async def _to_sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    if request.headers.get("accept", "").startswith("application/json") or request.method != "GET":
        return Response(status_code=401, headers={"Cache-Control": "no-store"})
    return RedirectResponse(exc.location, status_code=303, headers={"Cache-Control": "no-store"})


def csrf_for(issuer: TokenIssuer, principal: Principal) -> str:
    return issuer.mac("csrf", principal.token_id or "")


async def verified(request: Request, token: str) -> Principal:
    """The same checks as the API's bearer dependency: signature, issuer, expiry, revocation."""
    issuer: TokenIssuer = request.app.state.auth.tokens
    principal = issuer.verify(token)
    if await request.app.state.runtime.revocations.is_revoked(principal.token_id):
        raise InvalidCredentials("token revoked")
    return principal


def same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None  # browsers send Origin on POSTs; a missing one comes from a non-browser client
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def session_dependency(console: Console) -> Callable[[Request], Coroutine[Any, Any, ConsoleSession]]:
    """A dependency: the signed-in person of this console (sign-in page if none); POSTs must carry the CSRF
    token and come from this site."""

    async def current_session(request: Request) -> ConsoleSession:
        token = request.cookies.get(console.cookie)
        if not token:
            raise SignInRequired(console.login_path)
        try:
            principal = await verified(request, token)
        except InvalidCredentials:
            raise SignInRequired(console.login_path) from None
        if principal.role != console.role:
            raise SignInRequired(console.login_path)
        request.state.principal = principal  # the audit log's actor
        csrf = csrf_for(request.app.state.auth.tokens, principal)
        if request.method not in ("GET", "HEAD"):
            sent = request.headers.get(CSRF_HEADER)
            if sent is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")
            ):
                value = (await request.form()).get(CSRF_FIELD)
                sent = value if isinstance(value, str) else None
            if not same_origin(request) or sent is None or not hmac.compare_digest(sent, csrf):
                raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF token missing or wrong")
        return ConsoleSession(principal, token, csrf)

    return current_session


def sign_in_router(console: Console, *, home: str) -> APIRouter:
    """GET/POST {prefix}/login and POST {prefix}/logout."""
    router = APIRouter(include_in_schema=False)
    templates = console.templates()
    current = session_dependency(console)

    def page(request: Request, error: str | None = None, status_code: int = 200) -> HTMLResponse:
        return templates.TemplateResponse(
            request, "login.html", {"error": error}, status_code=status_code, headers=PAGE_HEADERS
        )

    @router.get(console.login_path, response_class=HTMLResponse)
    async def login_page(request: Request) -> HTMLResponse:
        return page(request)

    @router.post(console.login_path, response_class=HTMLResponse)
    async def sign_in(request: Request, token: Annotated[str, Form(max_length=2000)]) -> Response:
        if not same_origin(request):
            return page(request, "请从本页面登录。", 403)
        try:
            principal = await verified(request, token.strip())
        except InvalidCredentials:
            return page(request, "凭证无效、已过期或已被吊销，请向区级值班员申领新凭证。", 401)
        if principal.role != console.role:
            return page(request, f"此页面供{ROLE_NAMES_ZH[console.role]}使用，您的凭证不适用。", 403)
        if console.person_required and not principal.name:
            return page(request, "该凭证属于部门系统，未标明个人。请使用本人的个人凭证登录。", 403)
        log.info("%s console: %s signed in", console.prefix, principal.role)  # no names or ids in logs
        response = RedirectResponse(home, status_code=303, headers={"Cache-Control": "no-store"})
        expires = request.app.state.auth.tokens.expiry(token.strip())
        response.set_cookie(
            console.cookie,
            token.strip(),
            max_age=max(int((expires - datetime.now(UTC)).total_seconds()), 0) if expires else None,
            path=console.prefix,
            secure=console.secure_cookie,
            httponly=True,
            samesite="strict",
        )
        return response

    @router.post(f"{console.prefix}/logout")
    async def sign_out(request: Request, session: Annotated[ConsoleSession, Depends(current)]) -> Response:
        response = RedirectResponse(console.login_path, status_code=303, headers={"Cache-Control": "no-store"})
        response.delete_cookie(console.cookie, path=console.prefix, secure=console.secure_cookie, httponly=True)
        return response

    return router


def render(
    templates: Jinja2Templates,
    request: Request,
    name: str,
    session: ConsoleSession,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    """A console page with the person and their CSRF token in its context."""
    return templates.TemplateResponse(
        request,
        name,
        {"session": session, "csrf": session.csrf, **context},
        status_code=status_code,
        headers=PAGE_HEADERS,
    )
