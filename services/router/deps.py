"""Who may call the router's operator endpoints, and the admission list in force.

Callers present operator-issued credentials (gridloop/auth/deps.py): the triage queue, decisions, counts and
replacing the admission list are for operators; any signed-in caller may read the list in force.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gridloop.auth.deps import OperatorOnly, get_principal
from services.router.admission_list import ActiveAdmissionList


async def get_admission_list(request: Request) -> ActiveAdmissionList:
    return request.app.state.admission_list


SignedIn = Depends(get_principal)
AdmissionListDep = Annotated[ActiveAdmissionList, Depends(get_admission_list)]

__all__ = ["AdmissionListDep", "OperatorOnly", "SignedIn"]
