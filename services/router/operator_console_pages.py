"""The district operator console's routes (/ops): triage, supervision (extensions, escalations), the admission
list and the rate board. Triage and the admission list call the router's own REST route functions; the
departments' data comes from the departments REST API with the operator's credential (operator_console.py)."""

# No `from __future__ import annotations`: FastAPI must see the session dependency built in this function.

import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from gridloop.admission.examples import NOT_ADMITTED_REASONS
from gridloop.consoles.kit import (
    WORK_STATUS_ZH,
    Console,
    ConsoleSession,
    render,
    session_dependency,
    sign_in_router,
)
from gridloop.contracts.topics import DEPARTMENT_NAMES_ZH
from gridloop.servicekit.app import RuntimeDep
from services.router import admission_list_api, triage_api
from services.router.deps import AdmissionListDep, ModelDep
from services.router.operator_console import (
    GROUPS_ZH,
    SHANGHAI,
    DepartmentsClient,
    DepartmentsUnavailable,
    TriageCandidates,
    period,
)
from services.router.settings import RouterSettings

HERE = Path(__file__).parent
UNAVAILABLE = "部门服务暂时无法访问，请稍后刷新。"
DONE_ZH = {
    "assigned": "已分拨，事项已转派至责任部门。",
    "not_admitted": "已标记为不属于准入事项，居民将收到说明。",
    "extension": "已处理延期申请。",
    "list": "准入清单已更新。",
    "list_unchanged": "清单内容与现行版本相同，未作变更。",
}


def local(at: datetime | None) -> str:
    return at.astimezone(SHANGHAI).strftime("%m-%d %H:%M") if at else ""


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def operator_console_router(settings: RouterSettings, candidates: TriageCandidates) -> tuple[APIRouter, Console]:
    console = Console(
        prefix="/ops",
        title="区级值班台",
        role="operator",
        templates_dir=HERE / "templates" / "operator",
        secure_cookie=settings.console_secure_cookie,
    )
    templates = console.templates()
    templates.env.globals.update(
        department_names=DEPARTMENT_NAMES_ZH,
        local=local,
        percent=percent,
        reasons=NOT_ADMITTED_REASONS,
        groups=GROUPS_ZH,
        work_status=WORK_STATUS_ZH,
    )
    Session = Annotated[ConsoleSession, Depends(session_dependency(console))]
    router = APIRouter(include_in_schema=False)
    router.include_router(sign_in_router(console, home="/ops"))

    def departments(session: ConsoleSession, request: Request) -> DepartmentsClient:
        return DepartmentsClient(settings.departments_url, session.token)

    def page(request: Request, session: ConsoleSession, name: str, tab: str, **context: Any) -> HTMLResponse:
        status_code = context.pop("status_code", 200)
        return render(templates, request, name, session, {"tab": tab, **context}, status_code=status_code)

    async def triage_page(
        request: Request,
        session: ConsoleSession,
        runtime: Any,
        active: Any,
        *,
        error: str | None = None,
        done: str | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        open_cases = await triage_api.list_triage(runtime, "open", 100)
        decided = await triage_api.list_triage(runtime, "decided", 20)
        in_force = active.current
        ranked = {c.case_id: candidates.rank(c.description, in_force) for c in open_cases}
        return page(
            request,
            session,
            "triage.html",
            "triage",
            new=[c for c in open_cases if c.returns == 0],
            returned=[c for c in open_cases if c.returns > 0],
            decided=decided,
            ranked=ranked,
            items=list(in_force.items.values()),
            flash=error or DONE_ZH.get(done or ""),
            flash_kind="error" if error else "ok",
            status_code=status_code,
        )

    @router.get("/ops", response_class=HTMLResponse)
    async def triage(
        request: Request,
        session: Session,
        runtime: RuntimeDep,
        active: AdmissionListDep,
        done: Annotated[str | None, Query(max_length=16)] = None,
    ) -> HTMLResponse:
        return await triage_page(request, session, runtime, active, done=done)

    async def decide(
        request: Request, session: ConsoleSession, runtime: Any, active: Any, done: str, call: Any
    ) -> Response:
        try:
            await call()
        except HTTPException as exc:
            message = {
                404: "未找到该事项。",
                409: "该事项已由其他值班员处理，或已不在待分拨队列中。",
                422: "事项编号或不予受理原因无效。",
            }.get(exc.status_code, "操作未完成。")
            return await triage_page(request, session, runtime, active, error=message, status_code=exc.status_code)
        except ValidationError:
            return await triage_page(request, session, runtime, active, error="请选择事项或原因。", status_code=422)
        return RedirectResponse(f"/ops?done={done}", status_code=303)

    @router.post("/ops/triage/{case_id}/assign")
    async def assign(
        case_id: uuid.UUID,
        request: Request,
        session: Session,
        runtime: RuntimeDep,
        active: AdmissionListDep,
        item_code: Annotated[str, Form(max_length=80)] = "",
        other_item: Annotated[str, Form(max_length=80)] = "",
    ) -> Response:
        chosen = other_item.strip() or item_code.strip()  # an item typed in wins over the classifier's candidate
        code = chosen.split(" ")[0].upper()
        operator = session.principal.subject
        return await decide(
            request, session, runtime, active, "assigned",
            lambda: triage_api.assign(
                case_id, triage_api.Assignment(item_code=code, operator=operator), runtime, active
            ),
        )  # fmt: skip

    @router.post("/ops/triage/{case_id}/not-admitted")
    async def not_admitted(
        case_id: uuid.UUID,
        request: Request,
        session: Session,
        runtime: RuntimeDep,
        active: AdmissionListDep,
        reason_code: Annotated[str, Form(max_length=40)] = "",
        reason: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        body = {"reason_code": reason_code, "reason": reason.strip(), "operator": session.principal.subject}
        return await decide(
            request, session, runtime, active, "not_admitted",
            lambda: triage_api.not_admitted(case_id, triage_api.NotAdmitted.model_validate(body), runtime, active),
        )  # fmt: skip

    @router.get("/ops/supervision", response_class=HTMLResponse)
    async def supervision(
        request: Request, session: Session, done: Annotated[str | None, Query(max_length=16)] = None
    ) -> HTMLResponse:
        client = departments(session, request)
        try:
            extensions, escalated = await client.pending_extensions(), await client.escalated()
            error = None
        except DepartmentsUnavailable:
            extensions, escalated, error = [], [], UNAVAILABLE
        return page(
            request,
            session,
            "supervision.html",
            "supervision",
            extensions=extensions,
            escalated=escalated,
            flash=error or DONE_ZH.get(done or ""),
            flash_kind="error" if error else "ok",
        )

    @router.post("/ops/extensions/{case_id}/{extension_id}")
    async def decide_extension(
        case_id: uuid.UUID,
        extension_id: uuid.UUID,
        request: Request,
        session: Session,
        approve: Annotated[bool, Form()],
        note: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        client = departments(session, request)
        try:
            await client.decide_extension(
                case_id, extension_id, approve=approve, operator=session.principal.subject, note=note.strip()
            )
        except DepartmentsUnavailable:
            return page(request, session, "supervision.html", "supervision", extensions=[], escalated=[],
                        flash=UNAVAILABLE, flash_kind="error", status_code=503)  # fmt: skip
        return RedirectResponse("/ops/supervision?done=extension", status_code=303)

    @router.get("/ops/admission-list", response_class=HTMLResponse)
    async def admission_list(
        request: Request,
        session: Session,
        runtime: RuntimeDep,
        active: AdmissionListDep,
        model: ModelDep,
        done: Annotated[str | None, Query(max_length=16)] = None,
    ) -> HTMLResponse:
        return await list_page(request, session, runtime, active, model, done=done)

    async def list_page(
        request: Request,
        session: ConsoleSession,
        runtime: Any,
        active: Any,
        model: Any,
        *,
        done: str | None = None,
        error: str | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        current = await admission_list_api.get_admission_list(active, model)
        versions = await admission_list_api.get_versions(runtime)
        return page(
            request,
            session,
            "admission_list.html",
            "list",
            current=current,
            versions=versions[:10],
            flash=error or DONE_ZH.get(done or ""),
            flash_kind="error" if error else "ok",
            status_code=status_code,
        )

    @router.post("/ops/admission-list")
    async def replace_admission_list(
        request: Request,
        session: Session,
        runtime: RuntimeDep,
        active: AdmissionListDep,
        model: ModelDep,
        tsv: Annotated[UploadFile, File()],
    ) -> Response:
        raw = await tsv.read()
        try:
            text, undecodable = raw.decode("utf-8-sig"), None
        except UnicodeDecodeError as exc:
            text, undecodable = "", exc
        try:
            change = await admission_list_api.replace_list(
                runtime, active, text=text, operator=session.principal.subject, undecodable=undecodable
            )
        except HTTPException as exc:
            error = f"清单未通过校验，现行清单保持不变：{exc.detail}"
            return await list_page(request, session, runtime, active, model, error=error, status_code=exc.status_code)
        return RedirectResponse(f"/ops/admission-list?done={'list' if change.changed else 'list_unchanged'}", 303)

    @router.get("/ops/rates", response_class=HTMLResponse)
    async def rates(
        request: Request,
        session: Session,
        group_by: Annotated[str, Query(pattern="^(department|item|community)$")] = "department",
        start: Annotated[date | None, Query(alias="from")] = None,
        end: Annotated[date | None, Query(alias="to")] = None,
    ) -> HTMLResponse:
        today = datetime.now(SHANGHAI).date()
        window = period(start, end, today)
        try:
            rows, error = await departments(session, request).rates(group_by, *window), None
        except DepartmentsUnavailable:
            rows, error = [], UNAVAILABLE
        item_names = {i.code: i.name_zh for i in request.app.state.admission_list.current.items.values()}
        return page(
            request,
            session,
            "rates.html",
            "rates",
            rows=rows,
            group_by=group_by,
            start=window[0].date(),
            end=end or today,
            item_names=item_names,
            flash=error,
            flash_kind="error",
        )

    return router, console
