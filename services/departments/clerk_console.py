"""The department clerk console's logic: the worklist's tabs, deadlines and time left, and the API's refusals in
Chinese (routes in clerk_console_pages.py; docs/consoles.md)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from gridloop.consoles.kit import WORK_STATUS_ZH
from services.departments.handlers import RETURN_REASONS
from services.departments.schemas import WorkItemView
from services.departments.sla import DEADLINE_ZH, LADDER, LADDER_ZH
from services.departments.steps import OPEN_STATUSES

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Worklist tabs: the work item statuses each shows, and its label.
TABS: dict[str, tuple[str, tuple[str, ...]]] = {
    "to_sign": ("待签收", ("dispatched",)),
    "in_progress": ("办理中", ("signed", "in_progress")),
    "returned": ("已退单", ("returned",)),
}
STATUS_ZH = WORK_STATUS_ZH
ACTIVITY_ZH = {
    "signed": "签收",
    "in_progress": "办理进展",
    "resolved": "办结",
    "returned": "退单",
    "reopened": "重新办理",
    "received": "接收派单",
    "extension_requested": "申请延期",
    "extension_approved": "延期获批",
    "extension_refused": "延期未获批",
    "sla_warning": "时限预警",
    "sla_breached": "超时",
    "escalated": "升级督办",
    "duplicate_suspected": "疑似重复",
    "duplicate_linked": "并案办理",
    "duplicate_rejected": "确认不是重复",
    "duplicate_unlinked": "取消并案",
}
EXTENSION_STATES_ZH = {"pending": "待审批", "approved": "已批准", "refused": "未批准"}
RETURN_REASONS_ZH = RETURN_REASONS


@dataclass(frozen=True)
class WorklistRow:
    item: WorkItemView
    deadline: datetime
    deadline_label: str  # 签收时限 or 办结时限
    time_left: str
    breached: bool
    soon: bool


def local(at: datetime | None) -> str:
    return at.astimezone(SHANGHAI).strftime("%m-%d %H:%M") if at else ""


def time_left(deadline: datetime, now: datetime) -> tuple[str, bool]:
    """("剩 3小时20分" | "超时 1天2小时", breached)."""
    seconds = int((deadline - now).total_seconds())
    breached = seconds < 0
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    text = f"{days}天{hours}小时" if days else f"{hours}小时{minutes}分" if hours else f"{minutes}分"
    return ("超时 " if breached else "剩 ") + text, breached


def worklist_row(item: WorkItemView, now: datetime) -> WorklistRow:
    signing = item.status == "dispatched"
    deadline = item.sign_deadline if signing else item.resolve_deadline
    if item.resolved_at is not None:  # finished: how it ended, not the time left
        late = item.resolved_at > item.resolve_deadline
        return WorklistRow(item, deadline, "办结时限", "超时办结" if late else "按时办结", late, False)
    text, breached = time_left(deadline, now)
    window = (item.sign_deadline - item.dispatched_at) if signing else (item.resolve_deadline - item.dispatched_at)
    soon = not breached and (deadline - now) < window / 4
    return WorklistRow(item, deadline, "签收时限" if signing else "办结时限", text, breached, soon)


def escalation_zh(item: WorkItemView) -> list[str]:
    """The clocks escalated past the assignee, e.g. ["办结：部门负责人"] (the first rung is no escalation)."""
    return [
        f"{DEADLINE_ZH.get(deadline, deadline)}：{LADDER_ZH[LADDER.index(rung)]}"
        for deadline, rung in item.escalation.items()
        if rung in LADDER and LADDER.index(rung) > 0
    ]


def suspects_by_primary(items: list[WorkItemView]) -> dict[uuid.UUID, list[WorkItemView]]:
    """The open cases suspected to duplicate each case (a clerk confirms or rejects each), earliest first."""
    found: dict[uuid.UUID, list[WorkItemView]] = {}
    for item in sorted(items, key=lambda i: i.dispatched_at):
        if item.suspected_duplicate_of is not None and item.status in OPEN_STATUSES:
            found.setdefault(item.suspected_duplicate_of, []).append(item)
    return found


def worklist(
    items: list[WorkItemView], now: datetime, *, item_code: str = "", community: str = ""
) -> list[WorklistRow]:
    """Filtered by item and community, soonest deadline first (breached ones at the top)."""
    kept = [
        i
        for i in items
        if (not item_code or i.item_code == item_code) and (not community or i.community_id == community)
    ]
    return sorted((worklist_row(i, now) for i in kept), key=lambda row: row.deadline)


# The API's 404/409/422 details (English, for engineers) as the clerk reads them.
_REFUSALS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"cannot sign a case that is (\w+)"), "该事项当前为「{0}」，不能签收（可能已被同事签收）。"),
    (re.compile(r"cannot (progress|resolve) a case that is (\w+)"), "该事项当前为「{1}」，请先签收后再办理。"),
    (re.compile(r"cannot return a case that is (\w+)"), "该事项当前为「{0}」，不能退单。"),
    (re.compile(r"cannot request extension a case that is (\w+)"), "该事项当前为「{0}」，签收后才能申请延期。"),
    (re.compile(r"linked as a duplicate"), "该事项是重复件，请在主事项上办理。"),
    (re.compile(r"extension .* is still waiting"), "已有一个延期申请在等待审批，请等待区级值班员决定。"),
    (re.compile(r"unknown return reason"), "请选择退单原因。"),
    (re.compile(r"not a suspected duplicate"), "该事项已不是疑似重复件（可能已有同事处理）。"),
    (re.compile(r"suspected primary .* is no longer open"), "疑似的主事项已办结或已退单，不能并案，请单独办理。"),
    (re.compile(r"other cases are linked to this one"), "已有其他事项并入本事项，不能再并入别的事项。"),
    (re.compile(r"about a person and are never merged"), "涉及个人的事项不并案办理。"),
]


def refusal_zh(status_code: int, detail: object) -> str:
    if status_code == 404:
        return "未找到该事项，或该事项不属于本部门。"
    if status_code == 422:
        return "填写内容不完整或过长，请检查后重试。"
    text = str(detail)
    for pattern, message in _REFUSALS:
        found = pattern.search(text)
        if found:
            return message.format(*(STATUS_ZH.get(g, g) for g in found.groups()))
    return "当前状态下不能进行此操作。"
