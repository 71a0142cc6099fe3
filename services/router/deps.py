"""Who may call the router's operator endpoints, and the admission list in force.

Callers present operator-issued credentials (gridloop/auth/deps.py): the triage queue, decisions, counts and
replacing the admission list are for operators; any signed-in caller may read the list in force.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gridloop.auth.deps import OperatorOnly, get_principal
from services.router.admission_list import ActiveAdmissionList, ActiveModel
from services.router.retraining import RetrainingState


async def get_admission_list(request: Request) -> ActiveAdmissionList:
    return request.app.state.admission_list


async def get_model(request: Request) -> ActiveModel:
    return request.app.state.model


async def get_retraining(request: Request) -> RetrainingState:
    return request.app.state.retraining


SignedIn = Depends(get_principal)
AdmissionListDep = Annotated[ActiveAdmissionList, Depends(get_admission_list)]
ModelDep = Annotated[ActiveModel, Depends(get_model)]
RetrainingDep = Annotated[RetrainingState, Depends(get_retraining)]

__all__ = ["AdmissionListDep", "ModelDep", "OperatorOnly", "RetrainingDep", "SignedIn"]
