"""What intake's routes learn from the request: who is calling (gridloop/auth/deps.py) and the registry in force."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from gridloop.auth.deps import CurrentPrincipal, OperatorDep, OperatorOnly, WorkerDep, unauthorized
from gridloop.auth.privacy import ResidentCipher
from gridloop.auth.ratelimit import RateLimiter
from gridloop.auth.tokens import Principal
from gridloop.registry import NotInRegistry, Registry
from services.intake.handlers import ReportDesk
from services.intake.registry import EMPTY_REGISTRY_MESSAGE, ManagedRegistry, RegistryNotLoaded


# Dependencies are `async def` even when they do no I/O: FastAPI runs a plain `def` dependency in a worker thread,
# a thread hop per dependency per request.
async def get_managed_registry(request: Request) -> ManagedRegistry:
    return request.app.state.registry


async def get_registry_in_force(request: Request) -> Registry:
    """The registry as it stands, even empty (operators import into it); 503 while it is not loaded."""
    try:
        return request.app.state.registry.current
    except RegistryNotLoaded as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), headers={"Retry-After": "5"}) from None


async def get_registry(request: Request) -> Registry:
    """The registry reports are checked against; 503 while it is not loaded or still empty."""
    registry = await get_registry_in_force(request)
    if registry.is_empty:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, EMPTY_REGISTRY_MESSAGE, headers={"Retry-After": "60"})
    return registry


async def get_active_worker(request: Request, worker: WorkerDep) -> Principal:
    """A worker's credentials, refused (401) once the registry says the worker has left."""
    return check_worker_active(worker, request.app.state.registry)


def check_worker_active(principal: Principal, managed: ManagedRegistry) -> Principal:
    if principal.role != "worker":
        return principal
    try:
        worker = managed.current.worker(principal.subject)
    except (RegistryNotLoaded, NotInRegistry):
        return principal  # an unknown worker is refused by the registry check with a precise 422
    if not worker.active:
        raise unauthorized(f"worker {worker.worker_id} is deactivated: credentials no longer valid")
    return principal


async def get_cipher(request: Request) -> ResidentCipher:
    return request.app.state.runtime.cipher


async def get_report_desk(request: Request) -> ReportDesk:
    return request.app.state.report_desk


async def get_worker_limit(request: Request) -> RateLimiter:
    return request.app.state.auth.worker_limit


ManagedRegistryDep = Annotated[ManagedRegistry, Depends(get_managed_registry)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
RegistryInForceDep = Annotated[Registry, Depends(get_registry_in_force)]
ActiveWorkerDep = Annotated[Principal, Depends(get_active_worker)]
CipherDep = Annotated[ResidentCipher, Depends(get_cipher)]
ReportDeskDep = Annotated[ReportDesk, Depends(get_report_desk)]
WorkerLimitDep = Annotated[RateLimiter, Depends(get_worker_limit)]

__all__ = [
    "ActiveWorkerDep",
    "CipherDep",
    "CurrentPrincipal",
    "ManagedRegistryDep",
    "OperatorDep",
    "OperatorOnly",
    "RegistryDep",
    "RegistryInForceDep",
    "ReportDeskDep",
    "WorkerDep",
    "WorkerLimitDep",
]
