"""Who is calling and what time it is: the one place the departments API learns both.

Interim identity (until issue 7 brings real credentials): `X-GridLoop-Role: operator` for operators,
`X-GridLoop-Department: police|finance|street_office` for a department's staff or system. Swap `get_caller`
for credential checks and nothing else changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, Header, HTTPException, Request, status

from gridloop.contracts.topics import DEPARTMENTS


@dataclass(frozen=True)
class Caller:
    role: Literal["operator", "department"]
    department: str | None = None  # set for department callers: they see only their own cases

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    @property
    def scope(self) -> str | None:
        """The department a query or step is restricted to; None for operators (all departments)."""
        return None if self.is_operator else self.department


def get_caller(
    request: Request,
    x_gridloop_role: Annotated[str | None, Header()] = None,
    x_gridloop_department: Annotated[str | None, Header()] = None,
) -> Caller:
    if x_gridloop_role == "operator":
        return Caller("operator")
    if x_gridloop_department is not None:
        if x_gridloop_department not in DEPARTMENTS:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"unknown department {x_gridloop_department!r}")
        return Caller("department", x_gridloop_department)
    if x_gridloop_role is None and request.app.state.runtime.settings.anonymous_is_operator:
        return Caller("operator")
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED, "identify with X-GridLoop-Role: operator or X-GridLoop-Department: <department>"
    )


def require_operator(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    if not caller.is_operator:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an operator may do this")
    return caller


def get_now(request: Request) -> datetime:
    return request.app.state.clock.now()


CallerDep = Annotated[Caller, Depends(get_caller)]
OperatorDep = Annotated[Caller, Depends(require_operator)]
NowDep = Annotated[datetime, Depends(get_now)]
