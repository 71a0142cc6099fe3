"""The grid registry over HTTP, for operators: communities → grids → workers, assignments, worker credentials.

Every change is audited (before and after) in its own transaction and takes effect on this replica at once,
on the others within `registry_check_seconds`.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Form, HTTPException, Request, Response, status
from shapely.geometry import shape

from gridloop.auth.audit import record_audit
from gridloop.auth.tokens import Principal
from gridloop.registry import Community, Grid, NotInRegistry, Registry, Worker
from gridloop.registry.geojson import DistrictFiles, district_files
from gridloop.registry.importer import Datum, ImportRejected
from gridloop.registry.models import grid_dict, worker_dict
from gridloop.servicekit.app import RuntimeDep
from services.intake import registry as changes
from services.intake.deps import ManagedRegistryDep, OperatorDep, OperatorOnly, RegistryInForceDep
from services.intake.schemas import (
    Activation,
    CommunityIn,
    CommunityView,
    GridAssignment,
    GridIn,
    GridRedraw,
    GridView,
    ImportResult,
    IssuedTokenView,
    RegistryImportForm,
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
    return WorkerView(**worker_dict(worker))


def _grid_view(registry: Registry, grid: Grid) -> GridView:
    workers = [w.worker_id for w in registry.workers_of(grid.grid_id)]
    return GridView(**grid_dict(grid), worker_ids=workers)


def _not_found(exc: NotInRegistry) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, exc.args[0])


async def _change(
    request: Request,
    runtime: RuntimeDep,
    managed: ManagedRegistryDep,
    operator: Principal,
    action: str,
    target: str,
    apply: changes.Edit,
    detail: dict[str, Any],
) -> None:
    """Apply a change and its audit entry in one transaction, then reload this replica's registry."""
    try:
        async with runtime.db.engine.begin() as conn:
            await apply(conn)
            await record_audit(conn, operator, action, target=target, status=200, detail=detail, request=request)
    except changes.RegistryConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    await managed.load(runtime.db)


@router.get("", response_model=RegistrySummary)
async def registry_summary(managed: ManagedRegistryDep, registry: RegistryInForceDep) -> RegistrySummary:
    return RegistrySummary(version=managed.version, counts=registry.counts)


@router.get("/communities", response_model=list[CommunityView])
async def list_communities(registry: RegistryInForceDep) -> list[CommunityView]:
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

    await _change(
        request,
        runtime,
        managed,
        operator,
        "add_community",
        community.community_id,
        lambda conn: changes.add_community(conn, community),
        body.model_dump(),
    )
    return CommunityView(**body.model_dump(), grids=0)


@router.get("/communities/{community_id}/grids", response_model=list[GridView], responses=ERRORS)
async def list_grids(community_id: str, registry: RegistryInForceDep) -> list[GridView]:
    try:
        return [_grid_view(registry, g) for g in registry.grids_in(community_id)]
    except NotInRegistry as exc:
        raise _not_found(exc) from None


@router.post("/grids", response_model=GridView, status_code=201, responses=ERRORS)
async def add_grid(
    body: GridIn, request: Request, runtime: RuntimeDep, managed: ManagedRegistryDep, operator: OperatorDep
) -> GridView:
    grid = _grid_from(body)

    await _change(
        request,
        runtime,
        managed,
        operator,
        "add_grid",
        grid.grid_id,
        lambda conn: changes.add_grid(conn, grid),
        body.model_dump(),
    )
    return GridView(**grid_dict(grid), worker_ids=[])


def _invalid_boundary(message: str) -> HTTPException:
    """A 422 in FastAPI's validation shape (what the OpenAPI schema promises for 422), pointing at the boundary."""
    problem = {"type": "value_error", "loc": ["body", "boundary"], "msg": message, "input": None}
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [problem])


def _grid_from(body: GridIn) -> Grid:
    """A grid as posted; its boundary must be a valid polygon holding the grid's point (422 otherwise)."""
    fields = body.model_dump(exclude={"boundary"})
    if body.boundary is None:
        return Grid(**fields)
    try:
        boundary = shape(body.boundary.model_dump())
    except Exception as exc:  # shapely raises several kinds for malformed coordinates
        raise _invalid_boundary(str(exc)) from None
    if not shapely.is_valid(boundary):
        raise _invalid_boundary(shapely.is_valid_reason(boundary))
    if not shapely.intersects_xy(boundary, body.lon, body.lat):
        raise _invalid_boundary("the grid's lat/lon lies outside it")
    return Grid(**fields, boundary=boundary)


@router.get("/grids/{grid_id}", response_model=GridView, responses=ERRORS)
async def get_grid(grid_id: str, registry: RegistryInForceDep) -> GridView:
    try:
        return _grid_view(registry, registry.grid(grid_id))
    except NotInRegistry as exc:
        raise _not_found(exc) from None


@router.get("/workers/{worker_id}", response_model=WorkerView, responses=ERRORS)
async def get_worker(worker_id: str, registry: RegistryInForceDep) -> WorkerView:
    try:
        return _worker_view(registry.worker(worker_id))
    except NotInRegistry as exc:
        raise _not_found(exc) from None


@router.post("/workers", response_model=WorkerView, status_code=201, responses=ERRORS)
async def add_worker(
    body: WorkerIn, request: Request, runtime: RuntimeDep, managed: ManagedRegistryDep, operator: OperatorDep
) -> WorkerView:
    worker = Worker(body.worker_id, body.name, body.phone, tuple(dict.fromkeys(body.grid_ids)))

    detail = {"worker_id": worker.worker_id, "grid_ids": list(worker.grid_ids)}
    await _change(
        request,
        runtime,
        managed,
        operator,
        "add_worker",
        worker.worker_id,
        lambda conn: changes.add_worker(conn, worker),
        detail,
    )
    return _worker_view(worker)


@router.put("/workers/{worker_id}/grids", response_model=WorkerView, responses=ERRORS)
async def assign_worker(
    worker_id: str,
    body: GridAssignment,
    request: Request,
    runtime: RuntimeDep,
    managed: ManagedRegistryDep,
    registry: RegistryInForceDep,
    operator: OperatorDep,
) -> WorkerView:
    """Assign or move a worker: the grids given replace the worker's grids."""
    grid_ids = tuple(dict.fromkeys(body.grid_ids))

    detail = {"grid_ids": list(grid_ids)}
    try:
        registry.worker(worker_id)
    except NotInRegistry as exc:
        raise _not_found(exc) from None
    await _change(
        request,
        runtime,
        managed,
        operator,
        "assign_worker",
        worker_id,
        lambda conn: changes.assign_worker(conn, worker_id, grid_ids),
        detail,
    )
    return _worker_view(managed.current.worker(worker_id))


@router.post("/workers/{worker_id}/tokens", response_model=IssuedTokenView, status_code=201, responses=ERRORS)
async def issue_worker_token(
    worker_id: str,
    request: Request,
    runtime: RuntimeDep,
    registry: RegistryInForceDep,
    operator: OperatorDep,
    body: TokenRequest | None = None,
) -> IssuedTokenView:
    """Issue the worker app's credential (shown once; revoke it with `POST /v1/revocations` or the CLI)."""
    try:
        worker = registry.worker(worker_id)
    except NotInRegistry as exc:
        raise _not_found(exc) from None
    if not worker.active:
        raise HTTPException(status.HTTP_409_CONFLICT, f"worker {worker_id} is deactivated")
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


@router.put("/workers/{worker_id}/active", response_model=WorkerView, responses=ERRORS)
async def set_worker_active(
    worker_id: str,
    body: Activation,
    request: Request,
    runtime: RuntimeDep,
    managed: ManagedRegistryDep,
    operator: OperatorDep,
) -> WorkerView:
    """Deactivate a departed worker (their credentials are refused from the next request on; their cases stay
    theirs, visible to operators) or reactivate one."""

    action = "activate_worker" if body.active else "deactivate_worker"
    await _change(
        request,
        runtime,
        managed,
        operator,
        action,
        worker_id,
        lambda conn: changes.set_worker_active(conn, worker_id, body.active),
        {"active": body.active},
    )
    return _worker_view(managed.current.worker(worker_id))


@router.put("/grids/{grid_id}/active", response_model=GridView, responses=ERRORS)
async def set_grid_active(
    grid_id: str,
    body: Activation,
    request: Request,
    runtime: RuntimeDep,
    managed: ManagedRegistryDep,
    operator: OperatorDep,
) -> GridView:
    """Deactivate a grid no longer in use (its cases keep it; new reports are refused on it) or reactivate it.
    Refused (409) while active workers walk it: reassign them first. Grids merged or split: `POST /grids/redraw`."""

    action = "activate_grid" if body.active else "deactivate_grid"
    await _change(
        request,
        runtime,
        managed,
        operator,
        action,
        grid_id,
        lambda conn: changes.set_grid_active(conn, grid_id, body.active),
        {"active": body.active},
    )
    return _grid_view(managed.current, managed.current.grid(grid_id))


@router.post(
    "/grids/redraw",
    response_model=ImportResult,
    responses={**ERRORS, 422: {"description": "the result fails the import checks"}},
)
async def redraw_grids(
    body: GridRedraw, request: Request, runtime: RuntimeDep, managed: ManagedRegistryDep, operator: OperatorDep
) -> ImportResult:
    """Merge or split grids: the retired grids are deactivated (their cases keep them), the drawn ones added, the
    workers moved; the result passes the import's checks (overlaps, gaps) and is applied the same way, as one
    audited version (`redraw_grids`). `dry_run` shows the difference."""
    drawn = [_grid_from(g) for g in body.grids]
    moves = {w.worker_id: tuple(dict.fromkeys(w.grid_ids)) for w in body.workers}
    try:
        planned = changes.redrawn(managed.current, retire=set(body.retire), drawn=drawn, moves=moves)
    except changes.RegistryConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    files = await asyncio.to_thread(district_files, planned)
    return await _import(request, runtime, managed, operator, files, "wgs84", body.dry_run, "redraw_grids")


EXPORTS = {
    "streets.geojson": ("streets", "application/geo+json"),
    "communities.geojson": ("communities", "application/geo+json"),
    "grids.geojson": ("grids", "application/geo+json"),
    "workers.csv": ("workers", "text/csv; charset=utf-8"),
}


@router.get(
    "/files/{name}",
    responses={404: {"description": "not one of streets.geojson, communities.geojson, grids.geojson, workers.csv"}},
)
async def export_registry_file(name: str, registry: RegistryInForceDep) -> Response:
    """The registry in force as one of its import files (docs/registry.md): the streets', communities' and grids'
    boundaries as stored, the active workers. Importing the four files back changes nothing."""
    if name not in EXPORTS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no registry file {name!r}; one of {', '.join(EXPORTS)}")
    kind, media_type = EXPORTS[name]
    files = await asyncio.to_thread(district_files, registry)
    content = getattr(files, kind) or b""
    return Response(content, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'})


IMPORT_ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "operators only"},
    422: {"description": "the files do not describe a usable registry: every problem, loc [body, file, place]"},
}


@router.post("/imports", response_model=ImportResult, responses=IMPORT_ERRORS)
async def import_registry(
    request: Request,
    runtime: RuntimeDep,
    managed: ManagedRegistryDep,
    operator: OperatorDep,
    form: Annotated[RegistryImportForm, Form()],
) -> ImportResult:
    """Import a district's registry (docs/registry.md): streets, communities and grids as GeoJSON, workers as CSV
    or XLSX. Applied as one version with one audit entry; `dry_run` shows the difference without applying it;
    files that describe the registry in force change nothing. Grids and workers not in the files are deactivated."""
    files = DistrictFiles(
        communities=await form.communities.read(),
        grids=await form.grids.read(),
        workers=await form.workers.read(),
        workers_format="xlsx" if (form.workers.filename or "").lower().endswith(".xlsx") else "csv",
        streets=await form.streets.read() if form.streets is not None else None,
    )
    return await _import(request, runtime, managed, operator, files, form.datum, form.dry_run, "import_registry")


async def _import(
    request: Request,
    runtime: RuntimeDep,
    managed: ManagedRegistryDep,
    operator: Principal,
    files: DistrictFiles,
    datum: Datum,
    dry_run: bool,
    action: str,
) -> ImportResult:
    try:
        async with runtime.db.engine.begin() as conn:
            change = await changes.import_district(
                conn, files, operator=operator, datum=datum, dry_run=dry_run, request=request, action=action
            )
    except ImportRejected as exc:
        # In FastAPI's own 422 shape: loc names the form part (file) and the feature or line in it.
        problems = [
            {"loc": ["body", p.file, *([p.where] if p.where else [])], "msg": p.message, "type": "value_error"}
            for p in exc.problems
        ]
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problems) from None
    applied = not dry_run and not change.is_empty
    if applied:
        await managed.load(runtime.db)
    return ImportResult(
        dry_run=dry_run,
        applied=applied,
        version=managed.version,
        summary=change.summary(),
        preview=change.preview(),
        changes=change.as_dict(),
    )
