"""The grid registry over HTTP, for operators: communities → grids → workers, assignments, worker credentials.

Every change is audited (before and after) in its own transaction and takes effect on this replica at once,
on the others within `registry_check_seconds`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncConnection

from gridloop.auth.audit import record_audit
from gridloop.auth.tokens import Principal
from gridloop.registry import Community, Grid, NotInRegistry, Worker
from gridloop.servicekit.app import RuntimeDep
from services.intake import registry as changes
from services.intake.deps import ManagedRegistryDep, OperatorDep, OperatorOnly, RegistryDep
from services.intake.schemas import (
    CommunityIn,
    CommunityView,
    GridAssignment,
    GridIn,
    GridView,
    IssuedTokenView,
    RegistrySummary,
    TokenRequest,
    WorkerIn,
    WorkerView,
)

router = APIRouter(prefix="/v1/registry", tags=["grid registry"], dependencies=[OperatorOnly])
ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "operators only"},
    404: {"description": "no such community, grid or worker"},
    409: {"description": "exists already, or names something that does not exist"},
}


def _worker_view(worker: Worker) -> WorkerView:
    return WorkerView(worker_id=worker.worker_id, name=worker.name, phone=worker.phone, grid_ids=list(worker.grid_ids))


def _grid_view(registry: RegistryDep, grid: Grid) -> GridView:
    workers = [w.worker_id for w in registry.workers_of(grid.grid_id)]
    return GridView(**{f: getattr(grid, f) for f in Grid.__slots__}, worker_ids=workers)


def _not_found(exc: NotInRegistry) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, exc.args[0])


async def _change(
    request: Request,
    runtime: RuntimeDep,
    managed: ManagedRegistryDep,
    operator: Principal,
    action: str,
    target: str,
    apply: Any,
    detail: dict[str, Any],
) -> Any:
    """Apply a change and its audit entry in one transaction, then reload this replica's registry."""
    try:
        async with runtime.db.engine.begin() as conn:
            result = await apply(conn)
            await record_audit(conn, operator, action, target=target, status=200, detail=detail, request=request)
    except changes.RegistryConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    await managed.load(runtime.db)
    return result


@router.get("", response_model=RegistrySummary)
async def registry_summary(managed: ManagedRegistryDep, registry: RegistryDep) -> RegistrySummary:
    return RegistrySummary(version=managed.version, counts=registry.counts)


@router.get("/communities", response_model=list[CommunityView])
async def list_communities(registry: RegistryDep) -> list[CommunityView]:
    grids: dict[str, int] = {}
    for grid in registry.grids:
        grids[grid.community_id] = grids.get(grid.community_id, 0) + 1
    return [
        CommunityView(community_id=c.community_id, name=c.name, street=c.street, grids=grids.get(c.community_id, 0))
        for c in registry.communities
    ]


@router.post("/communities", response_model=CommunityView, status_code=201, responses=ERRORS)
async def add_community(
    body: CommunityIn, request: Request, runtime: RuntimeDep, managed: ManagedRegistryDep, operator: OperatorDep
) -> CommunityView:
    community = Community(**body.model_dump())

    async def apply(conn: AsyncConnection) -> None:
        await changes.add_community(conn, community)

    await _change(
        request, runtime, managed, operator, "add_community", community.community_id, apply, body.model_dump()
    )
    return CommunityView(**body.model_dump(), grids=0)


@router.get("/communities/{community_id}/grids", response_model=list[GridView], responses=ERRORS)
async def list_grids(community_id: str, registry: RegistryDep) -> list[GridView]:
    try:
        return [_grid_view(registry, g) for g in registry.grids_in(community_id)]
    except NotInRegistry as exc:
        raise _not_found(exc) from None


@router.post("/grids", response_model=GridView, status_code=201, responses=ERRORS)
async def add_grid(
    body: GridIn, request: Request, runtime: RuntimeDep, managed: ManagedRegistryDep, operator: OperatorDep
) -> GridView:
    grid = Grid(**body.model_dump())

    async def apply(conn: AsyncConnection) -> None:
        await changes.add_grid(conn, grid)

    await _change(request, runtime, managed, operator, "add_grid", grid.grid_id, apply, body.model_dump())
    return GridView(**body.model_dump(), worker_ids=[])


@router.get("/grids/{grid_id}", response_model=GridView, responses=ERRORS)
async def get_grid(grid_id: str, registry: RegistryDep) -> GridView:
    try:
        return _grid_view(registry, registry.grid(grid_id))
    except NotInRegistry as exc:
        raise _not_found(exc) from None


@router.get("/workers/{worker_id}", response_model=WorkerView, responses=ERRORS)
async def get_worker(worker_id: str, registry: RegistryDep) -> WorkerView:
    try:
        return _worker_view(registry.worker(worker_id))
    except NotInRegistry as exc:
        raise _not_found(exc) from None


@router.post("/workers", response_model=WorkerView, status_code=201, responses=ERRORS)
async def add_worker(
    body: WorkerIn, request: Request, runtime: RuntimeDep, managed: ManagedRegistryDep, operator: OperatorDep
) -> WorkerView:
    worker = Worker(body.worker_id, body.name, body.phone, tuple(dict.fromkeys(body.grid_ids)))

    async def apply(conn: AsyncConnection) -> None:
        await changes.add_worker(conn, worker)

    detail = {"worker_id": worker.worker_id, "grid_ids": list(worker.grid_ids)}
    await _change(request, runtime, managed, operator, "add_worker", worker.worker_id, apply, detail)
    return _worker_view(worker)


@router.put("/workers/{worker_id}/grids", response_model=WorkerView, responses=ERRORS)
async def assign_worker(
    worker_id: str,
    body: GridAssignment,
    request: Request,
    runtime: RuntimeDep,
    managed: ManagedRegistryDep,
    registry: RegistryDep,
    operator: OperatorDep,
) -> WorkerView:
    """Assign or move a worker: the grids given replace the worker's grids."""
    grid_ids = tuple(dict.fromkeys(body.grid_ids))
    before: list[tuple[str, ...]] = []

    async def apply(conn: AsyncConnection) -> None:
        before.append(await changes.assign_worker(conn, worker_id, grid_ids))

    detail = {"grid_ids": list(grid_ids)}
    try:
        registry.worker(worker_id)
    except NotInRegistry as exc:
        raise _not_found(exc) from None
    await _change(request, runtime, managed, operator, "assign_worker", worker_id, apply, detail)
    return _worker_view(managed.current.worker(worker_id))


@router.post("/workers/{worker_id}/tokens", response_model=IssuedTokenView, status_code=201, responses=ERRORS)
async def issue_worker_token(
    worker_id: str,
    request: Request,
    runtime: RuntimeDep,
    registry: RegistryDep,
    operator: OperatorDep,
    body: TokenRequest | None = None,
) -> IssuedTokenView:
    """Issue the worker app's credential (shown once; revoke it with `POST /v1/revocations` or the CLI)."""
    try:
        registry.worker(worker_id)
    except NotInRegistry as exc:
        raise _not_found(exc) from None
    settings = runtime.settings.auth
    ttl = timedelta(days=body.days) if body and body.days else settings.token_ttl("worker")
    issued = request.app.state.auth.tokens.issue(role="worker", subject=worker_id, ttl=ttl)
    async with runtime.db.engine.begin() as conn:
        detail = {"token_id": issued.token_id, "expires_at": issued.expires_at.isoformat()}
        await record_audit(
            conn, operator, "issue_worker_token", target=worker_id, status=201, detail=detail, request=request
        )
    return IssuedTokenView(
        token=issued.token,
        token_id=issued.token_id,
        role="worker",
        subject=worker_id,
        expires_at=issued.expires_at,
    )
