"""Who is calling, for every service's routes: one place that turns credentials into a `Principal`.

`Authorization: Bearer <token>` (issued by `gridloop token issue` or the registry API) is verified with the
configured key and its id checked against the service's revoked tokens on every request (held in memory and
kept current by LISTEN/NOTIFY: gridloop/auth/revocations.py). No or bad credentials: 401. A role the route does
not allow: 403.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from gridloop.auth.tokens import InvalidCredentials, Principal, TokenIssuer

bearer = HTTPBearer(auto_error=False, description="a token from `gridloop token issue` or the registry API")
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers=CHALLENGE)


async def get_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    if credentials is None:
        raise unauthorized("credentials required: Authorization: Bearer <token>")
    issuer: TokenIssuer = request.app.state.auth.tokens
    try:
        principal = issuer.verify(credentials.credentials)
    except InvalidCredentials as exc:
        raise unauthorized(str(exc)) from None
    if await request.app.state.runtime.revocations.is_revoked(principal.token_id):
        raise unauthorized("token revoked")
    request.state.principal = principal  # for the audit log
    return principal


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency admitting only these roles (403 for the others)."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in roles:
            allowed = " or ".join(roles)
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"a {principal.role} may not do this; only {allowed}")
        return principal

    check.__name__ = f"require_{'_or_'.join(roles)}"
    return check


require_operator = require_roles("operator")
require_worker = require_roles("worker")
require_department = require_roles("department")
require_staff = require_roles("operator", "department")

CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
OperatorDep = Annotated[Principal, Depends(require_operator)]
WorkerDep = Annotated[Principal, Depends(require_worker)]
DepartmentDep = Annotated[Principal, Depends(require_department)]
StaffDep = Annotated[Principal, Depends(require_staff)]  # operators, or a department (scoped to its cases)
OperatorOnly = Depends(require_operator)
StaffOnly = Depends(require_staff)
