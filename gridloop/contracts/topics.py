"""Kafka topic names. Every topic is keyed by case id; `<topic>.dlt` holds its dead letters."""

from __future__ import annotations

from typing import Literal

Department = Literal["police", "finance", "street_office"]
DEPARTMENTS: tuple[Department, ...] = ("police", "finance", "street_office")

CASES_REPORTED = "gridloop.cases.reported"
CASES_STATUS = "gridloop.cases.status"
DEPARTMENT_TOPICS: dict[str, str] = {d: f"gridloop.dept.{d}" for d in DEPARTMENTS}

ALL_TOPICS: tuple[str, ...] = (CASES_REPORTED, CASES_STATUS, *DEPARTMENT_TOPICS.values())


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlt"


def topic_for_department(department: str) -> str:
    return DEPARTMENT_TOPICS[department]


# What residents and workers read: the departments' Chinese names.
DEPARTMENT_NAMES_ZH: dict[str, str] = {
    "police": "辖区派出所",
    "finance": "街道财政所",
    "street_office": "街道办事处",
}
