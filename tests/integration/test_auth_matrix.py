"""Every endpoint of every service against every role: allowed, 401 without credentials, 403 with the wrong
role. The matrix is checked against the apps' routes, so a new endpoint cannot slip in unlisted."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from tests.support.apps import Services, build_apps, running
from tests.support.auth import OPERATOR, as_department, as_worker

pytestmark = pytest.mark.integration

OP, DEPT, WORKER = "operator", "department", "worker"
STAFF = {OP, DEPT}
EVERYONE = {OP, DEPT, WORKER}
PUBLIC = "public"  # probes, the resident's tokenised case page, Open311 reads (public by the spec)
API_KEY = "api_key"  # Open311 posts: an API key in the form, never a bearer token
GATEWAY = "gateway"  # the SMS gateway's callbacks: its own bearer token
CONSOLE = "console"  # console pages: a session cookie from the console's sign-in, never a bearer token
PHOTO_LINK = "photo_link"  # photos: only with a console-signed link (gridloop/consoles/media.py)


def console(prefix: str, pages: list[tuple[str, str]]) -> dict[tuple[str, str], set[str] | str]:
    """A console's sign-in (public) and its pages (session only)."""
    signing_in: dict[tuple[str, str], set[str] | str] = {
        ("GET", f"{prefix}/login"): PUBLIC,
        ("POST", f"{prefix}/login"): PUBLIC,
        ("POST", f"{prefix}/logout"): CONSOLE,
    }
    return signing_in | {(method, prefix + path): CONSOLE for method, path in pages}


CALLERS: dict[str | None, dict[str, str]] = {
    None: {},
    WORKER: as_worker("JN-W0001"),
    DEPT: as_department("police"),
    OP: OPERATOR,
}
GATEWAY_TOKEN = "matrix-gateway-token"
PROBES = {("GET", "/healthz"): PUBLIC, ("GET", "/readyz"): PUBLIC, ("GET", "/metrics"): PUBLIC}
ACCESS = {("GET", "/v1/audit"): {OP}, ("POST", "/v1/revocations"): {OP}}

MATRIX: dict[str, dict[tuple[str, str], set[str] | str]] = {
    "intake": {
        ("POST", "/v1/reports"): {WORKER},
        ("GET", "/v1/cases/{case_id}"): {OP, WORKER},  # a worker sees only the cases it reported
        ("GET", "/v1/cases/{case_id}/resident"): {OP},
        ("GET", "/v1/cases/outside-grid"): {OP},
        ("GET", "/v1/workers/me/reports"): {WORKER},  # a worker's own reports only
        ("GET", "/v1/workers/me/reports/stream"): {WORKER},
        ("GET", "/v1/workers/updates/stats"): {OP},
        ("GET", "/v1/registry"): {OP},
        ("GET", "/v1/registry/communities"): {OP},
        ("POST", "/v1/registry/communities"): {OP},
        ("GET", "/v1/registry/communities/{community_id}/grids"): {OP},
        ("POST", "/v1/registry/grids"): {OP},
        ("GET", "/v1/registry/grids/{grid_id}"): {OP},
        ("GET", "/v1/registry/workers/{worker_id}"): {OP},
        ("POST", "/v1/registry/workers"): {OP},
        ("PUT", "/v1/registry/workers/{worker_id}/grids"): {OP},
        ("POST", "/v1/registry/workers/{worker_id}/tokens"): {OP},
        ("PUT", "/v1/registry/workers/{worker_id}/active"): {OP},
        ("PUT", "/v1/registry/grids/{grid_id}/active"): {OP},
        ("POST", "/v1/registry/imports"): {OP},
        ("POST", "/v1/registry/grids/redraw"): {OP},
        ("GET", "/v1/registry/files/{name}"): {OP},
        ("GET", "/open311/v2/services.{fmt}"): PUBLIC,
        ("GET", "/open311/v2/services/{service_code}.{fmt}"): PUBLIC,
        ("GET", "/open311/v2/requests.{fmt}"): PUBLIC,
        ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"): PUBLIC,
        ("POST", "/open311/v2/requests.{fmt}"): API_KEY,
        ("GET", "/app/sw.js"): PUBLIC,
        ("GET", "/media/{photo_id}"): PHOTO_LINK,
        **console(
            "/app", [("GET", ""), ("POST", "/photos"), ("POST", "/reports"), ("GET", "/mine"), ("GET", "/mine/stream")]
        ),
    },
    "router": {
        ("GET", "/v1/decisions/{case_id}"): {OP},
        ("GET", "/v1/stats"): {OP},
        ("GET", "/v1/triage"): {OP},
        ("POST", "/v1/triage/{case_id}/assign"): {OP},
        ("POST", "/v1/triage/{case_id}/not-admitted"): {OP},
        ("GET", "/v1/admission-list"): EVERYONE,
        ("PUT", "/v1/admission-list"): {OP},
        ("GET", "/v1/admission-list/versions"): {OP},
        ("GET", "/v1/admission-list/model"): {OP},
        ("POST", "/v1/admission-list/model/retrain"): {OP},
        **console(
            "/ops",
            [
                ("GET", ""),
                ("POST", "/triage/{case_id}/assign"),
                ("POST", "/triage/{case_id}/not-admitted"),
                ("GET", "/supervision"),
                ("POST", "/extensions/{case_id}/{extension_id}"),
                ("GET", "/admission-list"),
                ("POST", "/admission-list"),
                ("GET", "/rates"),
            ],
        ),
    },
    "departments": {
        ("GET", "/v1/work-items"): STAFF,
        ("GET", "/v1/work-items/{case_id}"): STAFF,
        ("GET", "/v1/work-items/{case_id}/activity"): STAFF,
        ("POST", "/v1/work-items/{case_id}/sign"): STAFF,
        ("POST", "/v1/work-items/{case_id}/progress"): STAFF,
        ("POST", "/v1/work-items/{case_id}/resolve"): STAFF,
        ("POST", "/v1/work-items/{case_id}/return"): STAFF,
        ("POST", "/v1/work-items/{case_id}/extensions"): STAFF,
        ("GET", "/v1/work-items/{case_id}/extensions"): STAFF,
        ("POST", "/v1/work-items/{case_id}/extensions/{extension_id}/decision"): {OP},
        ("POST", "/v1/work-items/{case_id}/unlink"): {OP},
        ("GET", "/v1/rates"): STAFF,
        ("GET", "/v1/stats"): STAFF,
        ("GET", "/v1/extensions"): STAFF,
        ("POST", "/v1/work-items/{case_id}/duplicate/confirm"): STAFF,
        ("POST", "/v1/work-items/{case_id}/duplicate/reject"): STAFF,
        ("GET", "/v1/calendar"): STAFF,
        ("PUT", "/v1/calendar/district/{day}"): {OP},
        ("DELETE", "/v1/calendar/district/{day}"): {OP},
        ("PUT", "/v1/calendar/national/{year}"): {OP},
        ("GET", "/v1/reports/weekly/{week}"): {OP},
        ("GET", "/v1/reports/weekly"): {OP},
        ("GET", "/v1/reports/files/{name}"): {OP},
        **console(
            "/desk",
            [
                ("GET", ""),
                ("GET", "/cases/{case_id}"),
                ("POST", "/cases/{case_id}/sign"),
                ("POST", "/cases/{case_id}/progress"),
                ("POST", "/cases/{case_id}/resolve"),
                ("POST", "/cases/{case_id}/return"),
                ("POST", "/cases/{case_id}/extension"),
                ("POST", "/cases/{case_id}/duplicate/{decision}"),
            ],
        ),
    },
    "notify": {
        ("GET", "/v1/cases/{case_id}/messages"): {OP},
        ("GET", "/v1/stats"): {OP},
        ("POST", "/v1/sms/receipts"): GATEWAY,
        ("POST", "/v1/sms/inbound"): GATEWAY,
        ("POST", "/v1/sms/aliyun/report"): GATEWAY,  # the providers' callbacks: the callback token only
        ("POST", "/v1/sms/aliyun/up"): GATEWAY,
        ("POST", "/v1/sms/tencent/status"): GATEWAY,
        ("POST", "/v1/sms/tencent/reply"): GATEWAY,
        ("GET", "/v1/officials"): {OP},
        ("POST", "/v1/officials"): {OP},
        ("PUT", "/v1/officials/{official_id}"): {OP},
        ("DELETE", "/v1/officials/{official_id}"): {OP},
        ("GET", "/v1/cases/{case_id}/official-messages"): {OP},
        ("GET", "/v1/escalations"): {OP},
        ("GET", "/v1/escalations/stats"): {OP},
        ("POST", "/v1/escalations/{escalation_id}/decision"): {OP},
        ("GET", "/c/{tracking_token}"): PUBLIC,
        ("POST", "/c/{tracking_token}/feedback"): PUBLIC,
    },
}


def routes(app) -> set[tuple[str, str]]:
    """(method, full path) of every endpoint, included routers flattened."""
    return {
        (method, context.path)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
        for method in context.original_route.methods - {"HEAD"}
    }


def url(path: str) -> str:
    values = {
        "case_id": uuid.uuid4(),
        "extension_id": uuid.uuid4(),
        "fmt": "json",
        "photo_id": uuid.uuid4(),
        "day": "2026-12-08",
        "year": 2026,
        "week": "2026-W49",
        "name": "weekly-2026-W49.pdf",
        "official_id": 1,
        "escalation_id": 1,
    }
    out = path
    for name in (
        "case_id",
        "extension_id",
        "fmt",
        "community_id",
        "grid_id",
        "worker_id",
        "service_code",
        "photo_id",
        "day",
        "year",
        "week",
        "name",
        "official_id",
        "escalation_id",
    ):
        out = out.replace("{" + name + "}", str(values.get(name, "JN-X0001")))
    return out.replace("{service_request_id}", str(uuid.uuid4())).replace("{tracking_token}", "no-such-token")


@pytest.fixture(scope="module")
async def services(ns, tmp_path_factory):
    apps = build_apps(
        ns,
        notify_log=tmp_path_factory.mktemp("notify") / "messages.jsonl",
        overrides={"notify": {"sms_callback_token": GATEWAY_TOKEN}},
    )
    async with running(apps) as running_services:
        yield running_services


def test_every_route_of_every_service_is_in_the_matrix(services: Services) -> None:
    for name, app in services.apps.items():
        expected = {**MATRIX[name], **PROBES, **ACCESS}
        assert routes(app) == set(expected), f"{name}: routes and the access matrix differ"


@pytest.mark.parametrize("service", list(MATRIX))
async def test_each_role_is_allowed_or_refused_as_the_matrix_says(services: Services, service: str) -> None:
    app = services.apps[service]
    problems = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{service}") as client:
        for (method, path), allowed in {**MATRIX[service], **PROBES, **ACCESS}.items():
            for role, headers in CALLERS.items():
                request = client.request(method, url(path), headers=headers, json={} if method != "GET" else None)
                if path.endswith("/stream"):
                    # An event stream stays open once the caller is let in (and ASGITransport answers only when
                    # the app finishes): a refusal comes at once, an open stream after 10 s counts as let in.
                    try:
                        response = await asyncio.wait_for(request, 10)
                    except TimeoutError:
                        response, status = None, 200
                    else:
                        status = response.status_code
                else:
                    response = await request
                    status = response.status_code
                if allowed == PUBLIC:
                    ok = status not in (401, 403)
                elif allowed == API_KEY:
                    ok = status == 403  # no api_key in the form, whatever bearer token comes along
                elif allowed == GATEWAY:
                    ok = status == 401  # only the gateway's own token opens these
                elif allowed == CONSOLE:  # a bearer token opens no console page: sign in first
                    to_sign_in = status == 303 and response.headers["location"].endswith("/login")
                    ok = to_sign_in if method == "GET" else status == 401
                elif allowed == PHOTO_LINK:
                    ok = status == 422  # no signed link (exp, sig), whatever bearer token comes along
                elif role is None:
                    ok = status == 401 and response.headers.get("www-authenticate") == "Bearer"
                elif role in allowed:
                    ok = status not in (401, 403)
                else:
                    ok = status == 403
                if not ok or status >= 500:
                    answer = response.text[:120] if response else "stream open"
                    problems.append(f"{method} {path} as {role or 'nobody'}: {status} {answer}")
    assert not problems, "\n".join(problems)


async def test_the_gateway_and_open311_clients_get_in_with_their_own_credentials(services: Services) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=services.apps["notify"]), base_url="http://n") as n:
        receipts = await n.post("/v1/sms/receipts", json=[], headers={"Authorization": f"Bearer {GATEWAY_TOKEN}"})
        assert receipts.status_code == 200
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=services.apps["intake"]), base_url="http://i") as i:
        posted = await i.post("/open311/v2/requests.json", data={"api_key": "gridloop-dev-open311"})
        assert posted.status_code == 400, "past the key check: service_code is missing"


async def test_a_department_reads_only_its_own_rates_and_cannot_list_another(services: Services) -> None:
    police = as_department("police")
    listed = await services.departments.get("/v1/work-items", params={"department": "finance"}, headers=police)
    assert listed.status_code == 403
    rates = await services.departments.get("/v1/rates", headers=police)
    assert rates.status_code == 200 and {r["group"] for r in rates.json()["rows"]} <= {"police"}
