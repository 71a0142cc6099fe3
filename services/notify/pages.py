"""The case page (/c/{tracking_token}): a server-rendered, mobile-first Chinese page with the case's timeline,
personal details masked, and the feedback form (回访) while a resolution awaits the resident's rating."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from gridloop.contracts.events import (
    RATINGS_ZH,
    DuplicateDetail,
    FeedbackDetail,
    ForwardedDetail,
    Rating,
    StatusDetail,
    mask_name,
    mask_phone,
    mask_phones,
)
from gridloop.contracts.topics import DEPARTMENT_NAMES_ZH
from services.notify.case_page import find_case, tracking_token_of
from services.notify.deps import NotifyDep
from services.notify.feedback import FeedbackAlreadyGiven, FeedbackNotFound, record_feedback
from services.notify.handlers import case_number

router = APIRouter(tags=["case page"], include_in_schema=False)
pages = Jinja2Templates(directory=Path(__file__).parent / "templates" / "pages")

# The tracking token is in the URL: keep it out of caches, referrers and search engines.
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}

STEP_LABELS: dict[str, str] = {
    "received": "已受理",
    "forwarded": "已转派",
    "not_admitted": "不属于准入事项",
    "signed": "已签收",
    "in_progress": "办理中",
    "resolved": "已办结",
    "feedback_received": "已评价",
    "reopened": "重新办理",
    "escalated": "已提请督办",
    "closed": "已结案",
    "duplicate_linked": "已并案",
    "duplicate_unlinked": "单独办理",
}
SHOWN = frozenset(STEP_LABELS)
CURRENT = SHOWN - {"feedback_received"}


@dataclass(frozen=True)
class TimelineEntry:
    status: str
    label: str
    at: str
    text: str


def step_text(status: str, department: str | None, note: str, detail: StatusDetail) -> str:
    """What the resident reads for one step; phone numbers in free text are masked."""
    department_name = DEPARTMENT_NAMES_ZH.get(department or "", "相关部门")
    if status == "forwarded":
        item = detail.item_name_zh if isinstance(detail, ForwardedDetail) else None
        return f"已转派至{department_name}" + (f"（{item}）" if item else "")
    if status == "signed":
        return f"{department_name}已签收"
    if status == "feedback_received":
        rated = detail.rating if isinstance(detail, FeedbackDetail) else None
        rating = RATINGS_ZH[rated] if rated else ""
        return f"您的评价：{rating}" + (f"。{mask_phones(note)}" if note else "")
    if status == "reopened":
        return f"已重新交{department_name}办理。您的意见：{mask_phones(note)}"
    if status == "escalated":
        return "已提请区级督办"
    if status == "duplicate_linked":  # from here on the primary's steps reach this case too
        progress = detail.primary_progress if isinstance(detail, DuplicateDetail) else None
        return "与附近居民反映的同一问题已并案办理" + (f"，当前进度：{progress}" if progress else "")
    if status == "duplicate_unlinked":
        return "经核实不是同一问题，已取消并案，单独办理"
    return mask_phones(note)


def local_time(at: datetime) -> str:
    return at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


def _notice(request: Request, status_code: int, title: str, text: str, link: str | None = None) -> HTMLResponse:
    return pages.TemplateResponse(
        request,
        "notice.html",
        {"title": title, "text": text, "link": link},
        status_code=status_code,
        headers=PRIVATE_HEADERS,
    )


@router.get("/c/{tracking_token}", response_class=HTMLResponse)
async def case_page(tracking_token: str, request: Request, runtime: NotifyDep, done: str | None = None) -> Response:
    async with runtime.db.engine.connect() as conn:
        case = await find_case(conn, tracking_token, statuses=SHOWN)
    if case is None:
        return _notice(request, 404, "未找到该事项", "链接有误或已失效，请核对短信中的链接。")
    timeline = [
        TimelineEntry(
            s.status, STEP_LABELS[s.status], local_time(s.at), step_text(s.status, s.department, s.note, s.detail)
        )
        for s in case.steps
    ]
    current = next((e for e in reversed(timeline) if e.status in CURRENT), None)
    item_name = next(
        (s.detail.item_name_zh for s in case.steps if isinstance(s.detail, ForwardedDetail) and s.detail.item_name_zh),
        None,
    )
    summary = case.summary
    resident = runtime.cipher.open(case.resident)
    context = {
        "case_no": case_number(case.case_id),
        "status_label": current.label if current else "处理中",
        "status": current.status if current else "",
        "item_name": item_name,
        "description": mask_phones(summary.get("description") or ""),
        "address": summary.get("address"),
        "resident": f"{mask_name(resident.get('name', ''))}（{mask_phone(resident.get('phone', ''))}）",
        "timeline": list(reversed(timeline)),  # newest first, as on a phone
        "feedback_token": case.feedback_token,
        "ratings": RATINGS_ZH,
        "thanked": done == "1",
        "action": f"/c/{tracking_token}/feedback",
    }
    return pages.TemplateResponse(request, "case.html", context, headers=PRIVATE_HEADERS)


@router.post("/c/{tracking_token}/feedback", response_class=HTMLResponse)
async def submit_feedback(
    tracking_token: str,
    request: Request,
    runtime: NotifyDep,
    token: Annotated[str, Form(max_length=100)],
    rating: Annotated[Rating, Form()],
    comment: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """The one-time token is spent by the first answer; any later use is refused with 410."""
    page = f"/c/{tracking_token}"
    try:
        async with runtime.db.unit_of_work() as uow:
            if await tracking_token_of(uow.conn, token) != tracking_token:
                raise FeedbackNotFound(token)
            await record_feedback(
                uow,
                token=token,
                rating=rating,
                comment=comment.strip(),
                via="web",
                now=runtime.clock.now(),
                reopen_limit=runtime.settings.feedback_reopen_limit,
            )
    except FeedbackNotFound:
        return _notice(request, 404, "评价链接无效", "该评价链接不存在，请通过短信中的链接进入。", page)
    except FeedbackAlreadyGiven:
        return _notice(
            request, 410, "评价链接已失效", "该评价链接只能使用一次，您已提交过评价，或该事项已有新的办理结果。", page
        )
    return RedirectResponse(f"{page}?done=1", status_code=303, headers=PRIVATE_HEADERS)
