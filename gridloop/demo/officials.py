"""The district's officials the demo registers when none are listed, so escalations reach someone: per department
the section chief (科长) and the leader in charge (分管领导), and the district supervision office (区督办办) for
every department. Fictional names; phones in a range no real resident is given (155 0000 ….)."""

from __future__ import annotations

from typing import Any

from gridloop.contracts.topics import DEPARTMENT_NAMES_ZH
from gridloop.demo.client import DemoClient

ROSTER: list[dict[str, Any]] = [
    {
        "department": "*",
        "level": "district_supervisor",
        "name": "周督办",
        "title": "金牛区督办办主任",
        "phone": "15500000001",
    },
    *(
        official
        for index, (department, name_zh) in enumerate(DEPARTMENT_NAMES_ZH.items())
        for official in (
            {
                "department": department,
                "level": "handler",
                "name": f"科长{index + 1}",
                "title": f"{name_zh}科长",
                "phone": f"155000001{index}1",
            },
            {
                "department": department,
                "level": "department_head",
                "name": f"分管领导{index + 1}",
                "title": f"{name_zh}分管领导",
                "phone": f"155000001{index}2",
            },
        )
    ),
]


async def ensure_officials(client: DemoClient) -> int:
    """Register the roster unless officials are listed already; returns how many were added."""
    if any(o.get("active") for o in await client.officials()):
        return 0
    for official in ROSTER:
        await client.add_official(official)
    return len(ROSTER)
