"""Who is calling and what time it is: the one place the departments API learns both.

Callers present operator-issued credentials (gridloop/auth/deps.py): an operator sees and decides everything;
a department's staff or system (a department credential) sees and changes only its own cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request, status

from gridloop.auth.deps import StaffDep
from services.departments.working_time import Deadlines


@dataclass(frozen=True)
class Caller:
    role: Literal["operator", "department"]
    department: str | None = None  # set for department callers: they see only their own cases
    name: str = ""  # who the credential names (the operator, or the department)
    person: str | None = None  # the clerk a person's department credential names (recorded on each step)

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"

    def acting(self, named_in_body: str) -> str:
        """Who a step records: the clerk the credential names; else the name in the body (a department's system)."""
        return self.person or named_in_body

    @property
    def scope(self) -> str | None:
        """The department a query or step is restricted to; None for operators (all departments)."""
        return None if self.is_operator else self.department


async def get_caller(principal: StaffDep) -> Caller:
    if principal.role == "operator":
        return Caller("operator", name=principal.subject)
    return Caller("department", principal.department, name=principal.subject, person=principal.name)


def require_operator(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
    if not caller.is_operator:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an operator may do this")
    return caller


async def get_now(request: Request) -> datetime:
    return request.app.state.clock.now()


async def get_deadlines(request: Request) -> Deadlines:
    return request.app.state.deadlines


CallerDep = Annotated[Caller, Depends(get_caller)]
DeadlinesDep = Annotated[Deadlines, Depends(get_deadlines)]
OperatorDep = Annotated[Caller, Depends(require_operator)]
NowDep = Annotated[datetime, Depends(get_now)]
