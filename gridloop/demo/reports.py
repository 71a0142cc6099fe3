"""A realistic day of grid reports, as the worker app would post them to intake."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gridloop.admission.admission_list import AdmissionList, default_admission_list
from gridloop.demo import phrases
from gridloop.registry import Grid, Registry, default_registry
from gridloop.registry.names import ROADS, SURNAMES, mobile, person_name

CHINA_TZ = timezone(timedelta(hours=8))
DEFAULT_DAY = date(2026, 11, 25)
OFF_LIST_SHARE = 0.10
HINT_SHARE = 0.30  # the worker picked the right item in the app
WRONG_HINT_SHARE = 0.03  # ...or a wrong one
# Reports per hour of the day: busy mornings and afternoons, a trickle at night.
HOUR_WEIGHTS = (1, 0.5, 0.3, 0.3, 0.3, 0.5, 1, 3, 8, 10, 10, 8, 4, 4, 8, 10, 9, 7, 4, 3, 3, 2, 1.5, 1)
_NUMBERS = ("三", "四", "五", "六")
_MONEY = ("800", "3000", "6800", "1.2万", "2万", "5万多", "十几万")


class DraftLocation(BaseModel):
    model_config = ConfigDict(frozen=True)
    lat: float
    lon: float
    address: str


class DraftResident(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    phone: str
    notify_consent: bool
    channel: Literal["sms", "email", "none"]
    email: str | None


class ReportDraft(BaseModel):
    """One report as intake's POST /v1/reports body, plus the item we meant it to be (not sent)."""

    model_config = ConfigDict(frozen=True)
    client_report_id: str
    worker_id: str
    grid_id: str
    description: str
    item_hint: str | None
    location: DraftLocation
    occurred_at: datetime
    photo_urls: list[str]
    resident: DraftResident
    expected_item: str | None = Field(exclude=True)

    def api_body(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def generate_day(
    n: int, seed: int = 20261125, registry: Registry | None = None, *, day: date = DEFAULT_DAY
) -> list[ReportDraft]:
    """`n` reports spread over `day`, deterministic for a given seed, ordered by when they happened."""
    rng = random.Random(seed)
    registry = registry or default_registry()
    admission = default_admission_list()
    drafts = [_draft(rng, registry, admission, day) for _ in range(n)]
    return sorted(drafts, key=lambda d: d.occurred_at)


def _draft(rng: random.Random, registry: Registry, admission: AdmissionList, day: date) -> ReportDraft:
    worker = rng.choice(registry.workers)
    grid = registry.grid(rng.choice(worker.grid_ids))
    code = None if rng.random() < OFF_LIST_SHARE else _pick_item(rng, admission)
    resident = _resident(rng)
    values = _fill_values(rng, resident.name)
    return ReportDraft(
        client_report_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        worker_id=worker.worker_id,
        grid_id=grid.grid_id,
        description=_description(rng, code, values),
        item_hint=_item_hint(rng, code, admission),
        location=_location(rng, registry, grid, values["bld"]),
        occurred_at=_occurred_at(rng, day),
        photo_urls=_photos(rng, day),
        resident=resident,
        expected_item=code,
    )


def _pick_item(rng: random.Random, admission: AdmissionList) -> str:
    codes = admission.codes
    weights = [phrases.ITEM_WEIGHTS.get(c, phrases.DEFAULT_ITEM_WEIGHT) for c in codes]
    return rng.choices(codes, weights)[0]


def _fill_values(rng: random.Random, resident_name: str) -> dict[str, str]:
    surname = resident_name[0] if resident_name[0] in SURNAMES else rng.choice(SURNAMES)
    floor, door = rng.randint(1, 18), rng.randint(1, 4)
    return {
        "who": rng.choice(phrases.WHO_FORMS).format(s=surname, name=resident_name),
        "bld": f"{rng.randint(1, 24)}栋{rng.randint(1, 6)}单元",
        "room": f"{floor}{door:02d}",
        "place": rng.choice(phrases.PLACES),
        "road": rng.choice(ROADS),
        "n": rng.choice(_NUMBERS),
        "days": rng.choice(phrases.DAYS),
        "when": rng.choice(phrases.WHEN),
        "age": str(rng.randint(72, 93)),
        "money": rng.choice(_MONEY),
    }


def _description(rng: random.Random, code: str | None, values: dict[str, str]) -> str:
    if code is None:
        core, details = rng.choice(phrases.OFF_LIST_PHRASES), ()
    else:
        cores, details = phrases.ITEM_PHRASES[code]
        core = rng.choice(cores)
    # Avoid naming the resident twice ("王孃孃反映：王孃孃家……").
    openers = [o for o in phrases.OPENERS if "{who}" not in o or "{who}" not in core]
    parts = [rng.choice(openers), core]
    if details and rng.random() < 0.5:
        parts.append(rng.choice(details))
    parts.append(rng.choice(phrases.CLOSINGS))
    return "".join(parts).format_map(values)


def _item_hint(rng: random.Random, code: str | None, admission: AdmissionList) -> str | None:
    roll = rng.random()
    if code is not None and roll < HINT_SHARE:
        return code
    if roll >= 1 - WRONG_HINT_SHARE:
        return rng.choice([c for c in admission.codes if c != code])
    return None


def _location(rng: random.Random, registry: Registry, grid: Grid, building: str) -> DraftLocation:
    community = registry.community(grid.community_id)
    if rng.random() < 0.7:
        spot = building
    else:
        spot = f"{rng.choice(ROADS)}{rng.randint(1, 300)}号附近"
    return DraftLocation(
        lat=round(grid.lat + rng.uniform(-0.0015, 0.0015), 6),
        lon=round(grid.lon + rng.uniform(-0.0015, 0.0015), 6),
        address=f"金牛区{community.street}{community.name}{spot}",
    )


def _occurred_at(rng: random.Random, day: date) -> datetime:
    hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
    return datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60), tzinfo=CHINA_TZ)


def _photos(rng: random.Random, day: date) -> list[str]:
    count = rng.choices((0, 1, 2, 3), (80, 12, 6, 2))[0]
    base = f"https://img.gridloop.example/jinniu/{day.isoformat()}"
    return [f"{base}/{uuid.UUID(int=rng.getrandbits(128), version=4).hex}.jpg" for _ in range(count)]


def _resident(rng: random.Random) -> DraftResident:
    channel = rng.choices(("sms", "email", "none"), (84, 11, 5))[0]
    return DraftResident(
        name=person_name(rng),
        phone=mobile(rng),
        notify_consent=rng.random() < 0.92,
        channel=channel,
        email=_email(rng) if channel == "email" else None,
    )


def _email(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return f"{rng.randrange(10**5, 10**10)}@qq.com"
    user = rng.choice(("jn", "cd", "rong", "shu", "xiao", "lao", "panda"))
    return f"{user}{rng.randrange(100, 99999)}@{rng.choice(('163.com', '126.com', 'sina.com'))}"
