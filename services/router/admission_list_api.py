"""The admission list over HTTP: read the list in force and its history; operators replace it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel

from gridloop.admission.admission_list import AdmissionListError
from gridloop.servicekit.app import RuntimeDep
from services.router.admission_list import audit_trail, record_rejection, replace_admission_list
from services.router.deps import AdmissionListDep, ModelDep, OperatorOnly, SignedIn

router = APIRouter(prefix="/v1/admission-list", tags=["admission list"])
TSV_TYPES = frozenset({"text/tab-separated-values", "text/plain"})


class ItemView(BaseModel):
    code: str
    department: str
    name_zh: str
    name_en: str
    scope_zh: str
    resolve_hours: int
    visibility: str  # personal | public (docs/open311.md)


class AdmissionListView(BaseModel):
    version: str
    model_version: str  # the classifier model deciding with this list on this replica
    items: list[ItemView]


class ListChange(BaseModel):
    version: str
    previous_version: str
    changed: bool
    items: int


class AuditEntry(BaseModel):
    action: str  # activated | unchanged | rejected
    version: str | None
    previous_version: str
    operator: str
    at: datetime
    detail: str


@router.get("", response_model=AdmissionListView, dependencies=[SignedIn])
async def get_admission_list(active: AdmissionListDep, model: ModelDep) -> AdmissionListView:
    """The list in force on this replica: its version, its items, and the model deciding with it."""
    current = active.current
    return AdmissionListView(
        version=current.version,
        model_version=model.version,
        items=[ItemView.model_validate(i, from_attributes=True) for i in current.items.values()],
    )


@router.put(
    "",
    response_model=ListChange,
    dependencies=[OperatorOnly],
    responses={
        403: {"description": "not an operator"},
        415: {"description": "not TSV"},
        422: {"description": "bad list"},
    },
    openapi_extra={"requestBody": {"content": {"text/tab-separated-values": {"schema": {"type": "string"}}}}},
)
async def put_admission_list(
    request: Request,
    runtime: RuntimeDep,
    active: AdmissionListDep,
    operator: Annotated[str, Query(min_length=1, max_length=50)],
) -> ListChange:
    """Replace the list (TSV body, header line first). A bad file is refused naming the line; the list in
    force stays in force. Every attempt is audited."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in TSV_TYPES:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the list as text/tab-separated-values")
    undecodable: UnicodeDecodeError | None = None
    try:
        text = (await request.body()).decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text, undecodable = "", exc
    return await replace_list(runtime, active, text=text, operator=operator, undecodable=undecodable)


async def replace_list(
    runtime: RuntimeDep,
    active: AdmissionListDep,
    *,
    text: str,
    operator: str,
    undecodable: UnicodeDecodeError | None = None,
) -> ListChange:
    """Validate and activate a list (the PUT route and the operator console): 422 naming the bad line."""
    now = runtime.clock.now()
    try:
        if undecodable is not None:
            raise undecodable
        async with runtime.db.engine.begin() as conn:
            change = await replace_admission_list(conn, tsv=text, operator=operator, now=now, in_force=active.current)
    except (AdmissionListError, UnicodeDecodeError) as exc:
        error = exc if isinstance(exc, AdmissionListError) else AdmissionListError(f"not UTF-8 text: {exc}")
        async with runtime.db.engine.begin() as conn:
            await record_rejection(conn, error=error, operator=operator, now=now, in_force=active.version)
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    active.use(change.admission_list)
    return ListChange(
        version=change.admission_list.version,
        previous_version=change.previous_version,
        changed=change.changed,
        items=len(change.admission_list),
    )


@router.get("/versions", response_model=list[AuditEntry], dependencies=[OperatorOnly])
async def get_versions(runtime: RuntimeDep) -> list[AuditEntry]:
    """Every replacement attempt, newest first: who, when, which version, and what was wrong if refused."""
    async with runtime.db.engine.connect() as conn:
        return [AuditEntry.model_validate(row) for row in await audit_trail(conn)]
