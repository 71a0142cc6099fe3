"""The department clerk console's routes (/desk): the worklist, a case, and its steps. Every read and step calls
the REST API's own route function with the clerk's `Caller` (same department scoping, same rules and 409s); the
clerk recorded on a step is the one the credential names."""

# No `from __future__ import annotations`: FastAPI must see the session dependency built in this function.

import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from gridloop.consoles.kit import Console, ConsoleSession, render, session_dependency, sign_in_router
from gridloop.consoles.media import signed_photo_url
from gridloop.contracts.topics import DEPARTMENT_NAMES_ZH
from gridloop.servicekit.app import RuntimeDep
from services.departments import api, clerk_console
from services.departments.deps import Caller, get_caller
from services.departments.schemas import (
    ExtensionIn,
    ProgressIn,
    ResolveIn,
    ReturnIn,
    SignIn,
    UnlinkIn,
    WorkItemView,
)
from services.departments.settings import DepartmentsSettings

HERE = Path(__file__).parent
DONE_ZH = {
    "sign": "已签收。",
    "progress": "已记录办理进展。",
    "resolve": "已办结，居民将收到办理结果。",
    "return": "已退单，区级将重新分拨。",
    "extension": "已提交延期申请，等待区级值班员审批。",
    "duplicate_confirm": "已确认为重复件，随主事项一并办理，居民将收到并案通知。",
    "duplicate_reject": "已确认不是重复件，单独办理。",
}


def clerk_console_router(settings: DepartmentsSettings) -> tuple[APIRouter, Console]:
    console = Console(
        prefix="/desk",
        title="部门办理台",
        role="department",
        templates_dir=HERE / "templates" / "clerk",
        secure_cookie=settings.console_secure_cookie,
        person_required=True,
    )
    templates = console.templates()
    templates.env.globals.update(
        department_names=DEPARTMENT_NAMES_ZH,
        status_zh=clerk_console.STATUS_ZH,
        activity_zh=clerk_console.ACTIVITY_ZH,
        extension_states=clerk_console.EXTENSION_STATES_ZH,
        return_reasons=clerk_console.RETURN_REASONS_ZH,
        local=clerk_console.local,
        escalation_zh=clerk_console.escalation_zh,
    )
    Session = Annotated[ConsoleSession, Depends(session_dependency(console))]
    router = APIRouter(include_in_schema=False)
    router.include_router(sign_in_router(console, home="/desk"))

    async def caller_of(session: ConsoleSession) -> Caller:
        return await get_caller(session.principal)

    @router.get("/desk", response_class=HTMLResponse)
    async def worklist(
        request: Request,
        session: Session,
        runtime: RuntimeDep,
        tab: Annotated[str, Query(pattern="^(to_sign|in_progress|returned)$")] = "to_sign",
        item: Annotated[str, Query(max_length=8)] = "",
        community: Annotated[str, Query(max_length=32)] = "",
        done: Annotated[str | None, Query(max_length=20)] = None,
    ) -> HTMLResponse:
        caller = await caller_of(session)
        now = request.app.state.clock.now()
        counts, rows, every, open_items = {}, [], [], []
        for name, (_label, statuses) in clerk_console.TABS.items():
            items = []
            for status in statuses:
                page = await api.list_work_items(runtime, caller, None, status, False, 500, 0)  # type: ignore[arg-type]
                items += page.items
            counts[name] = len(items)
            open_items += items
            if name == tab:
                every = items
                rows = clerk_console.worklist(items, now, item_code=item, community=community)
        context = {
            "tab": tab,
            "tabs": clerk_console.TABS,
            "counts": counts,
            "rows": rows,
            "item": item,
            "community": community,
            "item_choices": sorted({(i.item_code, i.item_name_zh) for i in every}),
            "community_choices": sorted({i.community_id for i in every}),
            "department": DEPARTMENT_NAMES_ZH.get(caller.department or "", ""),
            "suspects": clerk_console.suspects_by_primary(open_items),
            "flash": DONE_ZH.get(done or ""),
        }
        return render(templates, request, "worklist.html", session, context)

    async def case_page(
        request: Request,
        session: ConsoleSession,
        runtime: Any,
        case_id: uuid.UUID,
        *,
        error: str | None = None,
        status_code: int = 200,
        done: str | None = None,
    ) -> HTMLResponse:
        caller = await caller_of(session)
        now = request.app.state.clock.now()
        try:
            item = await api.get_work_item(case_id, runtime, caller)
        except HTTPException as exc:
            return render(
                templates,
                request,
                "refused.html",
                session,
                {"message": clerk_console.refusal_zh(exc.status_code, exc.detail)},
                status_code=exc.status_code,
            )
        activity = await api.get_activity(case_id, runtime, caller)
        extensions = await api.list_extensions(case_id, runtime, caller)
        suspects: list[WorkItemView] = []
        if item.status in ("dispatched", "signed", "in_progress"):  # open: others may be suspected of duplicating it
            for status in ("dispatched", "signed", "in_progress"):
                page = await api.list_work_items(runtime, caller, None, status, False, 500, 0)
                suspects += clerk_console.suspects_by_primary(page.items).get(item.case_id, [])
        base = settings.intake_public_url.rstrip("/") + "/media/"
        photos = [
            signed_photo_url(request.app.state.auth.tokens, url, now=time.time())
            for url in item.photo_urls
            if url.startswith(base)  # only intake's own photos get a signed link
        ]
        context = {
            "item": item,
            "row": clerk_console.worklist_row(item, now),
            "activity": list(reversed(activity)),
            "extensions": extensions,
            "photos": photos,
            "suspects": suspects,
            "error": error,
            "flash": DONE_ZH.get(done or "") if not error else error,
            "flash_kind": "error" if error else "ok",
        }
        return render(templates, request, "case.html", session, context, status_code=status_code)

    @router.get("/desk/cases/{case_id}", response_class=HTMLResponse)
    async def case(
        case_id: uuid.UUID,
        request: Request,
        session: Session,
        runtime: RuntimeDep,
        done: Annotated[str | None, Query(max_length=16)] = None,
    ) -> HTMLResponse:
        return await case_page(request, session, runtime, case_id, done=done)

    async def step(
        request: Request,
        session: ConsoleSession,
        runtime: Any,
        case_id: uuid.UUID,
        name: str,
        call: Callable[[Caller, Any], Awaitable[object]],
        back: str = "case",
    ) -> Response:
        """Run the API's route function; a refusal re-renders the case with the reason in Chinese. Done, back to
        the case (or to the worklist the step was taken from)."""
        caller = await caller_of(session)
        try:
            await call(caller, request.app.state.clock.now())
        except HTTPException as exc:
            message = clerk_console.refusal_zh(exc.status_code, exc.detail)
            return await case_page(request, session, runtime, case_id, error=message, status_code=exc.status_code)
        except ValidationError:
            message = clerk_console.refusal_zh(422, "")
            return await case_page(request, session, runtime, case_id, error=message, status_code=422)
        if back == "worklist":
            return RedirectResponse(f"/desk?done={name}", status_code=303)
        return RedirectResponse(f"/desk/cases/{case_id}?done={name}", status_code=303)

    def person(session: ConsoleSession) -> str:
        return session.principal.name or session.principal.subject

    @router.post("/desk/cases/{case_id}/sign")
    async def sign(case_id: uuid.UUID, request: Request, session: Session, runtime: RuntimeDep) -> Response:
        return await step(
            request, session, runtime, case_id, "sign",
            lambda caller, now: api.sign(case_id, SignIn(assignee=person(session)), runtime, caller, now),
        )  # fmt: skip

    @router.post("/desk/cases/{case_id}/progress")
    async def progress(
        case_id: uuid.UUID,
        request: Request,
        session: Session,
        runtime: RuntimeDep,
        note: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        return await step(
            request, session, runtime, case_id, "progress",
            lambda caller, now: api.progress(
                case_id, ProgressIn(assignee=person(session), note=note.strip()), runtime, caller, now
            ),
        )  # fmt: skip

    @router.post("/desk/cases/{case_id}/resolve")
    async def resolve(
        case_id: uuid.UUID,
        request: Request,
        session: Session,
        runtime: RuntimeDep,
        result: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        return await step(
            request, session, runtime, case_id, "resolve",
            lambda caller, now: api.resolve(
                case_id, ResolveIn(result=result.strip(), assignee=person(session)), runtime, caller, now
            ),
        )  # fmt: skip

    @router.post("/desk/cases/{case_id}/return")
    async def return_case(
        case_id: uuid.UUID,
        request: Request,
        session: Session,
        runtime: RuntimeDep,
        reason_code: Annotated[str, Form(max_length=40)] = "",
        note: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        body = {"reason_code": reason_code, "note": note.strip(), "assignee": person(session)}
        return await step(
            request, session, runtime, case_id, "return",
            lambda caller, now: api.return_case(
                case_id,
                ReturnIn.model_validate(body),
                runtime, caller, now,
            ),
        )  # fmt: skip

    @router.post("/desk/cases/{case_id}/extension")
    async def extension(
        case_id: uuid.UUID,
        request: Request,
        session: Session,
        runtime: RuntimeDep,
        hours: Annotated[int, Form(ge=1, le=720)] = 24,
        reason: Annotated[str, Form(max_length=2000)] = "",
    ) -> Response:
        return await step(
            request, session, runtime, case_id, "extension",
            lambda caller, now: api.request_extension(
                case_id, ExtensionIn(assignee=person(session), reason=reason.strip(), hours=hours), runtime, caller, now
            ),
        )  # fmt: skip

    @router.post("/desk/cases/{case_id}/duplicate/{decision}")
    async def duplicate(
        case_id: uuid.UUID,
        decision: Literal["confirm", "reject"],
        request: Request,
        session: Session,
        runtime: RuntimeDep,
        back: Annotated[Literal["case", "worklist"], Form()] = "case",
    ) -> Response:
        """One click on a suspected duplicate: the API's confirm or reject, the clerk recorded from the credential."""
        decide = api.confirm_duplicate if decision == "confirm" else api.reject_duplicate
        return await step(
            request, session, runtime, case_id, f"duplicate_{decision}",
            lambda caller, now: decide(case_id, UnlinkIn(operator=person(session)), runtime, caller, now),
            back=back,
        )  # fmt: skip

    return router, console
