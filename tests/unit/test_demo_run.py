"""The demo's replay against an in-memory fake of the four services (httpx.MockTransport, no sockets)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from gridloop.admission.admission_list import default_admission_list
from gridloop.demo import client as client_module
from gridloop.demo.client import DemoClient, ServiceUnavailable
from gridloop.demo.reports import generate_day
from gridloop.demo.run import main, replay


class FakeStack:
    """Intake accepts, the router admits whatever the worker hinted, departments keep work items."""

    def __init__(self, *, busy_posts: int = 0) -> None:
        self.reports: dict[str, dict[str, Any]] = {}
        self.decisions: dict[str, dict[str, Any]] = {}
        self.items: dict[str, dict[str, Any]] = {}
        self.busy_posts = busy_posts  # answer 503 to the first few posts
        self.auth: Counter[str] = Counter()
        self.officials: list[dict[str, Any]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        service = {8001: "intake", 8002: "router", 8003: "departments", 8004: "notify"}[request.url.port]
        return getattr(self, service)(request, request.url.path.split("/")[2:])

    def intake(self, request: httpx.Request, path: list[str]) -> httpx.Response:
        if path == ["workers", "updates", "stats"]:
            told = {r["case_id"] for r in self.reports.values()}
            return httpx.Response(
                200, json={"workers_told": len(told), "updates": {"received": len(told)}, "action_needed": 0}
            )
        if self.busy_posts:
            self.busy_posts -= 1
            return httpx.Response(503)
        body = json.loads(request.content)
        if body["client_report_id"] in self.reports:
            return httpx.Response(200, json=self.reports[body["client_report_id"]])
        case_id = str(uuid.uuid4())
        self.reports[body["client_report_id"]] = {"case_id": case_id, "tracking_token": "t", "status": "received"}
        self._route(case_id, body.get("item_hint"))
        return httpx.Response(202, json=self.reports[body["client_report_id"]])

    def _route(self, case_id: str, hint: str | None) -> None:
        item = default_admission_list().get(hint) if hint else None
        if item is None:
            self.decisions[case_id] = {"outcome": "not_admitted", "item_code": None, "department": None}
            return
        self.decisions[case_id] = {"outcome": "admitted", "item_code": item.code, "department": item.department}
        self.items[case_id] = {"case_id": case_id, "item_code": item.code, "department": item.department}
        self.items[case_id]["status"] = "dispatched"

    def router(self, request: httpx.Request, path: list[str]) -> httpx.Response:
        if path[0] == "decisions":
            return httpx.Response(200, json=self.decisions[path[1]])
        outcomes = Counter(d["outcome"] for d in self.decisions.values())
        by_department = Counter(d["department"] for d in self.decisions.values() if d["department"])
        return httpx.Response(200, json={"decisions": dict(outcomes), "by_department": dict(by_department)})

    def departments(self, request: httpx.Request, path: list[str]) -> httpx.Response:
        if path == ["stats"]:
            return httpx.Response(200, json={"by_status": dict(Counter(i["status"] for i in self.items.values()))})
        if request.method == "GET":
            return self._work_items(request)
        self.auth[request.headers.get("authorization", "")] += 1
        case_id, action = path[1], path[2]
        self.items[case_id]["status"] = {"sign": "signed", "resolve": "resolved"}[action]
        return httpx.Response(200, json=self.items[case_id])

    def _work_items(self, request: httpx.Request) -> httpx.Response:
        query = request.url.params
        matching = [
            i for i in self.items.values() if i["department"] == query["department"] and i["status"] == query["status"]
        ]
        offset, limit = int(query["offset"]), int(query["limit"])
        return httpx.Response(200, json={"items": matching[offset : offset + limit], "total": len(matching)})

    def notify(self, request: httpx.Request, path: list[str]) -> httpx.Response:
        if path == ["officials"]:
            if request.method == "POST":
                self.officials.append({**json.loads(request.content), "active": True})
                return httpx.Response(201, json=self.officials[-1])
            return httpx.Response(200, json=self.officials)
        if path == ["escalations", "stats"]:
            return httpx.Response(
                200,
                json={"officials_told": 0, "official_messages": {}, "escalations": {}, "without_owner": 0},
            )
        resolved = sum(i["status"] == "resolved" for i in self.items.values())
        return httpx.Response(200, json={"messages": {"resolved": {"sent": resolved}}, "residents_notified": resolved})


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "_backoff", lambda attempt: 0.0)


async def _replay(stack: FakeStack, n: int, **tokens: str) -> dict[str, Any]:
    transport = httpx.MockTransport(stack.handle)
    async with DemoClient(department_tokens=tokens, transport=transport) as client:
        return await replay(
            client, generate_day(n), concurrency=8, sample=50, seed=1, drain_seconds=10, poll_seconds=0.02
        )


async def test_replay_posts_the_day_and_departments_resolve_most_cases() -> None:
    stack = FakeStack(busy_posts=5)
    summary = await _replay(stack, 120, police="secret")
    assert len(stack.officials) == 7  # the demo's roster: the district's office and two per department
    assert summary["workers"]["workers_told"] == summary["reports"]["accepted"]
    assert summary["officials"]["escalated_without_owner"] == 0

    assert summary["reports"]["posted"] == summary["reports"]["accepted"] == 120
    admitted = summary["routing"]["admitted"]
    assert admitted == len(stack.items) > 0
    desk = summary["departments"]["simulated"]
    assert desk["seen"] == admitted
    assert desk["resolved"] + desk["left_unresolved"] + desk["left_unsigned"] == admitted
    assert summary["departments"]["resolved"] == desk["resolved"]
    assert summary["notify"]["residents_notified"] == desk["resolved"]
    assert summary["classification"]["decided"] == 50
    assert summary["drained"] is True
    assert stack.auth["Bearer secret"] > 0  # police calls carry the token, others none


async def test_reposting_the_same_day_counts_duplicates_only() -> None:
    stack = FakeStack()
    await _replay(stack, 30)
    summary = await _replay(stack, 30)
    assert summary["reports"]["duplicates"] == 30
    assert summary["routing"]["admitted"] == 0


async def test_unreachable_intake_raises_service_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with DemoClient(transport=httpx.MockTransport(refuse)) as client:
        with pytest.raises(ServiceUnavailable, match="not reachable"):
            await replay(client, generate_day(3), concurrency=2, sample=1, seed=1, drain_seconds=1)


def test_main_reports_an_unreachable_stack_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    async def unavailable(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise ServiceUnavailable("router is not reachable at http://127.0.0.1:8002/v1/stats (ConnectError)")

    monkeypatch.setattr("gridloop.demo.run._replay", unavailable)
    assert main(["--no-stack", "--reports", "5", "--output", str(tmp_path / "s.json")]) == 1
    assert "Is the stack up?" in capsys.readouterr().err
