"""Who may call the router's operator endpoints, and the admission list in force.

Interim identity (until issue 7 brings real credentials): operators send `X-GridLoop-Role: operator`, as they
do to the departments API. Swap `require_operator` for a credential check and nothing else changes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from services.router.catalogue_admin import ActiveAdmissionList


def require_operator(x_gridloop_role: Annotated[str | None, Header()] = None) -> None:
    if x_gridloop_role != "operator":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only an operator may do this (X-GridLoop-Role: operator)")


def get_admission_list(request: Request) -> ActiveAdmissionList:
    return request.app.state.admission_list


OperatorOnly = Depends(require_operator)
AdmissionListDep = Annotated[ActiveAdmissionList, Depends(get_admission_list)]
