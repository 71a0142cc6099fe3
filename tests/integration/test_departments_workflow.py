"""A department works its cases on real Kafka and PostgreSQL: sign for, progress, resolve; extensions;
duplicates; and a department sees only its own cases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from gridloop.contracts.events import (
    DuplicateDetail,
    EscalationDetail,
    ExtensionDecidedDetail,
    ResolvedDetail,
    SignedDetail,
)
from gridloop.servicekit.clock import FixedClock
from tests.support.departments import (
    OPERATOR,
    StatusTap,
    as_department,
    departments_app,
    dispatched,
    publish,
    wait_for_work_item,
)

pytestmark = pytest.mark.integration

POLICE, FINANCE = as_department("police"), as_department("finance")


@pytest.fixture(scope="module")
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture(scope="module")
async def client(ns, clock):
    async with departments_app(ns, clock) as app_client:
        yield app_client


@pytest.fixture(scope="module")
async def tap(ns):
    async with StatusTap(ns) as status_tap:
        yield status_tap


@pytest.fixture(autouse=True)
def real_time(clock: FixedClock) -> None:
    clock.set(datetime.now(UTC))


async def test_a_case_is_signed_for_worked_and_resolved_with_a_status_event_for_each_step(ns, client, tap, clock):
    case = dispatched("P11")
    await publish(ns, case)
    item = await wait_for_work_item(client, case.case_id)
    assert item["department"] == "police" and item["reporters"][0]["case_id"] == str(case.case_id)
    assert item["escalation"] == {"sign": "handler", "resolve": "handler"}

    clock.advance(timedelta(minutes=30))
    signed = await client.post(f"/v1/work-items/{case.case_id}/sign", json={"handler": "王警官"}, headers=POLICE)
    assert signed.status_code == 200 and signed.json()["signed_by"] == "王警官"
    note = {"handler": "王警官", "note": "已上门劝导，噪声源已关闭", "photo_urls": ["https://img.example/1.jpg"]}
    assert (await client.post(f"/v1/work-items/{case.case_id}/progress", json=note, headers=POLICE)).status_code == 200
    done = await client.post(
        f"/v1/work-items/{case.case_id}/resolve", json={"result": "已调解，双方同意夜间十点后停止施工"}, headers=POLICE
    )
    assert done.status_code == 200 and done.json()["status"] == "resolved"

    resolved = (await tap.wait(case.case_id, "resolved"))[0]
    assert resolved.detail_as(ResolvedDetail).within_deadline is True and resolved.department == "police"
    assert tap.statuses(case.case_id) == ["signed", "in_progress", "resolved"]
    activity = (await client.get(f"/v1/work-items/{case.case_id}/activity", headers=POLICE)).json()
    assert [a["action"] for a in activity] == ["signed", "in_progress", "resolved"]
    assert activity[1]["photo_urls"] == ["https://img.example/1.jpg"]


async def test_a_department_cannot_see_or_touch_another_departments_cases(ns, client):
    case = dispatched("F15")  # finance
    police_case = dispatched("P03")  # so the police's list has one of its own, whichever tests ran before
    await publish(ns, case)
    await publish(ns, police_case)
    await wait_for_work_item(client, case.case_id)
    await wait_for_work_item(client, police_case.case_id)

    assert (await client.get(f"/v1/work-items/{case.case_id}", headers=POLICE)).status_code == 404
    assert (await client.get(f"/v1/work-items/{case.case_id}/activity", headers=POLICE)).status_code == 404
    sign = await client.post(f"/v1/work-items/{case.case_id}/sign", json={"handler": "李四"}, headers=POLICE)
    assert sign.status_code == 404
    assert (await client.get("/v1/work-items", params={"department": "finance"}, headers=POLICE)).status_code == 403
    listed = (await client.get("/v1/work-items", params={"limit": 500}, headers=POLICE)).json()["items"]
    assert listed and {i["department"] for i in listed} == {"police"}
    assert (await client.get("/v1/work-items", headers={"Authorization": "Bearer army"})).status_code == 401

    assert (await client.get(f"/v1/work-items/{case.case_id}", headers=FINANCE)).status_code == 200
    assert (await client.get(f"/v1/work-items/{case.case_id}", headers=OPERATOR)).status_code == 200
    signed = await client.post(f"/v1/work-items/{case.case_id}/sign", json={"handler": "李四"}, headers=FINANCE)
    assert signed.status_code == 200


async def _signed_case(ns, client, item_code: str) -> uuid.UUID:
    case = dispatched(item_code)
    await publish(ns, case)
    await wait_for_work_item(client, case.case_id)
    headers = as_department(case.department)
    assert (
        await client.post(f"/v1/work-items/{case.case_id}/sign", json={"handler": "赵六"}, headers=headers)
    ).is_success
    return case.case_id


async def test_an_approved_extension_moves_the_deadline_and_a_refused_one_does_not(ns, client, tap):
    approved_case, refused_case = await _signed_case(ns, client, "S05"), await _signed_case(ns, client, "S07")
    deadlines = {}
    for case_id in (approved_case, refused_case):
        deadlines[case_id] = datetime.fromisoformat(
            (await wait_for_work_item(client, case_id, "signed"))["resolve_deadline"]
        )

    body = {"handler": "赵六", "reason": "需协调城管执法大队联合拆除", "hours": 48}
    asked = await client.post(
        f"/v1/work-items/{approved_case}/extensions", json=body, headers=as_department("street_office")
    )
    assert asked.status_code == 201 and asked.json()["state"] == "pending"
    again = await client.post(
        f"/v1/work-items/{approved_case}/extensions", json=body, headers=as_department("street_office")
    )
    assert again.status_code == 409, "one open request at a time"
    extension_id = asked.json()["id"]
    decision = {"approve": True, "operator": "陈主任"}
    path = f"/v1/work-items/{approved_case}/extensions/{extension_id}/decision"
    assert (await client.post(path, json=decision, headers=as_department("street_office"))).status_code == 403
    decided = await client.post(path, json=decision, headers=OPERATOR)
    assert decided.status_code == 200 and decided.json()["state"] == "approved"
    assert (await client.post(path, json=decision, headers=OPERATOR)).status_code == 409, "decided once"

    asked = await client.post(
        f"/v1/work-items/{refused_case}/extensions", json=body, headers=as_department("street_office")
    )
    path = f"/v1/work-items/{refused_case}/extensions/{asked.json()['id']}/decision"
    refused = await client.post(
        path, json={"approve": False, "operator": "陈主任", "note": "可先行处置"}, headers=OPERATOR
    )
    assert refused.status_code == 200 and refused.json()["state"] == "refused"

    approved_item = await wait_for_work_item(client, approved_case, "signed")
    refused_item = await wait_for_work_item(client, refused_case, "signed")
    assert datetime.fromisoformat(approved_item["resolve_deadline"]) == deadlines[approved_case] + timedelta(hours=48)
    assert datetime.fromisoformat(refused_item["resolve_deadline"]) == deadlines[refused_case]
    for case_id, approved in ((approved_case, True), (refused_case, False)):
        (event,) = await tap.wait(case_id, "extension_decided")
        assert event.detail_as(ExtensionDecidedDetail).approved is approved
        assert len(tap.events(case_id, "extension_requested")) == 1


async def test_duplicates_are_linked_worked_as_one_and_resolved_together_and_can_be_unlinked(ns, client, tap):
    grid, here = f"G-dup-{uuid.uuid4().hex[:6]}", {"lat": 30.7100, "lon": 104.0500}
    first = dispatched("S08", grid_id=grid, location=here)
    await publish(ns, first)
    await wait_for_work_item(client, first.case_id)
    later = datetime.now(UTC) + timedelta(hours=1)
    same_grid = dispatched("S08", grid_id=grid, location={"lat": 30.7101, "lon": 104.0500}, dispatched_at=later)
    next_door = dispatched("S08", location={"lat": 30.7104, "lon": 104.0500}, dispatched_at=later)  # ~45 m, other grid
    far_away = dispatched("S08", location={"lat": 30.7150, "lon": 104.0500}, dispatched_at=later)  # ~550 m
    other_item = dispatched("S15", grid_id=grid, location=here, dispatched_at=later)
    grid_only = dispatched("S08", grid_id=grid, dispatched_at=later)  # no coordinates: the grid is not enough
    await publish(ns, same_grid, next_door, far_away, other_item, grid_only)

    # The same grid without coordinates is only a suspicion: the case stays its own until a clerk decides.
    suspect = await wait_for_work_item(client, grid_only.case_id, "dispatched")
    assert suspect["suspected_duplicate_of"] == str(first.case_id) and suspect["duplicate_score"] == 1.0
    clerk = {"operator": "陈主任"}
    reject_path = f"/v1/work-items/{grid_only.case_id}/duplicate/reject"
    police = as_department("police")
    assert (await client.post(reject_path, json=clerk, headers=police)).status_code == 404, "another department's"
    rejected = (await client.post(reject_path, json=clerk, headers=OPERATOR)).json()
    assert rejected["status"] == "dispatched" and rejected["suspected_duplicate_of"] is None
    confirm_path = f"/v1/work-items/{grid_only.case_id}/duplicate/confirm"
    assert (await client.post(confirm_path, json=clerk, headers=OPERATOR)).status_code == 409, "nothing to confirm"
    for case in (same_grid, next_door):
        linked = await wait_for_work_item(client, case.case_id, "linked")
        assert linked["primary_case_id"] == str(first.case_id)
        (linked_step,) = await tap.wait(case.case_id, "duplicate_linked")
        told = linked_step.detail_as(DuplicateDetail)
        assert told.primary_case_id == first.case_id and told.primary_progress == "已转派，待部门签收"
    await wait_for_work_item(client, far_away.case_id, "dispatched")
    await wait_for_work_item(client, other_item.case_id, "dispatched")
    await wait_for_work_item(client, grid_only.case_id, "dispatched")

    primary = await wait_for_work_item(client, first.case_id)
    assert set(primary["linked_case_ids"]) == {str(same_grid.case_id), str(next_door.case_id)}
    assert len(primary["reporters"]) == 3
    listed = (await client.get("/v1/work-items", params={"limit": 500}, headers=OPERATOR)).json()["items"]
    assert str(same_grid.case_id) not in {i["case_id"] for i in listed}, "one work item for the department"
    sign = await client.post(f"/v1/work-items/{same_grid.case_id}/sign", json={"handler": "钱七"}, headers=OPERATOR)
    assert sign.status_code == 409 and str(first.case_id) in sign.json()["detail"]

    unlink_path = f"/v1/work-items/{same_grid.case_id}/unlink"
    street = as_department("street_office")
    assert (await client.post(unlink_path, json={"operator": "陈主任"}, headers=street)).status_code == 403
    unlinked = await client.post(unlink_path, json={"operator": "陈主任"}, headers=OPERATOR)
    assert unlinked.status_code == 200 and unlinked.json()["status"] == "dispatched"
    assert unlinked.json()["primary_case_id"] is None
    await tap.wait(same_grid.case_id, "duplicate_unlinked")

    assert (
        await client.post(f"/v1/work-items/{first.case_id}/sign", json={"handler": "钱七"}, headers=street)
    ).is_success
    # The linked duplicate's reporter hears it was signed for; its work item stays linked. The unlinked one is not.
    (signed_with,) = await tap.wait(next_door.case_id, "signed")
    assert signed_with.detail == SignedDetail(primary_case_id=first.case_id) and "钱七" in signed_with.note
    assert (await wait_for_work_item(client, next_door.case_id, "linked"))["signed_at"] is None
    assert tap.events(same_grid.case_id, "signed") == []
    result = {"result": "已疏通排水管道"}
    assert (await client.post(f"/v1/work-items/{first.case_id}/resolve", json=result, headers=street)).is_success
    for case in (first, next_door):
        (resolved,) = await tap.wait(case.case_id, "resolved")
        assert resolved.note == "已疏通排水管道"
    assert (await wait_for_work_item(client, next_door.case_id, "resolved"))["result"] == "已疏通排水管道"
    assert (await wait_for_work_item(client, same_grid.case_id, "dispatched"))["resolved_at"] is None
    assert tap.events(same_grid.case_id, "resolved") == []


async def test_a_duplicate_told_signed_with_its_primary_and_then_unlinked_is_told_again_when_signed_itself(
    ns, client, tap
):
    grid, here = f"G-dup-{uuid.uuid4().hex[:6]}", {"lat": 30.7300, "lon": 104.0700}
    first = dispatched("S08", grid_id=grid, location=here)
    await publish(ns, first)
    await wait_for_work_item(client, first.case_id)
    duplicate = dispatched("S08", grid_id=grid, location=here, dispatched_at=datetime.now(UTC) + timedelta(minutes=5))
    await publish(ns, duplicate)
    await wait_for_work_item(client, duplicate.case_id, "linked")
    street = as_department("street_office")
    signed = await client.post(f"/v1/work-items/{first.case_id}/sign", json={"handler": "钱七"}, headers=street)
    assert signed.is_success
    await tap.wait(duplicate.case_id, "signed")

    unlink = await client.post(
        f"/v1/work-items/{duplicate.case_id}/unlink", json={"operator": "陈主任"}, headers=OPERATOR
    )
    assert unlink.json()["status"] == "dispatched"
    own = await client.post(f"/v1/work-items/{duplicate.case_id}/sign", json={"handler": "孙八"}, headers=street)
    assert own.is_success, own.text
    steps = await tap.wait(duplicate.case_id, "signed", count=2)
    shared = [(e.detail_as(SignedDetail).primary_case_id is not None, "孙八" in e.note) for e in steps]
    assert shared == [(True, False), (False, True)]
    ids = [event_id for event_id, event in tap.by_case[duplicate.case_id] if event.status == "signed"]
    assert len(set(ids)) == 2, "two steps: with the same event id every consumer's inbox would drop the second"


async def test_a_duplicate_is_found_among_many_open_cases_of_its_item_elsewhere(ns, client, tap):
    """The match looks in the neighbourhood, not at the district's first hundred open cases of the item."""
    start = datetime.now(UTC) - timedelta(hours=3)
    elsewhere = [dispatched("S10", dispatched_at=start + timedelta(seconds=i)) for i in range(101)]
    grid = f"G-many-{uuid.uuid4().hex[:6]}"
    primary = dispatched(
        "S10", grid_id=grid, location={"lat": 30.72, "lon": 104.06}, dispatched_at=start + timedelta(hours=1)
    )
    await publish(ns, *elsewhere, primary)
    await wait_for_work_item(client, primary.case_id)
    here = {"lat": 30.7201, "lon": 104.06}
    same_grid = dispatched("S10", grid_id=grid, location=here, dispatched_at=start + timedelta(hours=2))
    nearby = dispatched("S10", location={"lat": 30.7205, "lon": 104.0603}, dispatched_at=start + timedelta(hours=2))
    await publish(ns, same_grid, nearby)
    for case in (same_grid, nearby):  # ~65 m away, in another grid
        linked = await wait_for_work_item(client, case.case_id, "linked")
        assert linked["primary_case_id"] == str(primary.case_id)


async def test_the_services_own_scheduler_warns_when_a_case_waits_too_long_to_be_signed_for(ns, client, tap, clock):
    case = dispatched("P04", dispatched_at=clock.now())  # sign for within 2 h, resolve within 12 h
    await publish(ns, case)
    await wait_for_work_item(client, case.case_id)
    clock.advance(timedelta(hours=1, minutes=40))
    (warning,) = await tap.wait(case.case_id, "sla_warning")
    assert warning.detail_as(EscalationDetail).deadline_name == "sign"
    timeline = (await client.get(f"/v1/work-items/{case.case_id}/activity", headers=OPERATOR)).json()
    assert [a["action"] for a in timeline] == ["sla_warning"]


async def test_a_suspected_duplicate_confirmed_by_a_clerk_is_linked_and_its_resident_told(ns, client, tap):
    grid, here = f"G-sus-{uuid.uuid4().hex[:6]}", {"lat": 30.7400, "lon": 104.0800}
    first = dispatched("S02", grid_id=grid, location=here)
    await publish(ns, first)
    await wait_for_work_item(client, first.case_id)
    suspect = dispatched("S02", grid_id=grid, dispatched_at=datetime.now(UTC) + timedelta(minutes=10))
    await publish(ns, suspect)
    item = await wait_for_work_item(client, suspect.case_id, "dispatched")
    assert item["suspected_duplicate_of"] == str(first.case_id)
    confirmed = await client.post(  # the department's own clerk decides (an operator may too)
        f"/v1/work-items/{suspect.case_id}/duplicate/confirm",
        json={"operator": "陈主任"},
        headers=as_department("street_office"),
    )
    assert confirmed.json()["status"] == "linked" and confirmed.json()["primary_case_id"] == str(first.case_id)
    (step,) = await tap.wait(suspect.case_id, "duplicate_linked")
    assert step.actor == "陈主任" and step.detail_as(DuplicateDetail).primary_progress == "已转派，待部门签收"
    note = {"handler": "钱七", "note": "已联系供电所更换灯泡", "photo_urls": []}
    street = as_department("street_office")
    assert (
        await client.post(f"/v1/work-items/{first.case_id}/sign", json={"handler": "钱七"}, headers=street)
    ).is_success
    assert (await client.post(f"/v1/work-items/{first.case_id}/progress", json=note, headers=street)).is_success
    (progress,) = await tap.wait(suspect.case_id, "in_progress")  # the note reaches the linked case too
    assert progress.note == "已联系供电所更换灯泡"
