"""What intake's routes learn from the request: who is calling (gridloop/auth/deps.py) and the registry in force."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from gridloop.auth.deps import CurrentPrincipal, OperatorDep, OperatorOnly, WorkerDep
from gridloop.auth.privacy import ResidentCipher
from gridloop.registry import Registry
from gridloop.servicekit.ratelimit import RateLimiter
from services.intake.admission_list import RouterAdmissionList
from services.intake.handlers import ReportDesk
from services.intake.registry import ManagedRegistry, RegistryNotLoaded


# Dependencies are `async def` even when they do no I/O: FastAPI runs a plain `def` dependency in a worker thread,
# a thread hop per dependency per request.
async def get_managed_registry(request: Request) -> ManagedRegistry:
    return request.app.state.registry


async def get_registry(request: Request) -> Registry:
    try:
        return request.app.state.registry.current
    except RegistryNotLoaded as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": "5"}) from None


async def get_cipher(request: Request) -> ResidentCipher:
    return request.app.state.runtime.cipher


async def get_report_desk(request: Request) -> ReportDesk:
    return request.app.state.report_desk


async def get_worker_limit(request: Request) -> RateLimiter:
    return request.app.state.auth.worker_limit


async def get_admission_list(request: Request) -> RouterAdmissionList:
    return request.app.state.admission_list


ManagedRegistryDep = Annotated[ManagedRegistry, Depends(get_managed_registry)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
CipherDep = Annotated[ResidentCipher, Depends(get_cipher)]
ReportDeskDep = Annotated[ReportDesk, Depends(get_report_desk)]
WorkerLimitDep = Annotated[RateLimiter, Depends(get_worker_limit)]
AdmissionListDep = Annotated[RouterAdmissionList, Depends(get_admission_list)]

__all__ = [
    "AdmissionListDep",
    "CipherDep",
    "CurrentPrincipal",
    "ManagedRegistryDep",
    "OperatorDep",
    "OperatorOnly",
    "RegistryDep",
    "ReportDeskDep",
    "WorkerDep",
    "WorkerLimitDep",
]
